"""``dinar info [--atlas PNG]``: versions, the compute device, the body models available, cache folders."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--atlas", type=Path, metavar="PNG", help="also draw the UV atlases (native and front cut) to this PNG")


def run(args: argparse.Namespace) -> int:
    import platform

    import torch

    import dinar
    from dinar.body import available_body_models
    from dinar.paths import anny_cache_dir, dinar_cache_dir
    from dinar.utils import resolve_device

    print(f"dinar {dinar.__version__}")
    print(f"python {platform.python_version()}  torch {torch.__version__}  ({torch.get_num_threads()} CPU threads)")
    device = resolve_device("auto")
    gpu = f" ({torch.cuda.get_device_name(0)})" if device.type == "cuda" else ""
    print(f"device (auto): {device}{gpu}")
    print("body models:")
    for name, status in available_body_models().items():
        print(f"  {name:6s} {status}")
    anny_cache = anny_cache_dir()
    built = "built" if anny_cache.exists() and any(anny_cache.iterdir()) else "not built yet (first use builds it, ~1 min)"
    print(f"anny cache:  {anny_cache}  [{built}]")
    print(f"dinar cache: {dinar_cache_dir()}")
    if args.atlas:
        from dinar.body.atlas.report import write_atlas_report

        stats = write_atlas_report(args.atlas)
        for name, s in stats.items():
            print(f"atlas {name}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in s.items()))
        print(f"atlas image written to {args.atlas}")
    return 0
