"""``dinar data synth``: a dataset of synthetic clothed people with exact ground truth
(:func:`dinar.data.synth.generate`). Cheap to import: torch loads when it runs."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from dinar.data.looks import add_look_options, look_shares, option_name

LIMITS = {"people": (1, 100_000), "poses": (1, 1000), "views": (1, 360), "size": (16, 4096), "seed": (0, 2**32 - 1),
          "workers": (1, 64), "supersample": (1, 8)}
"""Ranges of the numeric options, checked before any work (a million people would fill the disk, not fail)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``dinar data synth``."""
    parser.add_argument("--people", type=int, default=4, help="number of people (default 4)")
    parser.add_argument("--poses", type=int, default=2, help="poses per person (default 2)")
    parser.add_argument("--views", type=int, default=8, help="views per pose, around the person (default 8)")
    parser.add_argument("--size", type=int, default=512, help="image size in pixels, square (default 512)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives byte-identical files")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="dataset folder to write")
    parser.add_argument("--noise", type=float, default=0.0, metavar="SIGMA",
                        help="fit noise scale imitating a body fitter (1 = pose 0.08 rad, shape 0.05, transl 2 cm, focal 3%%); 0 = exact")
    parser.add_argument("--noise-shared", action="store_true",
                        help="with --noise: one body error per pose that all its views share, cameras exact (a calibrated capture's "
                             "fit; default: each image its own error, a single photo's fit)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (each loads its own body model)")
    parser.add_argument("--all-ages", action="store_true", help="sample children and the elderly too (default: adults)")
    parser.add_argument("--supersample", type=int, default=2, help="anti-aliasing factor (default 2)")
    add_look_options(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset in --output (by default it is refused)")


def run(args: argparse.Namespace) -> int:
    """``dinar data synth``: parse options into a :class:`~dinar.data.synth.SynthConfig` and write the dataset."""
    from dinar.data.synth import FitNoise, SynthConfig, generate

    for name, (low, high) in LIMITS.items():
        if not low <= getattr(args, name) <= high:
            raise ValueError(f"--{name.replace('_', '-')} must be {low}..{high}, got {getattr(args, name)}")
    if not 0 <= args.noise <= 100:
        raise ValueError(f"--noise must be a number in 0..100, got {args.noise}")
    if args.noise_shared and args.noise == 0:
        raise ValueError("--noise-shared shares a fit error among the views: add --noise SIGMA")
    for name, share in look_shares(args).items():
        if not 0 <= share <= 1:
            raise ValueError(f"{option_name(name)} must be a share in 0..1, got {share}")
    if args.output.exists() and not args.output.is_dir():
        raise NotADirectoryError(f"{args.output}: is a file; give a folder for the dataset")
    if args.output.is_dir() and any(args.output.iterdir()) and not args.overwrite:
        raise FileExistsError(f"{args.output}: holds files already; choose an empty or new folder, or pass --overwrite "
                              "to write this dataset over it (files of another dataset are then removed)")
    if args.output.is_dir() and args.overwrite:
        import shutil

        shutil.rmtree(args.output)
    cfg = SynthConfig(
        people=args.people, poses=args.poses, views=args.views, size=args.size, seed=args.seed,
        noise=FitNoise.default(args.noise) if args.noise > 0 else FitNoise(), noise_shared=args.noise_shared, all_ages=args.all_ages, supersample=args.supersample,
        **look_shares(args),
    )
    command = "dinar data synth " + " ".join(shlex.quote(a) for a in sys.argv[3:]) if sys.argv[1:3] == ["data", "synth"] else None
    summary = generate(cfg, args.output, workers=args.workers, command=command)
    print(f"wrote {summary['images']} images of {summary['people']} people to {args.output} "
          f"({summary['images_per_s']} images/s); dataset card: {Path(args.output) / 'README.md'}")
    return 0
