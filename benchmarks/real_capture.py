"""Front to back on REAL people: Pose2Sim's calibrated captures, one front camera in, the other views as truth.

Two committed captures of the same four calibrated cameras (``--capture``; :data:`capture_trials.COMMITTED`):
``static_trial`` (``tests/data/pose2sim_static_trial``, a man holding a T-pose; two cameras see his front, two his back)
and ``two_people`` (``tests/data/pose2sim_two_people``, a woman standing beside him; the man moves, and each camera's box
says which person is hers). Any other calibrated capture of a person seen from the front and the back is run by its
trial file (``--capture PATH.json``, :mod:`capture_trials`: calibration, videos, frame, front camera, boxes). Each is
imported once (``dinar data capture``: undistorted person crops, masks, one body fit
shared by all views, each view's exact camera) into ``--data`` (default ``$DINAR_CACHE_DIR/benchmarks/...``, keyed by
the files' SHA-256 and the settings). Then, with the shipped model (or ``--checkpoint``), the benchmark of ``dinar
eval`` (:mod:`dinar.eval.runner`) makes the avatar:

- **front only**: from ``--input`` (default: the capture's front camera, cam03 in both) alone, the SnapshotPeople protocol;
- **front + one back** (multi-shot, paper eq. 5): from the input and one back camera (``--extra``; default the back
  camera nearer to the side, so the held-out back camera is the most nearly opposite one),

and renders it with each view's shared fit and camera at the model's resolution. Each view is scored against the
real frame on the person's region (union of the real and rendered person masks, both composited over white, as
``dinar eval`` does): PSNR inside the region, LPIPS (AlexNet) and DISTS. A view counts as a back view when its camera is
more than 90 degrees around the body from the input's. Views that were inputs are marked and left out of the means.

Usage: python benchmarks/real_capture.py [--capture static_trial|two_people|TRIAL.json ...] [--frame F] [--input CAM] [--extra CAM]
       [--checkpoint MODEL_DIR] [--data DIR] [--report DIR] [--sheet docs/real_capture.jpg] [--rgb-tuning-loss l2|paper]
       [--device auto] [--fills] [--frames [F ...]]
Prints the per-view table; the last line is JSON: {"bench": "real_capture", "front_view_lpips", "front_view_psnr",
"back_view_lpips", "back_view_psnr", "back_view_dists", "back_view_part_color", "multi_shot_back_lpips",
"multi_shot_back_psnr", "multi_shot_back_dists", "front_only_heldout_back_lpips", ... "seconds_import", "seconds_eval"};
with ``--fills`` also ``back_view_lpips_best_fill``, ``back_view_dists_best_fill``, ``back_view_part_color_best_fill``
and ``best_fill`` (the same front-only avatar with each simple fill of :mod:`dinar.texture.fills` in place of the
diffusion, the best on each metric). The part colour is ``dinar eval``'s per-body-part colour error (its parts are the
fitted body's, rasterized in each camera): do the shorts stay shorts-coloured on the back. ``--frames F ...`` (with
``--fills``): the same front-only comparison at other instants of the capture (each imported and fitted on its own;
``--frames`` alone: the capture's own, :attr:`Trial.others`), a table of them and ``"frames": {F: {"back_view_lpips",
"back_view_lpips_best_fill", ... "best_fill", "fill_means"}}``: how far one frame's margins carry; ``"person"``: ours and
each fill's means over those frames. With several ``--capture`` names,
each capture is run in turn and the last line is ``{"bench": "real_capture", "captures": {name: its line}, ...}`` with, under
``--fills``, the means over the people (each person's mean over their frames first, every person weighted equally):
``back_view_lpips``, ``back_view_dists``, ``back_view_part_color``, each ``…_best_fill`` (the fill whose people-mean is
lowest) and ``best_fill``, and ``"margins"``: ours less each fill per person, their mean and its standard error over
the people (:func:`people_margins`). The sheet (``--sheet`` for the static trial, the capture's name added for another): a row per
input set: the input(s) | for each other view: the real frame | ours.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from capture_trials import Trial, find_trial
from PIL import Image, ImageDraw

from dinar.eval.metrics import composite, psnr
from dinar.eval.multishot import MultiShotPredictor
from dinar.eval.runner import evaluate, person_result_path
from dinar.eval.settings import BACK_METRICS, FILL_SETTINGS, FULL, EvalConfig
from dinar.paths import dinar_cache_dir
from dinar.pipeline.options import PipelineOptions

MARKER = "bench_real_capture.json"
METRICS = ("psnr", "ms_ssim", "lpips", "dists")
BACK_DEG = 90.0
CELL = 192


def import_trial(folder: Path, trial: Trial, frame: int, preset: str) -> tuple[Path, float]:
    """``trial`` at ``frame`` imported into ``folder`` (reused when its marker matches the inputs and settings)."""
    from dinar.data.capture import capture_config, import_capture

    wanted = {"files": {name: hashlib.sha256(f.read_bytes()).hexdigest() for name, f in sorted(trial.files().items())}, "frame": frame,
              "preset": preset, "format": "dinar-capture/1"}
    if trial.boxes:
        wanted["boxes"] = [[camera, list(box)] for camera, box in trial.boxes]
    marker = folder / MARKER
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        print(f"capture: reusing {folder}")
        return folder, 0.0
    print(f"capture: importing {trial.name} ({trial.videos}, frame {frame}) -> {folder}")
    start = time.perf_counter()
    result = import_capture(capture_config(calibration=trial.calibration, sources=[trial.videos], output_dir=folder,
                                           frames=[frame], fit_preset=preset, boxes=trial.boxes, progress=sys.stderr.isatty()))
    seconds = time.perf_counter() - start
    print("multi-view fit, reprojection error per camera (frame pixels): "
          + ", ".join(f"{c} {v:.1f}" for c, v in result.mean_reprojection_px().items()))
    marker.write_text(json.dumps(wanted) + "\n")
    return folder, seconds


def capture_folder(args: argparse.Namespace, name: str, frame: int) -> Path:
    """Where capture ``name``'s import of ``frame`` is kept: under ``--data`` (``<data>/<name>_f<frame>``), or in the
    cache."""
    root = args.data if args.data is not None else dinar_cache_dir() / "benchmarks"
    return root / f"real_capture_{name}_f{frame}_{args.preset}"


class RecordingPredictor(MultiShotPredictor):
    """Keeps what it rendered (for the overlap scores and the sheet) besides returning it to the runner."""

    def predict(self, setting, person):
        renders = super().predict(setting, person)
        self.last = (person, renders)
        return renders


def run_eval(data: Path, out: Path, frame: int, input_view: int, extra: tuple[str, ...], options: PipelineOptions,
             args: argparse.Namespace) -> tuple[list[dict], RecordingPredictor]:
    """``dinar eval``'s runner with the input view (and ``extra`` views): per-view records of the one person, each with
    the overlap scores of :func:`overlap_scores` added."""
    predictor = RecordingPredictor(extra, args.checkpoint, options, args.device, image_size=args.size)
    config = EvalConfig(data_dir=data, output_dir=out, split="test", checkpoint=args.checkpoint, input_pose=frame, input_view=input_view,
                        device=args.device, options=options, metrics=METRICS, progress=sys.stderr.isatty(), image_size=args.size)
    evaluate(config, predictor=predictor)
    person, renders = predictor.last
    records = json.loads(person_result_path(out, person.person_id, FULL).read_text())["views"]
    overlap = overlap_scores(person, renders)
    return [{**r, **overlap[r["stem"]]} for r in records], predictor


def fill_records(data: Path, out: Path, frame: int, input_view: int, options: PipelineOptions,
                 args: argparse.Namespace) -> dict[str, list[dict]]:
    """Per-view records of the front-only avatar made with each simple fill (``dinar eval``'s fill rows, in the report
    ``out`` of the full method, whose avatar is reused): fill kind → records."""
    predictor = RecordingPredictor((), args.checkpoint, options, args.device, image_size=args.size)
    config = EvalConfig(data_dir=data, output_dir=out, split="test", checkpoint=args.checkpoint, input_pose=frame, input_view=input_view,
                        device=args.device, options=options, metrics=METRICS, progress=sys.stderr.isatty(), image_size=args.size,
                        fills=True)
    person = evaluate(config, predictor=predictor).summary["people"][0]
    return {s.fill: json.loads(person_result_path(out, person, s).read_text())["views"] for s in FILL_SETTINGS}


def back_records(records: list[dict]) -> list[dict]:
    """The records of views that see the input's back (more than ``BACK_DEG`` from the input view), nearest the side first."""
    return sorted((r for r in records if abs(r["azimuth_offset"]) > BACK_DEG), key=lambda r: abs(r["azimuth_offset"]))


