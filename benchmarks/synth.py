"""Synthetic-people generator speed: images per second at 512 x 512, end to end (files written).

Usage: python benchmarks/synth.py [--people 8] [--poses 2] [--views 8] [--size 512] [--workers 2]
The last line printed is JSON: {"bench": "synth", "images_per_s": ..., ...}. Includes process start-up
and each worker's body-model load, so more people give a figure closer to the steady rate.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time

import torch

from dinar.data.synth import SynthConfig, generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=8)
    parser.add_argument("--poses", type=int, default=2)
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--supersample", type=int, default=2)
    args = parser.parse_args()
    cfg = SynthConfig(people=args.people, poses=args.poses, views=args.views, size=args.size, supersample=args.supersample)
    with tempfile.TemporaryDirectory() as out:
        cpu0 = _cpu_seconds()
        start = time.perf_counter()
        summary = generate(cfg, out, workers=args.workers, progress=False)
        elapsed = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu0
    images = summary["images"]
    load = os.getloadavg()[0]
    print(f"{images} images at {args.size}^2 in {elapsed:.1f} s with {args.workers} worker(s): {images / elapsed:.2f} images/s "
          f"({cpu / images:.3f} CPU-s per image; load average {load:.1f} on {os.cpu_count()} cores)")
    # On a shared machine wall time depends on the other jobs; CPU time per image does not (much):
    # workers / (CPU-s per image) is the rate the same workers reach on otherwise idle cores.
    print(json.dumps({"bench": "synth", "images_per_s": round(images / elapsed, 2), "cpu_s_per_image": round(cpu / images, 4),
                      "images_per_s_idle_estimate": round(min(args.workers, os.cpu_count() or 1) * images / cpu, 2),
                      "size": args.size, "images": images, "workers": args.workers, "supersample": args.supersample,
                      "load_average": round(load, 2), "cpu_threads": torch.get_num_threads()}))


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


if __name__ == "__main__":
    main()
