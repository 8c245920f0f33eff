"""Stage-1 networks: parameter count and forward time (batch 1) of E, G, θ and D for each preset.

Usage: python benchmarks/nn.py [--device auto|cpu|cuda] [--presets tiny,small,paper] [--repeats 5]
       [--max-seconds 30] [--train-step]
A forward pass whose first (warm-up) call takes longer than --max-seconds is reported from that one
call and not repeated ("single": true). --train-step also times forward + backward of the whole
stage-1 chain E → G → θ (+ D on the render) at batch 1.
The last line printed is JSON: {"bench": "nn", "device": ..., "presets": {preset: {net: {...}}}}.
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch
from timing import timed_ms as timed

from dinar.nn import Discriminator, Encoder, Generator, Renderer, preset
from dinar.utils import resolve_device


def bench_ms(fn, repeats: int, max_seconds: float, device: torch.device) -> tuple[float, bool]:
    """Median ms of ``fn`` after one warm-up call; only the warm-up if it alone exceeds ``max_seconds``."""
    first = timed(fn, device)
    if first > max_seconds * 1000:
        return first, True
    return statistics.median(timed(fn, device) for _ in range(repeats)), False


def bench_preset(name: str, device: torch.device, repeats: int, max_seconds: float, train_step: bool) -> dict:
    """Parameters and batch-1 forward ms of E, G, θ, D of one preset (+ a training step if asked)."""
    cfg = preset(name)
    s, t = cfg.image_size, cfg.texture_size
    nets = {
        "encoder": Encoder(cfg.encoder),
        "generator": Generator(cfg.generator),
        "renderer": Renderer(cfg.renderer),
        "discriminator": Discriminator(cfg.discriminator),
    }
    for m in nets.values():
        m.to(device).eval()
    rgb = torch.rand(1, 3, s, s, device=device) * 2 - 1
    mask = torch.ones(1, 1, s, s, device=device)
    code = torch.randn(1, cfg.encoder.code_dim, device=device)
    raster = torch.randn(1, cfg.renderer.texture_channels, s, s, device=device)
    uv = torch.rand(1, 2, s, s, device=device)
    calls = {
        "encoder": lambda: nets["encoder"](rgb, mask),
        "generator": lambda: nets["generator"](code),
        "renderer": lambda: nets["renderer"](raster, uv, mask),
        "discriminator": lambda: nets["discriminator"](rgb),
    }
    out: dict = {"image_size": s, "texture_size": t}
    for net, fn in calls.items():
        params = sum(p.numel() for p in nets[net].parameters())
        with torch.inference_mode():
            ms, single = bench_ms(fn, repeats, max_seconds, device)
        out[net] = {"params": params, "forward_ms": round(ms, 2)}
        if single:
            out[net]["single"] = True
        print(f"{name:6s} {net:14s} {params / 1e6:8.3f} M params  forward {ms:10.1f} ms{' (1 call)' if single else ''}")
    if train_step:
        for m in nets.values():
            m.train()

        def step():
            tex = nets["generator"](nets["encoder"](rgb, mask).code).texture
            full = torch.cat([tex, torch.zeros(1, 5, t, t, device=device)], 1)
            raster_t = torch.nn.functional.grid_sample(full, uv.permute(0, 2, 3, 1) * 2 - 1, align_corners=False)
            r = nets["renderer"](raster_t, uv, mask)
            (r.rgb.square().mean() + nets["discriminator"](r.rgb).score.mean()).backward()

        ms, single = bench_ms(step, max(1, repeats // 2), max_seconds, device)
        out["train_step_ms"] = round(ms, 2)
        print(f"{name:6s} E→G→θ→D forward+backward {ms:10.1f} ms{' (1 call)' if single else ''}")
    out["total_params"] = sum(out[n]["params"] for n in calls)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--presets", default="tiny,small,paper")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-seconds", type=float, default=30.0)
    parser.add_argument("--train-step", action="store_true")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    result = {"bench": "nn", "device": str(device), "threads": torch.get_num_threads(), "batch": 1, "presets": {}}
    for name in args.presets.split(","):
        result["presets"][name] = bench_preset(name, device, args.repeats, args.max_seconds, args.train_step)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