def capture_summary(data: Path) -> dict:
    """The import's ``capture.json`` in ``data`` (its cameras, reprojection errors, ...)."""
    return json.loads(next(data.glob("*/capture.json")).read_text())


def camera_views(summary: dict) -> dict[str, int]:
    """Camera name → view index, from a :func:`capture_summary`."""
    return {c["name"]: c["view"] for c in summary["cameras"]}


def front_only_backs(data: Path, report: Path, frame: int, input_view: int, options: PipelineOptions,
                     args: argparse.Namespace) -> tuple[list[dict], RecordingPredictor, dict[str, list[dict]]]:
    """The front-only avatar's per-view records and predictor, and, with ``--fills``, each simple fill's back-view records."""
    one, predictor = run_eval(data, report, frame, input_view, (), options, args)
    fills = {}
    if args.fills:  # the same front-only avatar with each simple fill in place of the diffusion (the full row is reused)
        fills = {kind: back_records(records) for kind, records in fill_records(data, report, frame, input_view, options, args).items()}
    return one, predictor, fills


FILL_METRICS = {name: key for name, key in BACK_METRICS.items() if name != "kid"}  # two real back views make no KID


def fill_summary(backs: list[dict], fills: dict[str, list[dict]]) -> dict:
    """The back views' mean LPIPS, DISTS and per-part colour error (:mod:`dinar.eval.part_colors`, the fitted body's parts
    in each camera) of the full method, and of the best simple fill on each (with its name): ``{"back_view_lpips",
    "back_view_lpips_best_fill", … "back_view_part_color_best_fill", "best_fill": {"lpips", "dists", "part_color"}}``. A
    metric the records lack is left out. ``"fill_means"``: every fill's means, ``{kind: {"lpips", …}}``."""
    means = {kind: {name: _mean(records, key) for name, key in FILL_METRICS.items()} for kind, records in fills.items()}
    return best_of({name: _mean(backs, key) for name, key in FILL_METRICS.items()}, means)


