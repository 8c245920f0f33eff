"""Speed of Algorithm 1 (paper appendix A): vectorized ``sample_rgb_texture`` vs the literal loops.

A realistic UV-render: the Anny body rasterized at 512^2 from the front, texture 256^2 (the paper's
sizes). Prints both times (the minimum over repeats, robust on a shared machine; medians too) and
the ratio; the last line is JSON. The literal loop runs on the whole
image unless it would take more than a minute, in which case it runs on a subset of rows and the
time is extrapolated (and the output says so).

    python benchmarks/sampling.py [--device cpu|cuda] [--size 512] [--texture-size 256]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from dinar.body import load_body_model
from dinar.geometry.camera import orbit_cameras
from dinar.geometry.raster import rasterize
from dinar.geometry.texture_lookup import sample_texture
from dinar.texture import sample_rgb_texture
from dinar.texture.sampling_reference import sample_rgb_texture_reference

LITERAL_BUDGET_S = 60.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--texture-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--literal-repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    S = args.texture_size

    body = load_body_model()
    posed = body()
    camera = orbit_cameras(1, radius=3.6, size=args.size, target=(0.0, 0.0, -0.05))
    raster = rasterize(posed.vertices, body.faces, camera, body.face_uvs)
    g = torch.Generator().manual_seed(0)
    image = sample_texture(torch.rand(1, 3, S, S, generator=g), raster.uv) * raster.mask  # a "photo"
    image, uv, mask = image.to(device), raster.uv.to(device), raster.mask.to(device)
    pixels = int(mask.sum())
    print(f"image {args.size}^2 ({pixels} foreground pixels), texture {S}^2, device {device}")

    sample_rgb_texture(image, uv, mask, S)  # warm-up
    times = []
    for _ in range(args.repeats):
        _sync(device)
        t0 = time.perf_counter()
        fast = sample_rgb_texture(image, uv, mask, S)
        _sync(device)
        times.append(time.perf_counter() - t0)
    ms_fast = 1000 * min(times)
    print(f"vectorized: {ms_fast:.2f} ms (min of {args.repeats}; median {1000 * sorted(times)[len(times) // 2]:.2f} ms)")

    # The literal loop: time a band of rows, and the same band with nothing to sample (the fixed cost of
    # building and dividing the S x S lists), then decide whether full runs fit the budget.
    image_c, uv_c, mask_c = image.cpu(), uv.cpu(), mask.cpu()
    rows = mask_c[0, 0].any(1).nonzero()[:, 0]
    probe = slice(int(rows[len(rows) // 2]) - 8, int(rows[len(rows) // 2]) + 8)
    t0 = time.perf_counter()
    sample_rgb_texture_reference(image_c[..., probe, :], uv_c[..., probe, :], torch.zeros_like(mask_c[..., probe, :]), S)
    fixed_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    sample_rgb_texture_reference(image_c[..., probe, :], uv_c[..., probe, :], mask_c[..., probe, :], S)
    probe_s = time.perf_counter() - t0
    probe_pixels = max(int(mask_c[..., probe, :].sum()), 1)
    per_pixel_s = max(probe_s - fixed_s, 0.0) / probe_pixels
    estimate = fixed_s + per_pixel_s * pixels
    if estimate * args.literal_repeats <= LITERAL_BUDGET_S:
        literal = []
        for _ in range(args.literal_repeats):
            t0 = time.perf_counter()
            ref = sample_rgb_texture_reference(image_c, uv_c, mask_c, S)
            literal.append(time.perf_counter() - t0)
        ms_literal = 1000 * min(literal)
        err = (ref.rgb - fast.rgb.cpu()).abs().max().item()
        same = torch.equal(ref.sampled, fast.sampled.cpu()) and torch.equal(ref.filled, fast.filled.cpu())
        print(f"literal loop: {ms_literal:.0f} ms (full image, min of {args.literal_repeats}; "
              f"same B_smp/B_fill: {same}, max |rgb difference| {err:.2e})")
        extrapolated = False
    else:
        ms_literal = 1000 * estimate
        print(f"literal loop: ~{ms_literal:.0f} ms, EXTRAPOLATED: {1000 * fixed_s:.0f} ms fixed + "
              f"{1e6 * per_pixel_s:.1f} us per pixel (timed on {probe_pixels} foreground pixels) x {pixels}, "
              f"since {args.literal_repeats} full runs would exceed {LITERAL_BUDGET_S:.0f} s")
        extrapolated = True
    speedup = ms_literal / ms_fast
    print(f"speedup: {speedup:.0f}x")
    print(json.dumps({"bench": "sampling", "ms_vectorized": round(ms_fast, 3), "ms_literal": round(ms_literal, 1),
                      "speedup": round(speedup, 1), "extrapolated": extrapolated, "device": str(device)}))


if __name__ == "__main__":
    main()
