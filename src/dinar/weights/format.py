"""The one on-disk format of every network dinar trains: ``model.safetensors`` + ``config.json``.

A network lives in its own folder (a run folder, or ``stage1/``, ``vq/``, ``diffusion/``,
``stage1/discriminator/`` of a model folder)::

    DIR/model.safetensors   tensors only; header: {"format", "kind", "config_sha256"}
    DIR/config.json         {"format": "dinar-weights/1", "kind", "config": {...}, ...extra}

``kind`` names the network (``stage1-avatar-model``, ``stage1-discriminator``, ``texture-vq``,
``texture-inpainter``); ``config`` rebuilds it exactly; ``extra`` holds what is not the network's
shape (training step, noise schedule, atlas digest). :func:`load_network` refuses another kind and a
``config.json`` that is not the one the weights were saved with (its digest is in the header), so
an edited config can never load weights of another shape silently. Training (:mod:`dinar.train`)
and inference (:mod:`dinar.pipeline`) both read and write through this module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from dinar.digests import config_digest
from dinar.utils import atomic_path

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
WEIGHTS_FORMAT = "dinar-weights/1"


class WeightsError(ValueError):
    """A weights folder that is missing, of another kind, or whose config was edited."""


def network_dir(path: str | Path) -> Path:
    """The folder of a network given as the folder or as its ``model.safetensors``."""
    path = Path(path)
    return path.parent if path.name == WEIGHTS_FILE else path


def save_network(
    directory: str | Path,
    state_dict: Mapping[str, Tensor],
    config: Mapping[str, Any],
    kind: str,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``DIR/model.safetensors`` and ``DIR/config.json`` (module docstring), each atomically."""
    from safetensors.torch import save_file

    directory = network_dir(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    meta = {"format": WEIGHTS_FORMAT, "kind": kind, "config_sha256": config_digest(config)}
    with atomic_path(directory / WEIGHTS_FILE) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    doc = {"format": WEIGHTS_FORMAT, "kind": kind, "config": dict(config), **(extra or {})}
    with atomic_path(directory / CONFIG_FILE) as tmp:
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
    return directory / WEIGHTS_FILE


def read_config(directory: str | Path, kind: str | None = None) -> dict[str, Any]:
    """The whole ``config.json`` document of a network folder (checked for ``kind`` when given)."""
    path = network_dir(directory) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (a network folder holds {WEIGHTS_FILE} and {CONFIG_FILE})")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise WeightsError(f"{path}: not JSON ({err}); re-export the model") from err
    if not isinstance(doc, dict) or doc.get("format") != WEIGHTS_FORMAT or "config" not in doc:
        raise WeightsError(f"{path}: not a {WEIGHTS_FORMAT} config; re-export the model with this dinar")
    if kind is not None and doc.get("kind") != kind:
        raise WeightsError(f"{network_dir(directory)}: holds a {doc.get('kind')!r} model, expected {kind!r}")
    return doc


def load_network(
    directory: str | Path, kind: str, device: str | torch.device = "cpu"
) -> tuple[dict[str, Tensor], dict[str, Any], dict[str, Any]]:
    """``(state dict on device, config, whole config.json document)`` of a :func:`save_network` folder."""
    from safetensors import SafetensorError, safe_open

    directory = network_dir(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: missing (a network folder holds {WEIGHTS_FILE} and {CONFIG_FILE})")
    doc = read_config(directory, kind)
    try:
        with safe_open(str(weights), framework="pt", device=str(device)) as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    except (SafetensorError, OSError) as err:
        raise WeightsError(f"{weights}: unreadable, truncated or corrupt ({err}); re-export or reinstall it") from err
    if meta.get("kind") != kind:
        raise WeightsError(f"{weights}: holds a {meta.get('kind')!r} model, expected {kind!r}")
    if meta.get("config_sha256") != config_digest(doc["config"]):
        raise WeightsError(
            f"{directory / CONFIG_FILE}: this config is not the one {WEIGHTS_FILE} was saved with (SHA-256 differs); "
            "re-export the model instead of editing config.json"
        )
    return state, doc["config"], doc