def best_of(ours: dict[str, float | None], fill_means: dict[str, dict[str, float | None]]) -> dict:
    """:func:`fill_summary`'s keys from our means and each fill's (metric name → value; None: not measured)."""
    out: dict = {"best_fill": {}, "fill_means": fill_means}
    for name in FILL_METRICS:
        values = {kind: m[name] for kind, m in fill_means.items() if m.get(name) is not None}
        if ours.get(name) is None or not values:
            continue
        best = min(values, key=lambda k: values[k])
        out[f"back_view_{name}"], out[f"back_view_{name}_best_fill"] = ours[name], values[best]
        out["best_fill"][name] = best
    return out


def mean_summary(summaries: list[dict]) -> dict:
    """The :func:`fill_summary` of several (frames of one person, or people): ours and each fill's means averaged over
    them, every one weighted equally; a metric or fill missing from any of them is left out."""
    def average(get) -> float | None:
        values = [get(s) for s in summaries]
        return None if any(v is None for v in values) else float(np.mean(values))

    ours = {name: average(lambda s, n=name: s.get(f"back_view_{n}")) for name in FILL_METRICS}
    kinds = set.intersection(*(set(s["fill_means"]) for s in summaries))
    fills = {k: {name: average(lambda s, k=k, n=name: s["fill_means"][k].get(n)) for name in FILL_METRICS} for k in sorted(kinds)}
    return best_of(ours, fills)


