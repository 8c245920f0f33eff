"""The one trainer set-up of every stage: the run folder, resume, device, precision, DDP, TensorBoard and
checkpoints, as one Lightning Trainer (:func:`make_trainer`).

A run folder::

    RUN/
      run.json                        {"format": "dinar-run/1", "stage": "avatar" | "vq" | "diffusion", "preset",
                                       "model": {config}, "train": {config}, "data": {...}}
                                       written at the start, checked on resume
      model.safetensors, config.json  the released weights (:mod:`dinar.weights`; the EMA weights for diffusion)
      checkpoints/last.safetensors    the full Lightning state (weights, optimizers, loop counters) for
                                      ``--resume``, as safetensors (:mod:`dinar.train.checkpoints`)
      tensorboard/                    TensorBoard logs (tensorboardX backend; resumes append to them)

Cheap to import (torch and Lightning load when a trainer is built), so the ``dinar`` commands can
take :data:`PRECISIONS` from here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUN_FORMAT = "dinar-run/1"
RUN_FILE = "run.json"
REPORT_FILE = "report.json"
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = f"{CHECKPOINT_DIR}/last.safetensors"  # Lightning state through checkpoints.SafetensorsCheckpointIO: no pickles
TENSORBOARD_DIR = "tensorboard"

PRECISIONS = ("auto", "32", "bf16-mixed", "16-mixed")
"""``--precision`` choices; Lightning's own name ``32-true`` is taken for ``32`` too."""


# -- device and precision ----------------------------------------------------------------------------
def resolve_accelerator(device: str = "auto") -> str:
    """Lightning accelerator for ``--device auto|cpu|cuda`` (auto: CUDA when a GPU is visible)."""
    from dinar.utils import resolve_device

    kind = str(device).split(":")[0]
    if kind not in ("auto", "cpu", "cuda", "gpu"):
        raise ValueError(f"--device must be auto, cpu or cuda, got {device!r}")
    return "gpu" if resolve_device("cuda" if kind == "gpu" else device).type == "cuda" else "cpu"


