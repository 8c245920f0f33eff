"""Scoring one person's renders against the ground truth, and the Inception features of KID, kept on
disk beside each result."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from dinar.eval.people import PersonViews
from dinar.eval.predictors import Renders
from dinar.eval.settings import GT_FEATURES_FILE, RENDER_BATCH, EvalFamily
from dinar.utils import atomic_path

from .metrics import MetricFamily, compute_metrics, person_region


# ---------------------------------------------------------------------------------------------------
# Scoring one person
# ---------------------------------------------------------------------------------------------------
def score_views(
    renders: Renders,
    person: PersonViews,
    families: Sequence[EvalFamily],
    device: torch.device,
    batch_size: int = RENDER_BATCH,
) -> list[dict[str, Any]]:
    """Per-view records ``{stem, kind, pose_id, view, azimuth_offset, <metric>: float}`` of the renders
    against the ground truth (:func:`compute_metrics`, person region = union of both masks)."""
    which: list[MetricFamily] = [f for f in families if f != "kid"]  # type: ignore[misc]
    records = [{"stem": t.stem, "kind": t.kind, "pose_id": t.pose_id, "view": t.view,
                "azimuth_offset": round(t.azimuth_offset, 3)} for t in person.targets]
    if not which:
        return records
    for start in range(0, len(person.targets), batch_size):
        sl = slice(start, start + batch_size)
        chunk = person.targets[sl]
        gt = torch.stack([t.rgb for t in chunk]).to(device)
        gt_mask = torch.stack([t.mask for t in chunk]).to(device)
        pred, pred_mask = renders.image[sl].to(device), renders.mask[sl].to(device)
        values = compute_metrics(pred, gt, person_region(pred_mask, gt_mask), which)
        for i, rec in enumerate(records[sl]):
            for key, v in values.items():
                x = float(v[i])
                rec[key] = x if math.isfinite(x) else None
    return records


def inception_features(images: Tensor, device: torch.device) -> Tensor:
    """[B, 2048] float64 TF-FID Inception features (cached network) of images [B, 3, H, W] in [0, 1]."""
    from .kid import extract_features
    from .metrics import cached_network

    return extract_features(images, cached_network("inception", str(device)), batch_size=RENDER_BATCH).cpu()


def _save_features(path: Path, features: Tensor, stems: Sequence[str], extra: Mapping[str, str] | None = None) -> None:
    from safetensors.torch import save_file

    meta = {"stems": json.dumps(list(stems)), **(extra or {})}
    with atomic_path(path) as tmp:
        save_file({"features": features.double().contiguous()}, str(tmp), metadata=meta)


def load_features(path: Path) -> tuple[Tensor, list[str], dict[str, str]]:
    """``(features [N, D] float64, stems, metadata)`` of a features file written by the runner."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        features = f.get_tensor("features")
    return features, json.loads(meta.get("stems", "[]")), meta


def ground_truth_features(person: PersonViews, person_dir: Path, size: int, device: torch.device) -> Path:
    """The Inception features of every ground-truth view of ``person``, written once per resolution."""
    path = person_dir / GT_FEATURES_FILE
    stems = [t.stem for t in person.targets]
    if path.is_file():
        _, have, meta = load_features(path)
        if have == stems and meta.get("size") == str(size):
            return path
    images = torch.stack([t.rgb * t.mask + (1 - t.mask) for t in person.targets])  # the person over white
    _save_features(path, inception_features(images, device), stems, {"size": str(size)})
    return path