def people_margins(people: list[dict]) -> dict:
    """Ours less each fill, person by person (each a :func:`mean_summary` over their frames), and how far the mean over
    the people can be trusted: ``{fill: {metric: {"per_person": [...], "mean": m, "se": s}}}``, ``s`` the standard
    error of that mean over the people (their differences' sample sd / √n; None for one person). Negative: ours lower.
    Why: when the people differ in sign, the mean of a few of them is a coin toss; the s.e. says how wide it is."""
    out: dict = {}
    for kind in sorted(set.intersection(*(set(p["fill_means"]) for p in people))):
        for name in FILL_METRICS:
            pairs = [(p.get(f"back_view_{name}"), p["fill_means"][kind].get(name)) for p in people]
            if any(a is None or b is None for a, b in pairs):
                continue
            diffs = [a - b for a, b in pairs]
            se = float(np.std(diffs, ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 else None
            out.setdefault(kind, {})[name] = {"per_person": diffs, "mean": float(np.mean(diffs)), "se": se}
    return out


def print_margins(names: list[str], margins: dict) -> None:
    """:func:`people_margins` as a table: per person, then the mean ± its standard error over the people."""
    print("\nours less each fill, each person's mean over their frames (negative: ours lower), and their mean ± s.e.")
    print("| fill | metric | " + " | ".join(names) + " | mean ± s.e. over the people |")
    print("| --- | --- |" + " --- |" * (len(names) + 1))
    for kind, metrics in margins.items():
        for name, m in metrics.items():
            se = "" if m["se"] is None else f" ± {m['se']:.4f}"
            print(f"| {kind} | {name} | " + " | ".join(f"{d:+.4f}" for d in m["per_person"]) + f" | {m['mean']:+.5f}{se} |")


def front_only_with_fills(trial: Trial, frame: int, camera: str, args: argparse.Namespace, options: PipelineOptions, report: Path) -> dict:
    """Another instant of a capture, imported on its own: :func:`fill_summary` of its front-only avatar's back views."""
    data, _ = import_trial(capture_folder(args, trial.name, frame), trial, frame, args.preset)
    one, _, fills = front_only_backs(data, report / "front_only", frame, camera_views(capture_summary(data))[camera], options, args)
    return fill_summary(back_records(one), fills)


def print_frames(frames: dict[int, dict]) -> None:
    """The full method's back views against the best fill's, one row per frame."""
    names = [name for name in FILL_METRICS if all(f"back_view_{name}" in f for f in frames.values())]
    print("\nback views of the front-only avatar at each frame: ours against the best simple fill on each metric")
    print("| frame | ours: " + " / ".join(names) + " | " + " | ".join(f"best fill's {name}" for name in names) + " |")
    print("| --- | --- |" + " --- |" * len(names))
    for frame, f in sorted(frames.items()):
        ours = " / ".join(f"{f[f'back_view_{name}']:.4f}" for name in names)
        best = " | ".join(f"{f[f'back_view_{name}_best_fill']:.4f} ({f['best_fill'][name]})" for name in names)
        print(f"| {frame} | {ours} | {best} |")


def overlap_scores(person, renders) -> dict[str, dict[str, float]]:
    """Per view: the IoU of the rendered and the real person masks, and the PSNR on their overlap only (the
    appearance where both show the person, without the silhouette's disagreement that the union counts)."""
    out = {}
    for k, t in enumerate(person.targets):
        pred, pred_mask = renders.image[k : k + 1], renders.mask[k : k + 1]
        real, real_mask = t.rgb[None], t.mask[None]
        both, either = torch.minimum(pred_mask, real_mask), torch.maximum(pred_mask, real_mask)
        iou = float((both >= 0.5).sum() / (either >= 0.5).sum().clamp_min(1))
        value = float(psnr(composite(pred, both, 1.0), composite(real, both, 1.0), both))
        out[t.stem] = {"mask_iou": round(iou, 4), "psnr_overlap": round(value, 4)}
    return out


def _figure(value: float | None, digits: int = 4) -> str:
    """A score to ``digits`` decimals, or "-" where it is missing (a view with no body part big enough for the part
    colour)."""
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _mean(records: list[dict], key: str) -> float | None:
    """The mean of ``key`` over the records that have a finite value, unrounded (the means over frames and people are
    taken from it, so a tie at the printed four decimals keeps its order); None if none has."""
    values = [r[key] for r in records if r.get(key) is not None and math.isfinite(r[key])]
    return float(np.mean(values)) if values else None


def _rounded(value: Any, digits: int = 6) -> Any:
    """``value`` (a JSON-ready dict, list or number) with every float rounded to ``digits`` decimals, for the JSON line."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v, digits) for v in value]
    return value


def _cell(image) -> Image.Image:
    """A [3, N, N] tensor in [0, 1] or an HxWx3 uint8 array -> a CELL x CELL image."""
    if not isinstance(image, np.ndarray):
        image = (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return Image.fromarray(image).resize((CELL, CELL), Image.Resampling.BICUBIC)


def write_sheet(path: Path, rows: list[tuple[str, list, RecordingPredictor]], labels: dict[str, str], others: list[str]) -> None:
    """A row per input set: the input photo(s) (two cells) | ours in the input's view | for each other view: real | ours."""
    label_h = 18
    width = CELL * (3 + 2 * len(others))
    sheet = Image.new("RGB", (width, label_h + len(rows) * (CELL + label_h)), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 3), "input photo(s)", fill="black")
    draw.text((CELL * 2 + 4, 3), "ours, input view", fill="black")
    for i, stem in enumerate(others):
        draw.text((CELL * (3 + 2 * i) + 4, 3), f"{labels[stem]}: real | ours", fill="black")
    for r, (label, inputs, predictor) in enumerate(rows):
        y = label_h + r * (CELL + label_h)
        draw.text((4, y + 2), label, fill="black")
        y += label_h
        for i, image in enumerate(inputs[:2]):
            sheet.paste(_cell(image), (CELL * i, y))
        person, renders = predictor.last
        by_stem = {t.stem: (t, renders.image[k]) for k, t in enumerate(person.targets)}
        sheet.paste(_cell(by_stem[person.input_stem][1]), (CELL * 2, y))
        for i, stem in enumerate(others):
            target, ours = by_stem[stem]
            real = target.rgb * target.mask + (1 - target.mask)  # the person over white, as scored
            sheet.paste(_cell(real), (CELL * (3 + 2 * i), y))
            sheet.paste(_cell(ours), (CELL * (4 + 2 * i), y))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=90)


