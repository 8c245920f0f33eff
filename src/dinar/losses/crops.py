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


def body_patches(
    mask: Tensor,  # [B, 1, H, W] where the person is (the target's mask)
    size: int,
    generator: torch.Generator | None = None,
    face_box: Tensor | None = None,  # [B, 4] (x0, y0, x1, y1) pixel boxes of the face
    face_share: float = 0.0,
) -> Tensor:
    """[B, 2] integer corners (x0, y0) of ``size``² patches that show the person: each centred on a random
    pixel of its mask (anywhere when the mask is empty), or with probability ``face_share`` on the centre
    of its face box, then moved inside the image. Training on patches (:mod:`dinar.nn.config`, ``hd``)."""
    b, _, h, w = mask.shape
    if size > h or size > w:
        raise ValueError(f"patch size {size} is larger than the images ({h} x {w})")
    corners = []
    for i in range(b):
        pixels = (mask[i, 0] > 0.5).nonzero()  # [M, 2] (y, x)
        if face_box is not None and float(torch.rand((), generator=generator)) < face_share:
            box = face_box[i].tolist()
            cy, cx = (box[1] + box[3]) / 2, (box[0] + box[2]) / 2
        elif len(pixels):
            cy, cx = pixels[int(torch.randint(len(pixels), (), generator=generator))].tolist()
        else:
            cy, cx = float(torch.randint(h, (), generator=generator)), float(torch.randint(w, (), generator=generator))
        corners.append([min(max(round(cx - size / 2), 0), w - size), min(max(round(cy - size / 2), 0), h - size)])
    return torch.tensor(corners, dtype=torch.long)
