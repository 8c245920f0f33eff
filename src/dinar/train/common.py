"""Pieces the training stages share that are not the trainer: frames → posed bodies, image grids and
PNGs of them. The trainer set-up (run folder, resume, device, precision, logs, checkpoints) is
:mod:`dinar.train.trainer`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dinar.geometry.camera import Camera
from dinar.images import write_png

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