def print_table(one: list[dict], multi: list[dict], cameras: dict[str, str], inputs: tuple[str, ...]) -> None:
    """Per view, nearest the input first: front only | front + back (inputs marked)."""
    multi_by = {r["stem"]: r for r in multi}
    print("| camera | azimuth from input | view | PSNR (person) | PSNR (overlap) | mask IoU | LPIPS | DISTS "
          "| + back: PSNR (person) | PSNR (overlap) | LPIPS | DISTS |")
    print("|" + " --- |" * 12)
    for r in sorted(one, key=lambda r: abs(r["azimuth_offset"])):
        m, cam = multi_by[r["stem"]], cameras[r["stem"]]
        kind = "input" if r["kind"] == "same" else ("back" if abs(r["azimuth_offset"]) > BACK_DEG else "front/side")
        note = " (an input)" if cam in inputs else ""
        print(f"| {cam} | {r['azimuth_offset']:+.0f} | {kind} | {r['psnr_masked']:.2f} | {r['psnr_overlap']:.2f} | {r['mask_iou']:.3f} "
              f"| {r['lpips_alex']:.4f} | {r['dists']:.4f} | {m['psnr_masked']:.2f}{note} | {m['psnr_overlap']:.2f} | {m['lpips_alex']:.4f} "
              f"| {m['dists']:.4f} |")


def print_fills(backs: list[dict], fills: dict[str, list[dict]], cameras: dict[str, str]) -> None:
    """The back views of the front-only avatar: the diffusion (the full method) against each simple fill."""
    rows = [("diffusion (ours)", backs), *((f"{kind} fill", records) for kind, records in fills.items())]
    stems = [r["stem"] for r in backs]
    print("\nback views of the front-only avatar: LPIPS / DISTS / part colour per camera and their means")
    print("| unseen texels filled by | " + " | ".join(cameras[s] for s in stems) + " | mean LPIPS | mean DISTS | mean part colour |")
    print("| --- |" + " --- |" * (len(stems) + 3))
    for label, records in rows:
        by = {r["stem"]: r for r in records}
        cells = [" / ".join(_figure(by[s].get(key)) for key in FILL_METRICS.values()) for s in stems]
        means = [_figure(_mean(records, key)) for key in FILL_METRICS.values()]
        print(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(means) + " |")


