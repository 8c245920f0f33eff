"""The Inception features of KID (:mod:`dinar.eval.kid`) of a benchmark run, kept on disk beside each
result: ``<setting>.features.safetensors`` per person and setting, ``ground_truth.features.safetensors``
per person (written once per resolution), so a resumed run and the report's set-level KID never
recompute them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor

from dinar.utils import atomic_path

from .kid import extract_features, inception_network
from .people import PersonViews
from .settings import GT_FEATURES_FILE, RENDER_BATCH


def inception_features(images: Tensor, device: torch.device) -> Tensor:
    """[B, 2048] float64 TF-FID Inception features (cached network) of images [B, 3, H, W] in [0, 1]."""
    return extract_features(images, inception_network(str(device)), batch_size=RENDER_BATCH).cpu()


def save_features(path: Path, features: Tensor, stems: Sequence[str], extra: Mapping[str, str] | None = None) -> None:
    """Write ``features`` [N, D] (as float64) and the ``stems`` of their views (plus ``extra`` metadata)."""
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
    images = torch.stack([t.over_white() for t in person.targets])  # the person over white
    save_features(path, inception_features(images, device), stems, {"size": str(size)})
    return path
