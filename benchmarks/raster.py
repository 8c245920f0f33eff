"""Rasterizer speed: the Anny mesh at 512 x 512, ms per frame at batch 1 and batch 8.

Usage: python benchmarks/raster.py [--device auto|cpu|cuda] [--size 512] [--repeats 20]
The last line printed is JSON: {"bench": "raster", "device": ..., "ms_b1": ..., "ms_b8": ...}.
"""

from __future__ import annotations

import argparse
import json

import torch
from timing import median_ms

from dinar.body import load_body_model
from dinar.geometry.camera import orbit_cameras
from dinar.geometry.raster import rasterize
from dinar.utils import resolve_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    device = resolve_device(args.device)
    body = load_body_model().to(device)
    verts = body().vertices
    result = {"bench": "raster", "device": str(device), "threads": torch.get_num_threads(), "size": args.size}
    for batch in (1, 8):
        cam = orbit_cameras(batch, radius=3.2, size=args.size, fov_deg=35).to(device)
        v = verts.expand(batch, -1, -1).contiguous()
        ms = median_ms(lambda v=v, cam=cam: rasterize(v, body.faces, cam, body.face_uvs), args.repeats, device)
        result[f"ms_b{batch}"] = round(ms / batch, 3)
        print(f"batch {batch}: {ms:.2f} ms per call, {ms / batch:.2f} ms per frame")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