class BenchError(Exception):
    """A refusal: printed as one line, exit 2."""


INPUT_ERRORS = (ValueError, FileNotFoundError, RuntimeError, ImportError)
"""What an import or an evaluation raises on input it cannot use: one line and exit 2, like a :class:`BenchError`."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", nargs="+", default=["static_trial"],
                        help="the real capture(s) to run, in turn: static_trial (default), two_people, or the path of a trial file "
                             "(benchmarks/capture_trials.py); several: a table of the people and their means")
    parser.add_argument("--frame", type=int, default=None, help="time instant (frame index) of the capture (default: its trial's "
                        "\"frame\": 5 for static_trial, 4 for two_people)")
    parser.add_argument("--input", default=None, help="front camera the avatar is made from (default: its trial's \"input\": cam_03, cam03)")
    parser.add_argument("--extra", default=None, help="back camera added for the multi-shot avatar (default: the back camera nearer the side)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="model folder (default: the shipped weights)")
    parser.add_argument("--data", type=Path, default=None, help="where the imported captures are kept (default: the cache)")
    parser.add_argument("--report", type=Path, default=None, help="keep the eval reports here (default: a temporary folder)")
    parser.add_argument("--sheet", type=Path, default=Path("docs/real_capture.jpg"),
                        help="sheet to write (default docs/real_capture.jpg; another capture's gets its name added: real_capture_two_people.jpg)")
    parser.add_argument("--preset", choices=("default", "fast"), default="default", help="body-fit preset of the import")
    parser.add_argument("--rgb-tuning-loss", choices=("paper", "l2"), default="l2", help="RGB tuning's losses (default l2, dinar avatar's)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, default=None,
                        help="score at this size (default: the model's); a model that renders smaller is upsampled to it")
    parser.add_argument("--fills", action="store_true",
                        help="also make the front-only avatar with each simple fill in place of the diffusion and compare the backs")
    parser.add_argument("--frames", type=int, nargs="*", default=None,
                        help="with --fills: also compare the backs at these other frames (each imported on its own); no numbers: "
                             "each capture's own \"others\" (static_trial 2 8, two_people 0 8)")
    return parser.parse_args()


def other_frames(args: argparse.Namespace, trial: Trial) -> tuple[int, ...]:
    """The frames compared besides the main one: ``--frames``, or the capture's own when it is given without numbers."""
    if args.frames is None:
        return ()
    return tuple(args.frames) or trial.others


def front_camera(trial: Trial, args: argparse.Namespace) -> str:
    """The calibration's name of the camera the avatar is made from (``--input``, else the trial's; ``cam3`` finds
    ``cam_03``, as the import matches videos to cameras)."""
    from dinar.data.capture_sources import name_key
    from dinar.geometry.calibration import read_calibration

    wanted = args.input or trial.input
    names = [camera.name for camera in read_calibration(trial.calibration)]
    found = [name for name in names if name_key(name) == name_key(wanted)]
    if not found:
        raise BenchError(f"{trial.name}: the input camera {wanted} is not in {trial.calibration.name} ({', '.join(names)})")
    return found[0]


def check_args(args: argparse.Namespace) -> dict[str, Trial]:
    """The captures to run by name, each read and checked, its ``input`` the calibration's name of the camera to use
    (:func:`front_camera`); refuse what cannot run, before any work (:class:`BenchError`,
    :class:`~capture_trials.TrialError`)."""
    if args.frames is not None and not args.fills:
        raise BenchError("--frames compares the fills at other frames: add --fills")
    trials: dict[str, Trial] = {}
    for capture in args.capture:
        trial = find_trial(capture)
        if trials.get(trial.name, trial) != trial:
            raise BenchError(f"--capture {capture}: another capture is named {trial.name} too; give one of them another \"name\"")
        trials[trial.name] = trial
    for trial in trials.values():
        frames = [trial.frame if args.frame is None else args.frame, *other_frames(args, trial)]
        if any(f < 0 for f in frames) or (trial.frames is not None and any(f >= trial.frames for f in frames)):
            last = "" if trial.frames is None else trial.frames - 1
            raise BenchError(f"frames of {trial.name} are indices 0..{last}, got {frames}")
    return {name: dataclasses.replace(trial, input=front_camera(trial, args)) for name, trial in trials.items()}


