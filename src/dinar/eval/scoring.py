"""Scoring one person's renders against the ground truth: per-view records of the per-image metrics
(:func:`dinar.eval.metrics.compute_metrics`). The set-level KID's features are :mod:`dinar.eval.features`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from .families import EvalFamily, MetricFamily
from .metrics import compute_metrics, person_region
from .part_colors import PART_COLOR_KEY, part_color_error
from .people import PersonViews
from .predictors import Renders
from .settings import RENDER_BATCH


def score_views(
    renders: Renders,
    person: PersonViews,
    families: Sequence[EvalFamily],
    device: torch.device,
    batch_size: int = RENDER_BATCH,
    parts: torch.Tensor | None = None,
) -> list[dict[str, Any]]:
    """Per-view records ``{stem, kind, pose_id, view, azimuth_offset, <metric>: float}`` of the renders
    against the ground truth (:func:`compute_metrics`, person region = union of both masks); with ``parts``
    ([N, H, W], :func:`dinar.eval.part_colors.part_maps`) also ``part_color``."""
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
        region = person_region(pred_mask, gt_mask)
        values = compute_metrics(pred, gt, region, which)
        if parts is not None:  # where both show the person, part by part (dinar.eval.part_colors)
            both = ((pred_mask > 0.5) & (gt_mask > 0.5)).float()
            values[PART_COLOR_KEY] = part_color_error(pred, gt, both, parts[sl].to(device))
        for i, rec in enumerate(records[sl]):
            for key, v in values.items():
                x = float(v[i])
                rec[key] = x if math.isfinite(x) else None
    return records
