"""Crops for the losses: LPIPS on a random crop (paper 4.1: 256² of the 512² images)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def random_crop(imgs: Sequence[Tensor], size: int, generator: torch.Generator | None = None) -> list[Tensor]:
    """Crop the same random ``size`` × ``size`` window out of every tensor in ``imgs``.

    imgs: tensors [B, C_i, H, W] with equal B, H, W (e.g. prediction, target, mask). Each sample b gets
    its own window, identical across the tensors, so pred and target stay aligned. Returns the crops
    [B, C_i, size, size] in the order given. ``generator`` makes the windows reproducible.
    """
    if not imgs:
        return []
    b, _, h, w = imgs[0].shape
    for x in imgs:
        assert x.shape[0] == b and x.shape[2:] == (h, w), f"random_crop: {list(x.shape)} vs {list(imgs[0].shape)}"
    if size > h or size > w:
        raise ValueError(f"crop size {size} is larger than the images ({h} x {w})")
    ys = torch.randint(0, h - size + 1, (b,), generator=generator).tolist()
    xs = torch.randint(0, w - size + 1, (b,), generator=generator).tolist()
    return [
        torch.stack([x[i, :, y0 : y0 + size, x0 : x0 + size] for i, (y0, x0) in enumerate(zip(ys, xs))])
        for x in imgs
    ]