def sheet_path(args: argparse.Namespace, name: str) -> Path:
    """``--sheet`` for the static trial; another capture's beside it with the capture's name added (no trial file may
    take a committed capture's name, :func:`~capture_trials.find_trial`)."""
    if name == "static_trial":
        return args.sheet
    return args.sheet.with_name(f"{args.sheet.stem}_{name}{args.sheet.suffix}")


def run_capture(trial: Trial, args: argparse.Namespace, options: PipelineOptions) -> dict:
    """One capture's benchmark (module docstring): prints its tables, writes its sheet, returns its JSON line."""
    name = trial.name
    frame, camera = trial.frame if args.frame is None else args.frame, trial.input  # resolved by check_args
    data, seconds_import = import_trial(capture_folder(args, name, frame), trial, frame, args.preset)
    summary = capture_summary(data)
    views = camera_views(summary)

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        report = (args.report / name if args.report else Path(tmp))
        one, one_pred, fills = front_only_backs(data, report / "front_only", frame, views[camera], options, args)
        camera_of = {r["stem"]: cam for r in one for cam, v in views.items() if v == r["view"]}
        backs = back_records(one)
        if not backs:
            raise BenchError(f"no camera of {name} sees the back of the input's view")
        extra = args.extra or camera_of[backs[0]["stem"]]
        multi, multi_pred = run_eval(data, report / "multi_shot", frame, views[camera], (extra,), options, args)
    seconds_eval = time.perf_counter() - start

    print(f"\nreal capture {name}, frame {frame}: avatar from {camera} (front only) and from {camera} + {extra} "
          f"(multi-shot, eq. 5), scored at {one_pred.image_size}^2")
    print_table(one, multi, camera_of, (camera, extra))
    multi_by = {r["stem"]: r for r in multi}
    same = [r for r in one if r["kind"] == "same"]
    front_others = [r for r in one if r["kind"] != "same" and abs(r["azimuth_offset"]) <= BACK_DEG]
    held_out = [r for r in backs if camera_of[r["stem"]] != extra]
    held_multi = [multi_by[r["stem"]] for r in held_out]
    line = {
        "bench": "real_capture",
        "capture": name,
        "front_view_lpips": _mean(same, "lpips_alex"),
        "front_view_psnr": _mean(same, "psnr_masked"),
        "front_view_dists": _mean(same, "dists"),
        "other_front_lpips": _mean(front_others, "lpips_alex"),
        "back_view_lpips": _mean(backs, "lpips_alex"),
        "back_view_psnr": _mean(backs, "psnr_masked"),
        "back_view_dists": _mean(backs, "dists"),
        "back_view_part_color": _mean(backs, "part_color"),
        "back_view_psnr_overlap": _mean(backs, "psnr_overlap"),
        "multi_shot_back_lpips": _mean(held_multi, "lpips_alex"),
        "multi_shot_back_psnr": _mean(held_multi, "psnr_masked"),
        "multi_shot_back_dists": _mean(held_multi, "dists"),
        "multi_shot_back_psnr_overlap": _mean(held_multi, "psnr_overlap"),
        "front_only_heldout_back_lpips": _mean(held_out, "lpips_alex"),
        "front_only_heldout_back_psnr": _mean(held_out, "psnr_masked"),
        "front_only_heldout_back_dists": _mean(held_out, "dists"),
        "front_only_heldout_back_psnr_overlap": _mean(held_out, "psnr_overlap"),
        "mask_iou": _mean(one, "mask_iou"),
        "reprojection_px": summary["reprojection_px"]["mean"],
        "input": camera,
        "extra": extra,
        "held_out_back": [camera_of[r["stem"]] for r in held_out],
        "frame": frame,
        "rgb_tuning_loss": args.rgb_tuning_loss,
        "resolution": one_pred.image_size,
        "checkpoint": one_pred.pipes["main"].identity.short,
        "seconds_import": round(seconds_import, 1),
        "seconds_eval": round(seconds_eval, 1),
    }
    if fills:
        print_fills(backs, fills, camera_of)
        summary_here = fill_summary(backs, fills)
        line.update({k: v for k, v in summary_here.items() if k not in line})
        frames = {frame: summary_here}
        if other_frames(args, trial):
            start = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                for other in other_frames(args, trial):
                    if other in frames:
                        continue
                    report = (args.report / name if args.report else Path(tmp)) / f"frame{other}"
                    try:
                        frames[other] = front_only_with_fills(trial, other, camera, args, options, report)
                    except INPUT_ERRORS as err:
                        raise BenchError(f"{name} frame {other}: {err}") from None
            print_frames(frames)
            line["frames"] = {str(f): v for f, v in sorted(frames.items())}
            line["seconds_frames"] = round(time.perf_counter() - start, 1)
        line["person"] = mean_summary(list(frames.values()))  # ours and each fill over the frames
    others = [r["stem"] for r in sorted(one, key=lambda r: abs(r["azimuth_offset"])) if r["kind"] != "same"]
    extra_image = next(t.rgb for t in multi_pred.last[0].targets if camera_of[t.stem] == extra)  # the real frame, as given
    sheet = sheet_path(args, name)
    write_sheet(sheet, [(f"front only: {camera}", [one_pred.last[0].input_image], one_pred),
                        (f"front + back: {camera} + {extra}", [one_pred.last[0].input_image, extra_image], multi_pred)],
                camera_of, others)
    print(f"\nsheet: {sheet} (rows: front only, front + back; columns: input photo(s) | ours in the input view | "
          + " | ".join(f"{camera_of[s]}: real, ours" for s in others) + ")")
    return line


