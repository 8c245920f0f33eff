"""Frames per second of avatar rendering (pose the body, rasterize, renderer θ) at the preset's resolution.

Batch 1 and 16 (``--batches``), from an avatar made once from the bundled demo photo (inpainting and
tuning off: the texture's content does not change the cost), poses from the built-in walk. Target:
``paper`` ≥ 300 fps at 512² on an H100-class GPU. Last line: JSON ``{"bench": "render", ...}``.

    python benchmarks/render.py [--checkpoint MODEL_DIR] [--device auto] [--batches 1 16] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import median_ms

from dinar.avatar import framing_cameras
from dinar.demo import bundled_photo
from dinar.motion import builtin_motion
from dinar.pipeline import AvatarPipeline, PipelineOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="model folder (default: the shipped model)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    pipe = AvatarPipeline.from_pretrained(args.checkpoint, device=args.device)
    body = pipe.body
    image, mask, fit = bundled_photo(body)
    options = PipelineOptions(inpainting=False, rgb_tuning=False, color_adjust=False)
    avatar = pipe([image], [mask], [fit], options=options, progress=False)
    size = pipe.stage1.config.image_size
    motion = builtin_motion("walk", body)
    results = {}
    for batch in args.batches:
        idx = torch.arange(batch) % motion.num_frames
        pose, orient, transl = motion.pose[idx], motion.global_orient[idx], motion.transl[idx]
        with torch.no_grad():
            verts = body(pose=pose.to(pipe.device), shape=avatar.shape[None].expand(batch, -1).to(pipe.device)).vertices
        cameras = framing_cameras(verts, batch, size, up=body.up_axis, front=body.front_axis)
        ms = median_ms(lambda p=pose, c=cameras, o=orient, t=transl: avatar.render(p, c, o, t), args.repeats, pipe.device, warmup=1)
        results[batch] = batch * 1000 / ms
        print(f"batch {batch:3d}: {ms:8.1f} ms per call, {results[batch]:7.1f} frames/s at {size}x{size}")
    print(json.dumps({"bench": "render", "preset": pipe.stage1.config.networks.name, "device": str(pipe.device),
                      "threads": torch.get_num_threads(), "size": size,
                      "fps": {str(b): round(f, 2) for b, f in results.items()}}))


if __name__ == "__main__":
    main()
