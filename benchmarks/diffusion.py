"""Diffusion inpainting of held-out people: quality and sampling time against the number of steps M.

For every person of a split: the FRONT-view texture is inpainted (VQ encode → M DDIM or DDPM steps →
VQ decode → eq. 6) and compared with the eq.-5 merge of all the person's views on the texels the
front view does not cover (PSNR of the RGB channels, [-1, 1] range). Baselines without inpainting:
those texels left at 0 (what the renderer alone would see) and filled with the mean known colour.
Sampling time per avatar (batch 1, whole inpainting stage) for each M; parameter counts of the
networks; an image grid (front-view texture | merged GT | inpainted, RGB channels). Last line: JSON.

    python benchmarks/diffusion.py --textures DIR --vq RUN_VQ --inpainter RUN_DM \
        [--split test] [--steps 10 25 50 200] [--sampler ddim] [--grid /tmp/inpaint_grid.png]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dinar.nn.diffusion import inpaint_texture, make_scheduler
from dinar.nn.vq import decode_latent, encode_texture
from dinar.train.diffusion import (
    inpainting_grid,
    mean_colour_fill,
    rgb_psnr_unknown,
)
from dinar.train.textures import InpaintingDataset
from dinar.weights.networks import load_inpainter, load_vq


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--textures", type=Path, required=True)
    parser.add_argument("--vq", type=Path, required=True)
    parser.add_argument("--inpainter", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 25, 50, 200])
    parser.add_argument("--sampler", choices=("ddim", "ddpm"), default="ddim")
    parser.add_argument("--people", type=int, default=0, help="at most this many people (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", type=Path, default=Path("/tmp/inpaint_grid.png"))
    parser.add_argument("--grid-people", type=int, default=6)
    parser.add_argument("--ensemble", type=int, default=4,
                        help="also score the mean of this many samples at M = --ensemble-steps (the conditional mean "
                             "PSNR rewards; a single sharp sample is penalized for every plausible detail it invents)")
    parser.add_argument("--ensemble-steps", type=int, default=25)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    vq = load_vq(args.vq, device)
    model, schedule = load_inpainter(args.inpainter, device)
    params = {"vq": sum(p.numel() for p in vq.parameters()), "unet": sum(p.numel() for p in model.parameters())}
    dataset = InpaintingDataset(args.textures, args.split, views="front")
    n = len(dataset) if args.people <= 0 else min(args.people, len(dataset))
    items = [dataset[i] for i in range(n)]
    print(f"{n} {args.split} people, texture {vq.config.texture_size}², latent {vq.config.latent_channels}×{vq.config.latent_size}², "
          f"params {params}, device {device}, {torch.get_num_threads()} threads")

    def tensors(item):
        return (item[k][None].to(device) for k in ("partial", "merged", "covered"))

    baselines = {"zeros": [], "mean_colour": [], "vq_ceiling": []}
    for item in items:
        partial, merged, covered = tensors(item)
        baselines["zeros"].append(rgb_psnr_unknown(partial, merged, partial, covered))
        baselines["mean_colour"].append(rgb_psnr_unknown(mean_colour_fill(partial), merged, partial, covered))
        # What the VQ alone allows: the merged ground truth through encode -> decode.
        ceiling = decode_latent(vq, encode_texture(vq, merged))
        baselines["vq_ceiling"].append(rgb_psnr_unknown(ceiling, merged, partial, covered))
    results = {"people": n, "split": args.split, "sampler": args.sampler, "params": params,
               "psnr_unknown_rgb": {k: round(float(np.mean(v)), 3) for k, v in baselines.items()}, "by_steps": {}}
    print(f"no inpainting: PSNR(unknown RGB) zeros {results['psnr_unknown_rgb']['zeros']:.2f} dB, "
          f"mean colour {results['psnr_unknown_rgb']['mean_colour']:.2f} dB; "
          f"VQ ceiling (merged GT encoded and decoded) {results['psnr_unknown_rgb']['vq_ceiling']:.2f} dB")

    scheduler = make_scheduler(schedule, args.sampler)
    grid_rows = None
    partial0, _, _ = tensors(items[0])
    inpaint_texture(vq, model, scheduler, partial0, 2, torch.Generator().manual_seed(0))  # warm-up
    for M in args.steps:
        scores, times, outs = [], [], []
        for i, item in enumerate(items):
            partial, merged, covered = tensors(item)
            g = torch.Generator().manual_seed(args.seed + i)  # per person: independent of batching and order
            _sync(device)
            t0 = time.perf_counter()
            out = inpaint_texture(vq, model, scheduler, partial, M, g)
            _sync(device)
            times.append(time.perf_counter() - t0)
            scores.append(rgb_psnr_unknown(out, merged, partial, covered))
            if i < args.grid_people:
                outs.append(out.cpu())
        results["by_steps"][M] = {"psnr_unknown_rgb": round(float(np.mean(scores)), 3),
                                  "psnr_std": round(float(np.std(scores)), 3),
                                  "seconds_per_avatar": round(float(np.median(times)), 4)}
        print(f"M = {M:4d}: PSNR(unknown RGB) {np.mean(scores):.2f} ± {np.std(scores):.2f} dB, "
              f"{np.median(times) * 1000:.0f} ms per avatar")
        if M == 50 or grid_rows is None:
            k = len(outs)
            grid_rows = (M, inpainting_grid(torch.stack([it["partial"] for it in items[:k]]),
                                            torch.stack([it["merged"] for it in items[:k]]), torch.cat(outs),
                                            torch.stack([it["covered"] for it in items[:k]])))
    if args.ensemble > 1:
        scores = []
        for i, item in enumerate(items):
            partial, merged, covered = tensors(item)
            g = torch.Generator().manual_seed(args.seed + 10_000 + i)
            outs = [inpaint_texture(vq, model, scheduler, partial, args.ensemble_steps, g) for _ in range(args.ensemble)]
            scores.append(rgb_psnr_unknown(torch.stack(outs).mean(0), merged, partial, covered))
        results["ensemble_mean"] = {"samples": args.ensemble, "steps": args.ensemble_steps,
                                    "psnr_unknown_rgb": round(float(np.mean(scores)), 3)}
        print(f"mean of {args.ensemble} samples (M = {args.ensemble_steps}): PSNR(unknown RGB) {np.mean(scores):.2f} dB")
    if grid_rows is not None:
        M, grid = grid_rows
        img = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(img).resize((img.shape[1] * 3, img.shape[0] * 3), Image.NEAREST).save(args.grid)
        print(f"grid (front-view texture | merged GT | inpainted with M = {M}): {args.grid}")
        results["grid"] = str(args.grid)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