def print_people(lines: dict[str, dict], people: dict) -> None:
    """Each person's back views over their frames, ours against each fill (four decimals), and the mean over the people
    (six: a tie at four keeps its order)."""
    rows = [(name, line["person"]) for name, line in lines.items()] + [("mean over the people", people)]
    kinds = sorted(people["fill_means"])
    print("\nback views of the front-only avatar, each person's mean over their frames: LPIPS / DISTS / part colour")
    print("| person | frames | ours | " + " | ".join(f"{kind} fill" for kind in kinds) + " |")
    print("| --- | --- |" + " --- |" * (1 + len(kinds)))
    for name, summary in rows:
        frames = " ".join(lines[name].get("frames", [str(lines[name]["frame"])])) if name in lines else ""
        digits = 4 if name in lines else 6  # the people's means unrounded enough to order a tie at four decimals
        ours = " / ".join(_figure(summary.get(f"back_view_{n}"), digits) for n in FILL_METRICS)
        cells = [" / ".join(_figure(summary["fill_means"][k].get(n), digits) for n in FILL_METRICS) for k in kinds]
        print(f"| {name} | {frames} | {ours} | " + " | ".join(cells) + " |")


def main() -> int:
    args = parse_args()
    try:
        trials = check_args(args)
        options = dataclasses.replace(PipelineOptions(), rgb_tuning_loss=args.rgb_tuning_loss)
        lines = {name: run_capture(trial, args, options) for name, trial in trials.items()}
    except (BenchError, *INPUT_ERRORS) as err:
        print(f"real capture benchmark: {err}", file=sys.stderr)
        return 2
    if len(lines) == 1:
        print(json.dumps(_rounded(next(iter(lines.values())))))
        return 0
    line: dict = {"bench": "real_capture", "captures": lines}
    if all("person" in one for one in lines.values()):
        people = mean_summary([one["person"] for one in lines.values()])
        print_people(lines, people)
        line.update(people)
        line["margins"] = people_margins([one["person"] for one in lines.values()])
        print_margins(list(lines), line["margins"])
    print(json.dumps(_rounded(line)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
