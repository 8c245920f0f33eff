"""Avatar quality on held-out synthetic people: the paper's Table 1 metrics, the simple-fill baselines of
the back, and the time it takes.

The test people are made by the synthetic-people generator from a FIXED seed that no training recipe
uses (77; the recipes train on seed 0), so every one of them is held out: 48 people, 1 pose, 8 views
(view 0 = the front, view 4 = the exact back), 512 x 512. They are generated once and reused from
``--data`` (default: ``$DINAR_CACHE_DIR/benchmarks/quality_s77_p48_v8_512``). Each avatar is made from the
front view with the full pipeline (``dinar eval``, :mod:`dinar.eval.runner`) of the shipped model (or
``--checkpoint``), rendered in all 8 views and scored against the ground truth at ``--size`` (a model
that renders smaller, such as ``tiny`` at 128², is upsampled to it). Unless ``--no-fills``, the same
avatars are also made with each simple fill in place of the diffusion (:mod:`dinar.texture.fills`).

Usage: python benchmarks/quality.py [--checkpoint MODEL_DIR] [--people 48] [--views 8] [--size 512]
       [--seed 77] [--bare-torso SHARE] [--cap SHARE] [--plain SHARE] [--long-hair-front SHARE] [--data DIR] [--report DIR] [--device auto] [--diffusion-steps M] [--rgb-tuning-steps N]
       [--color-adjust-steps N] [--rgb-tuning-loss paper|l2] [--no-fills] [--sheet PATH]
       [--diffusion-start noise|mean|mirror|nearest|nearest_part] [--diffusion-strength S] [--diffusion-residual on|off]
       [--diffusion-generated on|off]
The last line printed is JSON: {"bench": "quality", "size": ..., "front_psnr": ..., "front_lpips": ...,
"front_dists": ..., "back_psnr": ..., "back_lpips": ..., "back_dists": ..., "back_kid": ...,
"back_lpips_best_fill": ..., "back_dists_best_fill": ..., "back_kid_best_fill": ..., "best_fill": {...},
"novel_kid": ..., "identity": ..., "seconds": ..., "people": ..., "checkpoint": ...}. LPIPS is
LPIPS-AlexNet; ``identity`` is the MobileNetV2 cosine similarity (higher is better), not the paper's
FlipReID distance; ``novel_kid`` is null with fewer than 2 novel views. The ``*_best_fill`` values are
the best of the three simple fills on each metric (all lower is better), ``best_fill`` names it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

from dinar.data.looks import LOOKS, add_look_options, look_shares
from dinar.data.synth import FitNoise, SynthConfig, generate
from dinar.eval.runner import evaluate
from dinar.eval.settings import BACK_METRICS, FILL_SETTINGS, EvalConfig
from dinar.paths import dinar_cache_dir
from dinar.pipeline.options import FILL_LEVERS, PipelineOptions
from dinar.texture.fills import FILLS

MARKER = "bench_quality.json"


def looks(cfg: SynthConfig) -> dict[str, float]:
    """The optional looks ``cfg`` gives a share of its people (``--bare-torso``, ``--cap``, ``--plain``): look → share."""
    return {look: getattr(cfg, look) for look in LOOKS if getattr(cfg, look)}


def add_fit_noise_option(parser: argparse.ArgumentParser) -> None:
    """``--fit-noise S``: the test set's fits with a calibrated capture's error (:func:`fit_noise`)."""
    parser.add_argument("--fit-noise", type=float, default=0.0, metavar="S",
                        help="give the model each pose's body with the error of a fitter, S times dinar data synth's --noise 1, one "
                             "error shared by all its views with exact cameras, as a calibrated capture's fit (default 0: exact)")


def fit_noise(args: argparse.Namespace) -> dict:
    """The :class:`SynthConfig` fields of ``--fit-noise`` (none when 0: the exact test sets stay as they were)."""
    if not 0 <= args.fit_noise <= 10:
        raise ValueError(f"--fit-noise must be 0..10, got {args.fit_noise}")
    return {"noise": FitNoise.default(args.fit_noise), "noise_shared": True} if args.fit_noise else {}


def noise_scale(cfg: SynthConfig) -> float:
    """The ``--fit-noise`` a test set was made with (0: exact fits)."""
    return 0.0 if cfg.noise.is_zero else round(cfg.noise.pose / FitNoise.default(1.0).pose, 6)


def default_test_folder(cfg: SynthConfig) -> Path:
    """Where the test set of ``cfg`` is cached by default (under ``$DINAR_CACHE_DIR/benchmarks``)."""
    suffix = "".join(f"_{LOOKS[look].suffix}{share:g}" for look, share in looks(cfg).items())
    suffix += f"_n{noise_scale(cfg):g}" if noise_scale(cfg) else ""
    return dinar_cache_dir() / "benchmarks" / f"quality_s{cfg.seed}_p{cfg.people}_v{cfg.views}_{cfg.size}{suffix}"


def test_set(folder: Path, cfg: SynthConfig) -> Path:
    """The synthetic test set of ``cfg`` in ``folder``: reused when its marker says it was made with ``cfg``."""
    marker = folder / MARKER
    wanted = {"people": cfg.people, "poses": cfg.poses, "views": cfg.views, "size": cfg.size, "seed": cfg.seed,
              **looks(cfg)}  # sets made before the options keep their marker
    if noise_scale(cfg):
        wanted["fit_noise"] = noise_scale(cfg)
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        print(f"test set: reusing {folder}")
        return folder
    extra = "".join(f", {look} {share:g}" for look, share in looks(cfg).items())
    extra += f", fit noise {noise_scale(cfg):g}" if noise_scale(cfg) else ""
    print(f"test set: generating {cfg.people} people x {cfg.poses} pose(s) x {cfg.views} views at {cfg.size}^2, seed {cfg.seed}{extra} -> {folder}")
    generate(cfg, folder, progress=False)
    marker.write_text(json.dumps(wanted) + "\n")
    return folder


def _value(summary: dict, kind: str, metric: str, setting: str = "full") -> float | None:
    result = summary["results"].get(setting, {})
    if metric == "kid":
        entry = result.get("kid", {}).get(kind)
    else:
        entry = result.get("kinds", {}).get(kind, {}).get(metric)
    return None if entry is None else round(entry["mean"], 4)


def _best_fill(summary: dict, metric: str) -> tuple[float | None, str | None]:
    """The best simple fill on a back-view metric (all are lower-is-better): (value, fill)."""
    values = {s.fill: _value(summary, "back", metric, s.name) for s in FILL_SETTINGS}
    values = {k: v for k, v in values.items() if v is not None}
    if not values:
        return None, None
    best = min(values, key=values.get)
    return values[best], best


def back_sheet(report: Path, data: Path, path: Path, people: int) -> Path:
    """A JPEG or PNG of the back views of the first ``people`` people: front input | true back | each simple
    fill | the diffusion (the full method), one row per person, cells at the render size (512² for ``hd``)."""
    import numpy as np

    from dinar.data.layout import read_rgb, write_png
    from dinar.demo import sheet_row

    settings = [(s.name, s.fill) for s in FILL_SETTINGS] + [("full", "diffusion")]
    rows = []
    for folder in sorted((report / "people").iterdir())[:people]:
        doc = json.loads((folder / "full.json").read_text())
        back = next(v["stem"] for v in doc["views"] if v["kind"] == "back")
        cells = [read_rgb(data / folder.name / "rgb" / f"{doc['input']}.png"), read_rgb(data / folder.name / "rgb" / f"{back}.png")]
        labels = [f"{folder.name} input", "true back"]
        for name, fill in settings:
            render = folder / name / f"{back}.png"
            if render.is_file():
                cells.append(read_rgb(render))
                labels.append(fill)
        rows.append(sheet_row(cells, labels))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet = np.concatenate(rows, axis=0)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        from PIL import Image

        Image.fromarray(sheet).save(path, quality=90)
    else:
        write_png(path, sheet)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="model folder (default: the shipped weights)")
    parser.add_argument("--people", type=int, default=48, help="the first N people of the seed (a larger N adds people, the first stay the same)")
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--size", type=int, default=512, help="ground-truth size; a model of another size is resized to it")
    parser.add_argument("--no-fills", action="store_true", help="skip the simple-fill baselines (back_*_best_fill are then null)")
    parser.add_argument("--seed", type=int, default=77, help="synthetic-people seed; keep it out of every training recipe")
    parser.add_argument("--data", type=Path, default=None, help="where the test set is cached")
    add_look_options(parser, "in the test set, as dinar data synth's")
    add_fit_noise_option(parser)
    parser.add_argument("--report", type=Path, default=None, help="keep the report here (resumable); default: a temporary folder")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--diffusion-steps", type=int, default=None, help="DDIM steps M (default: the pipeline's)")
    parser.add_argument("--rgb-tuning-steps", type=int, default=None, help="default: the pipeline's (64)")
    parser.add_argument("--color-adjust-steps", type=int, default=None, help="default: the pipeline's (32)")
    parser.add_argument("--rgb-tuning-loss", choices=("paper", "l2"), default=None, help="default: the pipeline's (paper)")
    parser.add_argument("--sheet", type=Path, default=None,
                        help="write a sheet of the back views (front input | true back | each fill | diffusion) here")
    parser.add_argument("--sheet-people", type=int, default=6)
    parser.add_argument("--diffusion-start", choices=("noise", *FILLS), default=None,
                        help="where the diffusion sampler starts (default: the pipeline's)")
    parser.add_argument("--diffusion-strength", type=float, default=None, help="noise level of a fill start, (0, 1]")
    parser.add_argument("--diffusion-residual", choices=("on", "off"), default=None,
                        help="add back the VQ's reconstruction error of the start (default: the pipeline's)")
    parser.add_argument("--diffusion-generated", choices=("on", "off"), default=None,
                        help="take T_gen of the unseen texels from the diffusion too (default: the pipeline's, off)")
    args = parser.parse_args()

    try:
        cfg = SynthConfig(people=args.people, poses=1, views=args.views, size=args.size, seed=args.seed, **look_shares(args),
                          **fit_noise(args))
    except ValueError as err:
        print(f"quality benchmark: {err}", file=sys.stderr)
        return 2
    data = args.data or default_test_folder(cfg)
    test_set(data, cfg)
    steps = {"diffusion_steps": args.diffusion_steps, "rgb_tuning_steps": args.rgb_tuning_steps,
             "color_adjust_steps": args.color_adjust_steps, "rgb_tuning_loss": args.rgb_tuning_loss,
             "diffusion_strength": args.diffusion_strength}
    options = dataclasses.replace(PipelineOptions(), **{k: v for k, v in steps.items() if v is not None})
    if args.diffusion_start is not None:
        options = dataclasses.replace(options, diffusion_start=None if args.diffusion_start == "noise" else args.diffusion_start)
    if args.diffusion_residual is not None:
        options = dataclasses.replace(options, diffusion_residual=args.diffusion_residual == "on")
    if args.diffusion_generated is not None:
        options = dataclasses.replace(options, diffusion_generated=args.diffusion_generated == "on")
    steps.update(dict.fromkeys(("diffusion_start", "diffusion_residual", "diffusion_generated", "diffusion_samples",
                                *FILL_LEVERS)))
    with tempfile.TemporaryDirectory() as tmp:
        report = args.report or Path(tmp) / "report"
        config = EvalConfig(data_dir=data, output_dir=report, split=None, checkpoint=args.checkpoint, device=args.device,
                            options=options, progress=sys.stderr.isatty(), image_size=args.size, fills=not args.no_fills)
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
        if args.sheet:
            print(f"sheet: {back_sheet(report, data, args.sheet, args.sheet_people)}")
    main_ckpt = summary["checkpoints"]["main"]
    kid = summary["results"]["full"].get("kid", {}).get("novel")
    line = {
        "bench": "quality",
        "size": cfg.size,
        "model_size": summary["checkpoints"]["main"].get("image_size"),
        "front_psnr": _value(summary, "same", "psnr"),
        "front_lpips": _value(summary, "same", "lpips_alex"),
        "front_dists": _value(summary, "same", "dists"),
        "back_psnr": _value(summary, "back", "psnr"),
        "back_lpips": _value(summary, "back", "lpips_alex"),
        "back_dists": _value(summary, "back", "dists"),
        "back_kid": _value(summary, "back", "kid"),
        "back_part_color": _value(summary, "back", "part_color"),
        **{f"back_{name}_best_fill": _best_fill(summary, m)[0] for name, m in BACK_METRICS.items()},
        "best_fill": {name: _best_fill(summary, m)[1] for name, m in BACK_METRICS.items()},
        "novel_kid": None if kid is None else round(kid["mean"], 4),
        "identity": _value(summary, "novel", summary["identity_embedding"]["key"]),
        "seconds": round(seconds, 1),
        "seconds_per_avatar": round(summary["results"]["full"]["seconds_avatar_mean"] or 0.0, 2),
        "people": len(summary["people"]),
        "seed": cfg.seed,
        **look_shares(cfg),
        "fit_noise": noise_scale(cfg),
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
