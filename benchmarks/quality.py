"""Avatar quality on held-out synthetic people: the paper's Table 1 metrics at tiny scale, and the time it takes.

The test people are made by the synthetic-people generator from a FIXED seed that no training recipe
uses (77; the recipes train on seed 0), so every one of them is held out: 6 people, 1 pose, 8 views
(view 0 = the front, view 4 = the exact back), 128 x 128. They are generated once and reused from
``--data`` (default: ``$DINAR_CACHE_DIR/benchmarks/quality_s77_p6_v8_128``). Each avatar is made from the
front view with the full pipeline (``dinar eval``, :mod:`dinar.eval.runner`) of the shipped model (or
``--checkpoint``), rendered in all 8 views and scored against the ground truth.

Usage: python benchmarks/quality.py [--checkpoint MODEL_DIR] [--people 6] [--views 8] [--size 128]
       [--seed 77] [--data DIR] [--report DIR] [--device auto] [--diffusion-steps M] [--rgb-tuning-steps N]
       [--color-adjust-steps N] [--rgb-tuning-loss paper|l2]   (fewer steps: a quicker, rougher CPU run; the defaults are the pipeline's)
The last line printed is JSON: {"bench": "quality", "front_psnr": ..., "front_lpips": ..., "back_psnr": ...,
"back_lpips": ..., "back_dists": ..., "novel_kid": ..., "identity": ..., "seconds": ..., "people": ...,
"checkpoint": ...}. ``identity`` is the MobileNetV2 cosine similarity (higher is better), not the paper's
FlipReID distance; ``novel_kid`` is null with fewer than 2 novel views.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

from dinar.data.synth import SynthConfig, generate
from dinar.eval.runner import evaluate
from dinar.eval.settings import EvalConfig
from dinar.paths import dinar_cache_dir
from dinar.pipeline.options import PipelineOptions

MARKER = "bench_quality.json"


def test_set(folder: Path, cfg: SynthConfig) -> Path:
    """The synthetic test set of ``cfg`` in ``folder``: reused when its marker says it was made with ``cfg``."""
    marker = folder / MARKER
    wanted = {"people": cfg.people, "poses": cfg.poses, "views": cfg.views, "size": cfg.size, "seed": cfg.seed}
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        print(f"test set: reusing {folder}")
        return folder
    print(f"test set: generating {cfg.people} people x {cfg.poses} pose(s) x {cfg.views} views at {cfg.size}^2, seed {cfg.seed} -> {folder}")
    generate(cfg, folder, progress=False)
    marker.write_text(json.dumps(wanted) + "\n")
    return folder


def _value(summary: dict, kind: str, metric: str) -> float | None:
    entry = summary["results"]["full"].get("kinds", {}).get(kind, {}).get(metric)
    return None if entry is None else round(entry["mean"], 4)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="model folder (default: the shipped weights)")
    parser.add_argument("--people", type=int, default=6)
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=77, help="synthetic-people seed; keep it out of every training recipe")
    parser.add_argument("--data", type=Path, default=None, help="where the test set is cached")
    parser.add_argument("--report", type=Path, default=None, help="keep the report here (resumable); default: a temporary folder")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--diffusion-steps", type=int, default=None, help="DDIM steps M (default: the pipeline's)")
    parser.add_argument("--rgb-tuning-steps", type=int, default=None, help="default: the pipeline's (64)")
    parser.add_argument("--color-adjust-steps", type=int, default=None, help="default: the pipeline's (32)")
    parser.add_argument("--rgb-tuning-loss", choices=("paper", "l2"), default=None, help="default: the pipeline's (paper)")
    args = parser.parse_args()

    cfg = SynthConfig(people=args.people, poses=1, views=args.views, size=args.size, seed=args.seed)
    data = args.data or dinar_cache_dir() / "benchmarks" / f"quality_s{cfg.seed}_p{cfg.people}_v{cfg.views}_{cfg.size}"
    test_set(data, cfg)
    steps = {"diffusion_steps": args.diffusion_steps, "rgb_tuning_steps": args.rgb_tuning_steps,
             "color_adjust_steps": args.color_adjust_steps, "rgb_tuning_loss": args.rgb_tuning_loss}
    options = dataclasses.replace(PipelineOptions(), **{k: v for k, v in steps.items() if v is not None})
    with tempfile.TemporaryDirectory() as tmp:
        report = args.report or Path(tmp) / "report"
        config = EvalConfig(data_dir=data, output_dir=report, split=None, checkpoint=args.checkpoint, device=args.device,
                            options=options, progress=sys.stderr.isatty())
        start = time.perf_counter()
        try:
            result = evaluate(config)
        except (ValueError, FileNotFoundError, RuntimeError) as err:  # EvalError, ModelDirError, DatasetError: say why
            print(f"quality benchmark: {err}", file=sys.stderr)
            return 2
        seconds = time.perf_counter() - start
        summary = result.summary
        print(result.files["table1"].read_text())
        if args.report:
            print(f"report: {report} ({result.computed} avatars made, {result.skipped} reused)")
    main_ckpt = summary["checkpoints"]["main"]
    kid = summary["results"]["full"].get("kid", {}).get("novel")
    line = {
        "bench": "quality",
        "front_psnr": _value(summary, "same", "psnr"),
        "front_lpips": _value(summary, "same", "lpips_alex"),
        "back_psnr": _value(summary, "back", "psnr"),
        "back_lpips": _value(summary, "back", "lpips_alex"),
        "back_dists": _value(summary, "back", "dists"),
        "novel_kid": None if kid is None else round(kid["mean"], 4),
        "identity": _value(summary, "novel", summary["identity_embedding"]["key"]),
        "seconds": round(seconds, 1),
        "seconds_per_avatar": round(summary["results"]["full"]["seconds_avatar_mean"] or 0.0, 2),
        "people": len(summary["people"]),
        "checkpoint": main_ckpt.get("short"),
        "checkpoint_dir": main_ckpt.get("model_dir"),
        "resolution": summary["resolution"],
        "steps": {k: getattr(options, k) for k in steps},
        "device": config.device if config.device != "auto" else ("cuda" if _cuda() else "cpu"),
    }
    print(json.dumps(line))
    return 0


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    raise SystemExit(main())
