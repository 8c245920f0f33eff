"""Lightning checkpoints as safetensors + JSON, never pickles, for ``--resume`` of every stage, and the
callback that writes them (with the released weights) every N steps.

DESIGN.md: files users get are safetensors, JSON, PNG, MP4 or GLB. :class:`SafetensorsCheckpointIO`
is a Lightning ``CheckpointIO`` plugin: ``trainer.save_checkpoint`` and ``trainer.fit(ckpt_path=...)``
go through it. A checkpoint dict (weights, optimizer states, loop counters, callback states) is split
into its tensors, stored as safetensors, and the rest, stored as JSON in the safetensors header
(``metadata["checkpoint"]``) with tensors replaced by references. Types that JSON would lose are
tagged: dicts with non-string keys (optimizer states are keyed by parameter index) and tuples (Adam's
``betas``). Anything else (a pickled object) is refused with the key that holds it.

:class:`PeriodicCheckpoint` writes such a checkpoint (``RUN/checkpoints/last.safetensors``) and asks the
LightningModule to export its released weights (``export_weights(run_dir)``, through :mod:`dinar.weights`):
the one checkpoint mechanism of all stages (:func:`dinar.train.trainer.make_trainer` sets it up).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.io import CheckpointIO
from safetensors import safe_open
from safetensors.torch import save_file

from dinar.utils import atomic_path

CHECKPOINT_FORMAT = "dinar-lightning-checkpoint/1"


def _flatten(value: Any, tensors: dict[str, torch.Tensor], where: str) -> Any:
    if isinstance(value, torch.Tensor):
        name = f"t{len(tensors):06d}"
        tensors[name] = value.detach().cpu().contiguous().clone()
        return {"__tensor__": name}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and "__tensor__" not in value:
            return {k: _flatten(v, tensors, f"{where}.{k}") for k, v in value.items()}
        items = []
        for k, v in value.items():
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                raise TypeError(f"checkpoint key {where}: dict key {k!r} of type {type(k).__name__} cannot be stored")
            items.append([k, _flatten(v, tensors, f"{where}.{k}")])
        return {"__items__": items}
    if isinstance(value, tuple):
        return {"__tuple__": [_flatten(v, tensors, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_flatten(v, tensors, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"checkpoint key {where}: a {type(value).__name__} cannot be stored without pickling")


def _unflatten(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__items__" in value:
            return {k: _unflatten(v, tensors) for k, v in value["__items__"]}
        if "__tuple__" in value:
            return tuple(_unflatten(v, tensors) for v in value["__tuple__"])
        return {k: _unflatten(v, tensors) for k, v in value.items()}
    if isinstance(value, list):
        return [_unflatten(v, tensors) for v in value]
    return value


def save_checkpoint_dict(checkpoint: dict[str, Any], path: str | Path) -> None:
    """Write a (nested) checkpoint dict to one safetensors file (module docstring)."""
    tensors: dict[str, torch.Tensor] = {}
    tree = _flatten(checkpoint, tensors, "checkpoint")
    meta = {"format": CHECKPOINT_FORMAT, "checkpoint": json.dumps(tree)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_checkpoint_dict(path: str | Path, map_location: Any = None) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint_dict`."""
    device = "cpu" if map_location is None or callable(map_location) or isinstance(map_location, dict) else str(map_location)
    with safe_open(str(path), framework="pt", device=device) as f:
        meta = f.metadata() or {}
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path}: not a {CHECKPOINT_FORMAT} file")
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    return _unflatten(json.loads(meta["checkpoint"]), tensors)


class SafetensorsCheckpointIO(CheckpointIO):
    """Lightning ``CheckpointIO`` that reads and writes :func:`save_checkpoint_dict` files."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        save_checkpoint_dict(checkpoint, path)

    def load_checkpoint(self, path, map_location: Any | None = None, weights_only: bool | None = None) -> dict[str, Any]:
        return load_checkpoint_dict(path, map_location)

    def remove_checkpoint(self, path) -> None:
        Path(path).unlink(missing_ok=True)


class ExportsWeights(Protocol):
    """A LightningModule that writes its released weights (``model.safetensors`` + ``config.json``)."""

    def export_weights(self, run_dir: Path) -> None: ...


class PeriodicCheckpoint(Callback):
    """Every ``every_n_steps`` Lightning steps (0: never) and at the end of training: the Lightning state
    to ``path`` (``RUN/checkpoints/last.safetensors``; unless ``save_state`` is off) and the released
    weights to ``RUN/model.safetensors`` + ``config.json`` (through the LightningModule's
    ``export_weights(run_dir)``, on rank 0)."""

    def __init__(self, run_dir: Path, path: Path, every_n_steps: int, save_state: bool = True):
        self.run_dir = Path(run_dir)
        self.path = Path(path)
        self.every_n_steps = every_n_steps
        self.save_state = save_state
        self.last_saved = -1

    def _save(self, trainer, pl_module: ExportsWeights) -> None:
        if trainer.global_step == self.last_saved:
            return
        if self.save_state:
            trainer.save_checkpoint(self.path, weights_only=False)
        if trainer.is_global_zero:
            pl_module.export_weights(self.run_dir)
        self.last_saved = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.every_n_steps > 0 and trainer.global_step % self.every_n_steps == 0:
            self._save(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        self._save(trainer, pl_module)