def resolve_precision(precision: str, accelerator: str) -> str:
    """Lightning precision for ``--precision``: ``auto`` = bf16 mixed on GPUs that have it, fp16 mixed
    on older GPUs, full float32 on CPU (CPU autocast is slower than float32 for these convolutions)."""
    import torch

    if precision == "32-true":
        precision = "32"
    if precision not in PRECISIONS:
        raise ValueError(f"--precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "32":
        return "32-true"
    if precision != "auto":
        if accelerator == "cpu" and precision == "16-mixed":
            raise ValueError("fp16 mixed precision needs a GPU; use --precision bf16-mixed or 32 on CPU")
        return precision
    if accelerator == "gpu":
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def make_strategy(devices: int, num_nodes: int = 1, find_unused_parameters: bool = False):
    """Lightning's DDP when more than one process trains, else ``"auto"``.

    DDP launches one process per device by re-running the command (or under torchrun / SLURM, which set
    the ranks), so it works from the ``dinar`` command line and across nodes; gloo on CPU, NCCL on GPUs.
    GAN stages need ``find_unused_parameters=True``: each optimizer step leaves the other network unused.
    """
    if devices * num_nodes <= 1:
        return "auto"
    from lightning.pytorch.strategies import DDPStrategy

    return DDPStrategy(find_unused_parameters=find_unused_parameters)


def make_logger(run_dir: str | Path):
    """TensorBoard logger writing to ``RUN/tensorboard`` (tensorboardX backend; resumes append to it)."""
    from lightning.pytorch.loggers import TensorBoardLogger

    return TensorBoardLogger(save_dir=str(run_dir), name=TENSORBOARD_DIR, version="", default_hp_metric=False)


# -- run folder --------------------------------------------------------------------------------------
def last_checkpoint(run_dir: str | Path) -> Path | None:
    """``RUN/checkpoints/last.safetensors`` if a previous run wrote it, else None."""
    path = Path(run_dir) / LAST_CHECKPOINT
    return path if path.is_file() else None


def prepare_run(run_dir: str | Path, info: dict[str, Any], resume: bool = False,
                read_model: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Path | None:
    """Create ``run_dir`` and its ``run.json``; return the checkpoint to resume from (None: a fresh run).

    ``resume`` needs a checkpoint, and a checkpoint needs ``resume`` (it is never overwritten by a new
    run). A resumed run keeps the ``stage`` and ``model`` config that ``run.json`` records (a run cannot
    silently change networks); training settings may change (e.g. more steps). ``read_model`` reads the
    recorded ``model`` as today's config would (e.g. through ``from_dict``, so that a field added since the
    run started takes its default) before the two are compared.
    """
    from dinar.utils import atomic_path

    run_dir = Path(run_dir)
    last = last_checkpoint(run_dir)
    run_file = run_dir / RUN_FILE
    info = {"format": RUN_FORMAT, **info}
    if last is not None and not resume:
        raise ValueError(f"{run_dir}: holds a checkpoint; pass --resume to continue it or choose another --out")
    if resume and last is None:
        raise FileNotFoundError(f"--resume: no {LAST_CHECKPOINT} in {run_dir}")
    if last is not None and run_file.is_file():  # (a run folder of an older dinar may lack run.json)
        old = json.loads(run_file.read_text())
        if read_model is not None and isinstance(old.get("model"), dict):
            old["model"] = read_model(old["model"])
        for key in ("stage", "model"):
            if old.get(key) != info.get(key):
                raise ValueError(f"{run_file}: the run was started with another {key} config ({old.get(key)}), the options now give "
                                 f"{info.get(key)}; resume with the same preset and model options, or choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(run_file) as tmp:
        tmp.write_text(json.dumps(info, indent=1) + "\n")
    return last


def write_report(run_dir: str | Path, report: dict[str, Any]) -> Path:
    """A held-out report as ``RUN/report.json``."""
    from dinar.utils import atomic_path

    path = Path(run_dir) / REPORT_FILE
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(report, indent=1) + "\n")
    return path


# -- the Trainer -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainerSettings:
    """How a stage's Lightning Trainer runs: where it writes, for how long, on what."""

    run_dir: Path
    max_steps: int
    """Lightning steps: optimizer steps (two per stage-1 iteration, G and D)."""
    checkpoint_every: int
    """Lightning steps between checkpoints and exports (0: only at the end)."""
    val_every: int | None = None
    """Training batches between validations; None: no validation."""
    val_batches: int | None = None
    """Validation batches per validation; None: all."""
    log_every: int = 10
    device: str = "auto"
    devices: int = 1
    num_nodes: int = 1
    precision: str = "auto"
    max_minutes: float | None = None
    """Stop (checkpoint and export) after this much training time, counted over the whole run."""
    find_unused_parameters: bool = False
    """DDP: GAN stages leave one network unused in each optimizer step."""
    sync_batchnorm: bool = False
    """SyncBatchNorm under DDP on GPUs (on CPU each process keeps its own statistics)."""
    save_state: bool = True
    """Write ``checkpoints/last.safetensors`` for ``--resume``; off: only the exported weights."""
    progress: bool = True


def make_trainer(settings: TrainerSettings):
    """The Lightning Trainer of a run folder (module docstring): ``settings.max_steps`` steps, validation
    every ``val_every`` batches, safetensors checkpoints and exports by
    :class:`~dinar.train.checkpoints.PeriodicCheckpoint`, TensorBoard under ``RUN/tensorboard``, the
    accelerator of ``--device``, the precision of ``--precision``, DDP when more than one process trains."""
    import lightning.pytorch as pl

    from dinar.train.checkpoints import PeriodicCheckpoint, SafetensorsCheckpointIO

    s = settings
    run_dir = Path(s.run_dir)
    accelerator = resolve_accelerator(s.device)
    validation: dict[str, Any] = {"limit_val_batches": 0}
    if s.val_every is not None:
        validation = {"val_check_interval": s.val_every, "check_val_every_n_epoch": None, "limit_val_batches": s.val_batches}
    return pl.Trainer(
        accelerator=accelerator, devices=s.devices, num_nodes=s.num_nodes,
        strategy=make_strategy(s.devices, s.num_nodes, s.find_unused_parameters),
        precision=resolve_precision(s.precision, accelerator),
        sync_batchnorm=s.sync_batchnorm and s.devices * s.num_nodes > 1 and accelerator == "gpu",
        max_steps=s.max_steps, max_epochs=-1, max_time={"minutes": s.max_minutes} if s.max_minutes else None,
        num_sanity_val_steps=0, **validation,
        log_every_n_steps=s.log_every, logger=make_logger(run_dir),
        callbacks=[PeriodicCheckpoint(run_dir, run_dir / LAST_CHECKPOINT, s.checkpoint_every, s.save_state)],
        plugins=[SafetensorsCheckpointIO()], enable_checkpointing=False,
        enable_progress_bar=s.progress, enable_model_summary=False, default_root_dir=str(run_dir),
    )
