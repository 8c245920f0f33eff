"""``dinar demo [-o DIR]``: the main job on the bundled photo with the shipped model
(:func:`dinar.demo.run_demo`), with the seconds each step took."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dinar.commands.options import SEED, check_output_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, default=Path("dinar-demo"), metavar="DIR", help="folder for the outputs (default ./dinar-demo)")
    parser.add_argument("--exact-fit", action="store_true", help="use the bundled exact fit instead of fitting the photo")
    parser.add_argument("--checkpoint", type=Path, metavar="MODEL_DIR", help="model folder (default: the shipped model)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto picks CUDA when present")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the inpainting noise")


def run(args: argparse.Namespace) -> int:
    """``dinar demo``: the bundled photo → avatar, videos, GLB and a front/back sheet."""
    from dinar.demo import run_demo

    check_output_dir(args.output, what="demo folder")
    marks: list[tuple[str, float]] = []
    start = time.perf_counter()
    result = run_demo(args.output, args.checkpoint, args.device, args.exact_fit, args.seed,
                      on_step=lambda name: marks.append((name, time.perf_counter())))
    end = time.perf_counter()
    print(f"body fit: {result.fit_source}")
    ends = [t for _, t in marks[1:]] + [end]
    print("steps: " + ", ".join(f"{name} {stop - t:.1f} s" for (name, t), stop in zip(marks, ends)) + f"; total {end - start:.1f} s")
    width = max(len(k) for k in result.files)
    for name, path in result.files.items():
        print(f"  {name:<{width}}  {path}")
    return 0
