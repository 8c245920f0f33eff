"""Pieces every training stage shares: device and precision choice, run folders, resume, loggers,
exported weights (safetensors + JSON config), frames → posed bodies, image grids.

Two kinds of files come out of a run folder ``RUN/``:

- ``RUN/checkpoints/*.ckpt`` — Lightning's own checkpoints (networks, optimizers, loop state) for
  ``--resume``. They are torch pickles written by the user's own run; Lightning 2.6 loads them with
  ``torch.load``'s default ``weights_only=True`` (torch >= 2.6), which they pass because every
  hyper-parameter we store is a plain dict of numbers and strings (tested). Only a checkpoint from
  some other code that stores objects would need ``weights_only=False``: :func:`fit_with_resume`
  accepts ``weights_only`` for that, and it should only be used on files you made yourself.
- ``RUN/model.safetensors`` + ``RUN/config.json`` — the inference artifact: tensors only, and a JSON
  config that rebuilds the network exactly. The safetensors header records the SHA-256 of the
  config, and :func:`load_weights` refuses a config that is not the one the weights were saved with.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dinar.geometry.camera import Camera
from dinar.utils import atomic_path

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.safetensors"  # Lightning state through runs.SafetensorsCheckpointIO: no pickles
WEIGHTS_FORMAT = "dinar-weights/1"
DISCRIMINATOR_FILE = "discriminator.safetensors"
"""Stage 1's discriminator beside its export (the inference pipeline's RGB tuning reads it)."""
DISCRIMINATOR_KIND = "dinar-stage1-discriminator"

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


# -- exported weights ----------------------------------------------------------------------------
def config_digest(config: Mapping[str, Any]) -> str:
    """SHA-256 of a config's canonical JSON (sorted keys, no whitespace)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def save_weights(directory: str | Path, state_dict: Mapping[str, Tensor], config: Mapping[str, Any], kind: str, extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``DIR/model.safetensors`` (tensors) and ``DIR/config.json`` ({format, kind, config, ...extra}).

    The safetensors header carries ``kind`` and the config's digest, checked by :func:`load_weights`.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    meta = {"format": WEIGHTS_FORMAT, "kind": kind, "config_sha256": config_digest(config)}
    with atomic_path(directory / WEIGHTS_FILE) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    doc = {"format": WEIGHTS_FORMAT, "kind": kind, "config": dict(config)}
    if extra:
        doc.update(extra)
    with atomic_path(directory / CONFIG_FILE) as tmp:
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
    return directory / WEIGHTS_FILE


def load_weights(directory: str | Path, kind: str) -> tuple[dict[str, Tensor], dict[str, Any], dict[str, Any]]:
    """Read ``DIR/model.safetensors`` and ``DIR/config.json``; check the kind and the config digest.

    Returns (state dict on CPU, the ``config`` dict, the whole JSON document).
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    directory = Path(directory)
    weights, config_path = directory / WEIGHTS_FILE, directory / CONFIG_FILE
    for path in (weights, config_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (an exported model folder holds {WEIGHTS_FILE} and {CONFIG_FILE})")
    doc = json.loads(config_path.read_text())
    with safe_open(str(weights), framework="pt") as f:
        meta = f.metadata() or {}
    if doc.get("kind") != kind or meta.get("kind") != kind:
        raise ValueError(f"{directory}: holds a {doc.get('kind') or meta.get('kind')!r} model, expected {kind!r}")
    if meta.get("config_sha256") != config_digest(doc["config"]):
        raise ValueError(
            f"{config_path}: this config is not the one {weights.name} was saved with (SHA-256 differs); "
            "re-export the model instead of editing config.json"
        )
    return load_file(str(weights)), doc["config"], doc


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
    K = frame["K"].clone()
    K[:, :2] *= size / h  # pixel centres at +0.5 scale with the image (OpenCV convention)
    out["K"] = K
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
    """Write a [3, H, W] image in [0, 1] as an 8-bit PNG."""
    from PIL import Image

    array = (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
