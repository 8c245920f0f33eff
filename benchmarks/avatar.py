"""Seconds per avatar, in total and per pipeline step, for a model folder on the current device.

The input is the bundled demo photo with its exact fit (no photo preprocessing timed here: see
benchmarks/fit.py). The first call is a warm-up (LPIPS weights, kernels); the next ``--repeats`` are
timed and their per-step medians printed. Targets: ``tiny`` ≤ 60 s on 2 CPU cores; ``paper`` ≤ 2 s on
an H100-class GPU. Last line: JSON ``{"bench": "avatar", ...}``.

    python benchmarks/avatar.py [--checkpoint MODEL_DIR] [--device auto] [--repeats 2] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from dinar.demo import bundled_photo
from dinar.pipeline import AvatarPipeline, PipelineOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="model folder (default: the shipped model)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    pipe = AvatarPipeline.from_pretrained(args.checkpoint, device=args.device)
    image, mask, fit = bundled_photo(pipe.body)
    options = PipelineOptions(seed=0)
    preset = pipe.stage1.config.networks.name

    def run() -> tuple[float, dict[str, float]]:
        if pipe.device.type == "cuda":
            torch.cuda.synchronize()
        marks: list[tuple[str, float]] = []

        def mark(name: str) -> None:
            if pipe.device.type == "cuda":
                torch.cuda.synchronize()
            marks.append((name, time.perf_counter()))

        start = time.perf_counter()
        pipe([image], [mask], [fit], options=options, progress=False, on_step=mark)
        if pipe.device.type == "cuda":
            torch.cuda.synchronize()
        end = time.perf_counter()
        stops = [t for _, t in marks[1:]] + [end]
        return end - start, {name: stop - t for (name, t), stop in zip(marks, stops)}

    warm, _ = run()
    runs = [run() for _ in range(args.repeats)]
    total = statistics.median(r[0] for r in runs)
    steps = {k: statistics.median(r[1][k] for r in runs) for k in runs[0][1]}
    print(f"preset {preset}, device {pipe.device}, {torch.get_num_threads()} threads; warm-up {warm:.2f} s")
    for name, seconds in steps.items():
        print(f"  {name:<16s} {seconds:7.2f} s")
    print(f"  {'total':<16s} {total:7.2f} s per avatar (median of {args.repeats})")
    print(json.dumps({"bench": "avatar", "preset": preset, "size": pipe.stage1.config.image_size, "device": str(pipe.device),
                      "threads": torch.get_num_threads(),
                      "seconds": round(total, 3), "steps": {k: round(v, 3) for k, v in steps.items()},
                      "warmup_seconds": round(warm, 3), "repeats": args.repeats}))


if __name__ == "__main__":
    main()
