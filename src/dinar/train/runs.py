"""Training runs of stages 2 and 3 on disk: the run folder, safetensors checkpoints, the Trainer.

A run folder::

    RUN/
      run.json                      {"format": "dinar-run/1", "stage": "vq" | "diffusion", "preset", "model": {config},
                                     "train": {config}, "data": {...}}   written at the start, checked on resume
      model.safetensors, config.json  the released weights (the EMA weights for diffusion), :mod:`dinar.weights.format`
      checkpoints/last.safetensors  the full Lightning state (weights, optimizers, loop counters) for resume
      tb/                           TensorBoard logs (tensorboardX)

Lightning checkpoints as safetensors + JSON, never pickles (DESIGN.md: files users get are
safetensors, JSON, PNG, MP4 or GLB).

:class:`SafetensorsCheckpointIO` is a Lightning ``CheckpointIO`` plugin: ``trainer.save_checkpoint``
and ``trainer.fit(ckpt_path=...)`` go through it. A checkpoint dict (weights, optimizer states,
loop counters, callback states) is split into its tensors, stored as safetensors, and the rest,
stored as JSON in the safetensors header (``metadata["checkpoint"]``) with tensors replaced by
references. Types that JSON would lose are tagged: dicts with non-string keys (optimizer states are
keyed by parameter index) and tuples (Adam's ``betas``). Anything else (a pickled object) is refused
with the key that holds it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

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


# ----------------------------------------------------------------------------------------------------
# The run folder
# ----------------------------------------------------------------------------------------------------

RUN_FORMAT = "dinar-run/1"
RUN_FILE = "run.json"
LAST_CHECKPOINT = "checkpoints/last.safetensors"


def prepare_run(run_dir: str | Path, info: dict[str, Any], resume: bool = True) -> Path | None:
    """Create ``run_dir`` and its ``run.json``; return the checkpoint to resume from, if any.

    With ``resume`` and an existing checkpoint, the stored ``stage`` and ``model`` config must equal
    ``info``'s (a run cannot silently change networks); training settings may change (e.g. more steps).
    Without ``resume``, an existing checkpoint is an error rather than something to overwrite.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    last = run_dir / LAST_CHECKPOINT
    run_file = run_dir / RUN_FILE
    info = {"format": RUN_FORMAT, **info}
    if last.exists():
        if not resume:
            raise ValueError(f"{run_dir}: holds a checkpoint; pass --resume to continue it or choose another --out")
        old = json.loads(run_file.read_text()) if run_file.exists() else {}
        for key in ("stage", "model"):
            if old.get(key) != info.get(key):
                raise ValueError(f"{run_file}: the run was started with another {key}; choose another --out to start afresh")
    with atomic_path(run_file) as tmp:
        tmp.write_text(json.dumps(info, indent=1) + "\n")
    return last if last.exists() else None


class PeriodicCheckpoint(Callback):
    """Every ``every_n_steps`` optimizer steps and at the end of training: the Lightning state to
    ``checkpoints/last.safetensors`` and the released weights to ``model.safetensors`` + ``config.json``
    (through the LightningModule's ``export_weights(run_dir)``)."""

    def __init__(self, run_dir: Path, every_n_steps: int):
        self.run_dir = Path(run_dir)
        self.every_n_steps = every_n_steps
        self.last_saved = -1

    def _save(self, trainer, pl_module) -> None:
        if trainer.global_step == self.last_saved:
            return
        trainer.save_checkpoint(self.run_dir / LAST_CHECKPOINT, weights_only=False)
        if trainer.is_global_zero:
            pl_module.export_weights(self.run_dir)
        self.last_saved = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.every_n_steps > 0 and trainer.global_step % self.every_n_steps == 0:
            self._save(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        self._save(trainer, pl_module)


def make_trainer(
    run_dir: Path,
    steps: int,
    val_every: int,
    checkpoint_every: int,
    device: str = "auto",
    devices: int = 1,
    precision: str = "32-true",
    log_every: int = 10,
    progress: bool = True,
    find_unused_parameters: bool = False,
    limit_val_batches: int | None = None,
):
    """A Lightning Trainer for a run folder: ``steps`` optimizer steps, validation every ``val_every``
    steps, safetensors checkpoints, TensorBoard under ``RUN/tb``; DDP when ``devices > 1``."""
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import TensorBoardLogger

    from dinar.utils import resolve_device

    accelerator = "gpu" if resolve_device(device).type == "cuda" else "cpu"
    if devices > 1:
        strategy = "ddp_find_unused_parameters_true" if find_unused_parameters else "ddp"
    else:
        strategy = "auto"
    return pl.Trainer(
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        precision=precision,
        max_steps=steps,
        max_epochs=-1,
        val_check_interval=val_every,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        limit_val_batches=limit_val_batches,
        log_every_n_steps=log_every,
        logger=TensorBoardLogger(save_dir=str(run_dir), name="tb", version=""),
        callbacks=[PeriodicCheckpoint(run_dir, checkpoint_every)],
        plugins=[SafetensorsCheckpointIO()],
        enable_checkpointing=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
        default_root_dir=str(run_dir),
    )
