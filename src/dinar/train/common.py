"""Pieces every training stage shares: device and precision choice, run folders, resume, loggers,
exported weights (safetensors + JSON config), frames → posed bodies, image grids.

Two kinds of files come out of a run folder ``RUN/``:

- ``RUN/checkpoints/last.safetensors`` — the Lightning state (networks, optimizers, loop state) for
  ``--resume``, as safetensors (:mod:`dinar.train.runs`);
- ``RUN/model.safetensors`` + ``RUN/config.json`` — the inference artifact, written through
  :mod:`dinar.weights` (the one format of every network).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dinar.geometry.camera import Camera
from dinar.images import write_png

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.safetensors"  # Lightning state through runs.SafetensorsCheckpointIO: no pickles

PRECISIONS = ("auto", "32", "bf16-mixed", "16-mixed")


# -- device and precision ----------------------------------------------------------------------------
def resolve_accelerator(device: str = "auto") -> str:
    """Lightning accelerator for ``--device auto|cpu|cuda`` (auto: CUDA when a GPU is visible)."""
    if device == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    if device in ("cuda", "gpu"):
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
        return "gpu"
    if device == "cpu":
        return "cpu"
    raise ValueError(f"--device must be auto, cpu or cuda, got {device!r}")


def resolve_precision(precision: str, accelerator: str) -> str:
    """Lightning precision for ``--precision``: ``auto`` = bf16 mixed on GPUs that have it, fp16 mixed
    on older GPUs, full float32 on CPU (CPU autocast is slower than float32 for these convolutions)."""
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


# -- run folder --------------------------------------------------------------------------------------
def last_checkpoint(run_dir: str | Path) -> Path | None:
    """``RUN/checkpoints/last.safetensors`` if a previous run wrote it, else None."""
    path = Path(run_dir) / CHECKPOINT_DIR / LAST_CHECKPOINT
    return path if path.is_file() else None


def make_logger(run_dir: str | Path):
    """TensorBoard logger writing to ``RUN/tensorboard`` (tensorboardX backend; resumes append to it)."""
    from lightning.pytorch.loggers import TensorBoardLogger

    return TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version="", default_hp_metric=False)


# -- frames → posed bodies -------------------------------------------------------------------------
FRAME_KEYS = ("rgb", "mask", "pose", "shape", "global_orient", "transl", "K", "R", "t")


def resize_frame(frame: Mapping[str, Any], size: int) -> dict[str, Any]:
    """A batched frame (dataset dict) with images resized to ``size`` × ``size`` and K scaled to match.

    Square images only (the models are square); area filtering when shrinking, bilinear when growing.
    """
    out = dict(frame)
    h, w = frame["rgb"].shape[-2:]
    if h != w:
        raise ValueError(f"stage-1 images must be square, got {w}x{h}")
    if h == size:
        return out
    mode = {"mode": "area"} if size < h else {"mode": "bilinear", "align_corners": False}
    out["rgb"] = F.interpolate(frame["rgb"], size=(size, size), **mode)
    out["mask"] = F.interpolate(frame["mask"], size=(size, size), **mode)
    out["K"] = frame_camera(frame).resized(size, size).K.to(frame["K"].dtype)
    return out


def frame_camera(frame: Mapping[str, Any]) -> Camera:
    """The batched camera of a frame dict (``K``, ``R``, ``t``, image size from ``rgb``)."""
    h, w = frame["rgb"].shape[-2:]
    return Camera(K=frame["K"].float(), R=frame["R"].float(), t=frame["t"].float(), width=int(w), height=int(h))


def frame_view(body: torch.nn.Module, frame: Mapping[str, Any]):
    """:class:`dinar.nn.avatar_model.BodyView` of a batched frame dict: its body posed by its fit."""
    from dinar.nn.avatar_model import pose_body

    return pose_body(body, frame["pose"], frame["shape"], frame["global_orient"], frame["transl"], frame_camera(frame))


# -- images --------------------------------------------------------------------------------------
def to_unit(image: Tensor) -> Tensor:
    """[-1, 1] → [0, 1]; 1-channel images become grey RGB."""
    image = image.detach().float()
    if image.shape[-3] == 1:
        return image.expand(*image.shape[:-3], 3, *image.shape[-2:]).clamp(0, 1)
    return ((image + 1) / 2).clamp(0, 1)


def image_grid(columns: Sequence[Tensor], max_rows: int = 8) -> Tensor:
    """[3, R·H, C·W] in [0, 1]: one row per sample, one column per tensor.

    columns: [B, 3, H, W] images in [-1, 1] or [B, 1, H, W] masks in [0, 1].
    """
    rows = min(max_rows, columns[0].shape[0])
    cols = [to_unit(c[:rows]).cpu() for c in columns]
    return torch.cat([torch.cat(list(c), dim=1) for c in cols], dim=2)


def save_png(image: Tensor, path: str | Path) -> None:
    """Write a [3, H, W] image in [0, 1] as an 8-bit PNG (:func:`dinar.images.write_png`)."""
    write_png(path, (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
