"""The benchmark runner: held-out people → avatars → renders of every view → the paper's Tables 1 and 2.

For every person of a split (people the model never saw), the avatar is made from ONE image, the
input view (pose 0, view 0 = the front by default), with the avatar pipeline, and rendered with the
body fit and camera of every image of that person. Each render is compared with the ground-truth
image (:func:`dinar.eval.metrics.compute_metrics`, person region = union of the two masks, composited
over white) at the evaluation resolution, the stage-1 model's image size: ground truth is padded to a
square and area-resized exactly as the pipeline prepares its input photos, the camera following.

View kinds (per target image, relative to the input):

- ``same``: the input image itself (the paper's "same view": MS-SSIM, PSNR, LPIPS, DISTS);
- ``back``: of the input's pose, the view whose camera is most nearly opposite the input's around the
  body (azimuth offset ≥ 135°, measured in the body's own frame so a person turning in front of a
  fixed camera counts the same as a camera orbiting a person); synthetic data has its exact ground
  truth, which SnapshotPeople-style benchmarks only approximate;
- ``side``: the other views of the input's pose;
- ``other_pose``: images of the person's other poses (the avatar animated), any view.

``back``, ``side`` and ``other_pose`` together are the novel views (the paper's "novel view": DISTS,
KID, and an identity score). The paper's novel view is the back frame only; we report the back view
separately as well, with PSNR / LPIPS / DISTS, since synthetic people have its ground truth.

Settings (:data:`FULL`, :data:`TABLE2_SETTINGS`) are switch sets of the pipeline: Table 1 uses the full
method; ``--ablations`` adds the rows of the paper's Table 2, in its order.

Resumable: each (person, setting) is written to ``REPORT/people/<pid>/<setting>.json`` once done, with
a key (SHA-256 of the checkpoint files, the options, the input view, the metrics, the resolution and
the input files); a later run with the same key skips it. Inception features for KID are kept beside
it (``<setting>.features.safetensors``; ground truth in ``ground_truth.features.safetensors``), and the
same-view and back-view renders as PNG (``<setting>/<stem>.png``) for the report's image grid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from dinar.data.layout import DatasetError, list_people, write_png
from dinar.utils import atomic_path, resolve_device

from .features import ground_truth_features, inception_features, save_features
from .metrics import ms_ssim_name
from .part_colors import part_maps
from .people import PersonViews, load_person
from .predictors import GridViews, PipelinePredictor, Predictor
from .report import EvalResult, image_uint8, write_report
from .scoring import score_views
from .settings import (
    FULL,
    PEOPLE_DIR,
    PERSON_FORMAT,
    EvalConfig,
    EvalError,
    Setting,
)

__all__ = ["EvalResult", "cache_key", "evaluate", "evaluate_person", "person_result_path", "select_people"]

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------
def cache_key(doc: Mapping[str, Any]) -> str:
    """SHA-256 of a JSON document in canonical form."""
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def person_result_path(output_dir: Path, person_id: str, setting: Setting) -> Path:
    return output_dir / PEOPLE_DIR / person_id / f"{setting.name}.json"


def _read_cached(path: Path, key: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if doc.get("format") != PERSON_FORMAT or doc.get("key") != key:
        return None
    features = doc.get("features")
    if features and not (path.parent / features).is_file():
        return None
    return doc


def evaluate_person(
    predictor: Predictor,
    setting: Setting,
    person: PersonViews,
    config: EvalConfig,
    key: str,
    key_doc: Mapping[str, Any],
    device: torch.device,
) -> dict[str, Any]:
    """Make the avatar, render, score; write the person's renders, features and result JSON (last, so a
    killed run leaves no finished-looking result)."""
    start = time.perf_counter()
    renders = predictor.predict(setting, person)
    n = len(person.targets)
    if renders.image.shape != (n, 3, predictor.image_size, predictor.image_size) or renders.mask.shape[0] != n:
        raise RuntimeError(f"the predictor returned {list(renders.image.shape)} for {n} views at {predictor.image_size}²")
    body = getattr(predictor, "body", None)
    parts = part_maps(body, [t.fit for t in person.targets], predictor.image_size) if body is not None else None
    records = score_views(renders, person, config.metrics, device, parts=parts)
    person_dir = config.output_dir / PEOPLE_DIR / person.person_id
    render_dir = person_dir / setting.name
    saved = []
    for i, t in enumerate(person.targets):
        if t.kind in ("same", "back"):
            write_png(render_dir / f"{t.stem}.png", image_uint8(renders.image[i]))
            saved.append(f"{setting.name}/{t.stem}.png")
    features = None
    if "kid" in config.metrics:
        feats = inception_features(renders.image, device)  # renders are already composited over white
        features = f"{setting.name}.features.safetensors"
        save_features(person_dir / features, feats, [t.stem for t in person.targets])
    doc = {
        "format": PERSON_FORMAT, "key": key, "key_doc": key_doc, "person": person.person_id, "setting": setting.name,
        "input": person.input_stem, "views": records, "renders": saved, "features": features,
        "seconds_avatar": round(renders.seconds_avatar, 3), "seconds": round(time.perf_counter() - start, 3),
    }
    path = person_result_path(config.output_dir, person.person_id, setting)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def select_people(config: EvalConfig) -> list[Path]:
    """The person folders of the split (first ``config.people``); a clear error when there are none."""
    try:
        people = list_people(config.data_dir, config.split)
    except DatasetError as err:
        raise EvalError(str(err)) from err
    if not people:
        splits = config.data_dir / "splits.json"
        have = ""
        if splits.is_file():
            have = "; " + ", ".join(f"{k}: {len(v)}" for k, v in json.loads(splits.read_text()).items())
        raise EvalError(f"{config.data_dir}: split {config.split!r} has no people{have}; choose another split "
                        "(--split all evaluates every person folder)")
    return people[: config.people] if config.people else people


def evaluate(config: EvalConfig, predictor: Predictor | None = None, body=None) -> EvalResult:
    """Run the benchmark of ``config`` (module docstring) and write the report (:mod:`dinar.eval.report`).

    ``predictor``: what makes and renders avatars (default: :class:`PipelinePredictor` of the config's
    checkpoints); ``body``: a loaded body model to share (loaded from the checkpoint's config if None).
    """
    from tqdm import tqdm

    people = select_people(config)
    device = resolve_device(config.device)
    if predictor is None:
        ablation = dict(config.ablation_checkpoints) if config.ablations else {}
        predictor = PipelinePredictor(config.checkpoint, ablation, config.pipeline_options, config.device, body, config.image_size)
    size = predictor.image_size
    if "ms_ssim" in config.metrics:
        ms_ssim_name(size, size)  # refuses sizes MS-SSIM cannot take before any work
    settings = config.settings
    not_run = {s.name: reason for s in settings if (reason := predictor.unavailable(s)) is not None}
    if FULL.name in not_run:
        raise EvalError(f"the full method cannot run: {not_run[FULL.name]}; pass a complete model folder with --checkpoint")
    runnable = [s for s in settings if s.name not in not_run]
    results: dict[str, dict[str, dict[str, Any]]] = {s.name: {} for s in runnable}
    grid_views: dict[str, GridViews] = {}
    computed = skipped = 0
    torch.manual_seed(config.seed)
    with tqdm(total=len(people) * len(runnable), desc="eval", unit="avatar", disable=None if config.progress else True) as bar:
        for folder in people:
            person = load_person(folder, size, config.input_pose, config.input_view, body_model=predictor.body_model,
                                 num_joints=predictor.num_joints, up=predictor.up_axis, front=predictor.front_axis)
            grid_views[person.person_id] = GridViews.of(person)
            if "kid" in config.metrics:
                ground_truth_features(person, config.output_dir / PEOPLE_DIR / person.person_id, size, device)
            for setting in runnable:
                bar.set_postfix_str(f"{person.person_id} {setting.name}")
                key_doc = {
                    "format": PERSON_FORMAT, "setting": dataclasses.asdict(setting), "model": predictor.fingerprint(setting),
                    "seed": config.seed, "input": [config.input_pose, config.input_view], "input_sha256": person.input_sha256,
                    "targets": [t.stem for t in person.targets], "size": size, "metrics": sorted(config.metrics),
                }
                key = cache_key(key_doc)
                path = person_result_path(config.output_dir, person.person_id, setting)
                doc = _read_cached(path, key)
                if doc is None:
                    doc = evaluate_person(predictor, setting, person, config, key, key_doc, device)
                    computed += 1
                else:
                    skipped += 1
                results[setting.name][person.person_id] = doc
                bar.update(1)
    summary, files = write_report(config, settings, not_run, results, grid_views, predictor.describe(), size)
    log.info("eval: %d avatar(s) made, %d reused; report in %s", computed, skipped, config.output_dir)
    return EvalResult(config.output_dir, summary, files, computed, skipped)
