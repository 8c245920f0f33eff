"""``dinar data textures``: per-view and merged (eq. 5) textures of a dataset, the data of stages 2 and 3
(:func:`dinar.train.textures.write_texture_folder`). Cheap to import: torch loads when it runs."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the texture-folder command (``dinar data textures``)."""
    parser.add_argument("--data", type=Path, required=True, metavar="DIR", help="dataset folder (dinar data synth layout)")
    parser.add_argument("-o", "--out", type=Path, required=True, metavar="TEXTURES", help="texture folder to write")
    parser.add_argument("--stage1", type=Path, metavar="RUN",
                        help="trained stage-1 run (dinar train avatar): T from the network; without it T_gen is a stand-in")
    parser.add_argument("--texture-size", type=int, default=64, help="texture size without --stage1 (default 64; the model's with it)")
    parser.add_argument("--tgen", choices=("zeros", "projection"), default="zeros",
                        help="T_gen stand-in without --stage1: zeros (RGB-only textures) or a fixed random projection of T_rgb")
    parser.add_argument("--atlas", choices=("front", "native"), default="front", help="UV atlas without --stage1 (default: the paper's front cut)")
    parser.add_argument("--tau", type=float, default=0.1, help="eq.-5 merging temperature on normal-angle cosines")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (with --stage1)")


def run(args: argparse.Namespace) -> int:
    """Write a texture folder for stages 2 and 3."""
    from dinar.train.textures import write_texture_folder

    index = write_texture_folder(args.data, args.out, args.stage1, args.texture_size, args.tgen, args.atlas, args.tau, args.device)
    counts = {split: len(index.person_ids(split)) for split in ("train", "val", "test")}
    print(f"wrote textures ({index.texture_size}², T_gen: {index.info['tgen']}) of {len(index.people)} people {counts} to {args.out}")
    return 0
