"""RGB texture sampling from the input photo through the UV-render: paper 3.1 and Algorithm 1 (appendix A).

Each used pixel ``(x, y)`` of the image carries a UV coordinate; its colour goes to texel
``(i, j) = (floor((1 - v) * S), floor(u * S))`` (clamped to ``S - 1``, see
:mod:`dinar.geometry.texture_lookup`). Algorithm 1 then

1. adds the colour to the 3 x 3 texel neighbourhood of ``(i, j)`` (sum ``T``, count ``C``;
   neighbours outside the texture are dropped) and divides ``T / C`` where ``C > 0``, which fills the
   small gaps left by the discrete pixel grid with the mean of nearby samples;
2. overwrites every texel hit directly by a pixel with that pixel's exact colour.

Tie rule (several pixels hitting the same texel in step 2): the literal loop keeps the last pixel in
raster order, which a parallel scatter cannot reproduce deterministically. We use the **mean** of the
pixels that hit the texel, in both the vectorized and the reference implementation (with one pixel
per texel, the usual case at 512^2 images and 256^2 textures, it is the paper's rule exactly).

``B_smp`` marks texels hit directly, ``B_fill`` texels with ``C > 0`` (sampled or gap-filled).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class TextureSample:
    """An RGB texture sampled from an image (paper 3.1, Algorithm 1)."""

    rgb: Tensor  # [B, C, S, S] T_rgb: exact colours on B_smp, neighbour means on B_fill - B_smp, 0 elsewhere
    sampled: Tensor  # [B, 1, S, S] B_smp, float 0/1: texels hit directly by a used pixel
    filled: Tensor  # [B, 1, S, S] B_fill, float 0/1: texels with a sample in their 3 x 3 neighbourhood


def texel_index(uv: Tensor, texture_size: int) -> tuple[Tensor, Tensor]:
    """Texel row ``floor((1 - v) * S)`` and column ``floor(u * S)``, clamped to ``[0, S - 1]``.

    ``uv [..., 2, H, W]`` -> two int64 tensors ``[..., H, W]``.
    """
    return _texel_of(uv[..., 0, :, :], uv[..., 1, :, :], texture_size)


def _texel_of(u: Tensor, v: Tensor, size: int) -> tuple[Tensor, Tensor]:
    row = torch.floor((1 - v) * size).long().clamp_(0, size - 1)
    col = torch.floor(u * size).long().clamp_(0, size - 1)
    return row, col


def used_pixels(uv: Tensor, mask: Tensor) -> Tensor:
    """Boolean ``[B, H, W]``: pixels with ``mask > 0.5`` and a foreground UV (``u, v >= 0``)."""
    return (mask[:, 0] > 0.5) & (uv[:, 0] >= 0) & (uv[:, 1] >= 0)


def _box3(x: Tensor) -> Tensor:
    """3 x 3 box sum of ``[B, C, S, S]`` with zero padding (two separable passes of shifted adds)."""
    x = F.pad(x, (1, 1, 1, 1))
    x = x[..., :, :-2] + x[..., :, 1:-1] + x[..., :, 2:]
    return x[..., :-2, :] + x[..., 1:-1, :] + x[..., 2:, :]


def sample_rgb_texture(
    image: Tensor,  # [B, C, H, W] (C = 3 for RGB; any C works)
    uv: Tensor,  # [B, 2, H, W] UV-render, -1 on background
    mask: Tensor,  # [B, 1, H, W] pixels to use: foreground minus the occlusion band
    texture_size: int,
) -> TextureSample:
    """Algorithm 1 (paper appendix A), vectorized and batched; tie rule: mean (module docstring).

    Step 1 is a scatter of each pixel's colour into its own texel (sums ``T0`` and counts ``C0``)
    followed by a 3 x 3 box sum, which equals scattering into the 3 x 3 neighbourhood. Differentiable
    with respect to ``image``.
    """
    B, C, H, W = image.shape
    if uv.shape != (B, 2, H, W) or mask.shape != (B, 1, H, W):
        raise ValueError(f"expected uv [B, 2, H, W] and mask [B, 1, H, W] for image {tuple(image.shape)}, got {tuple(uv.shape)}, {tuple(mask.shape)}")
    S = texture_size
    used = used_pixels(uv, mask).view(-1).nonzero()[:, 0]  # [M] flat pixel indices into B * H * W
    b, p = used // (H * W), used % (H * W)
    uv_used = uv.reshape(B, 2, H * W)[b, :, p]  # [M, 2]
    row, col = _texel_of(uv_used[:, 0], uv_used[:, 1], S)
    texel = (b * S + row) * S + col  # [M] into B * S * S
    colour = image.reshape(B, C, H * W).transpose(1, 2)[b, p]  # [M, C]

    # Direct hits: per-texel colour sums and counts (the texels of the second loop).
    sums = image.new_zeros(B * S * S, C).index_add_(0, texel, colour)
    hits = image.new_zeros(B * S * S).index_add_(0, texel, torch.ones_like(texel, dtype=image.dtype))
    sums = sums.view(B, S, S, C).permute(0, 3, 1, 2)  # [B, C, S, S]
    hits = hits.view(B, 1, S, S)

    # First loop: T and C over the 3 x 3 neighbourhood = box sums of the direct hits (zero padding
    # drops neighbours outside the texture).
    T = _box3(sums)
    count = _box3(hits)
    rgb = T / count.clamp_min(1)  # T = 0 where C = 0
    # Second loop: exact values (the mean of the pixels hitting the texel).
    sampled = hits > 0
    rgb = torch.where(sampled, sums / hits.clamp_min(1), rgb)
    return TextureSample(rgb=rgb, sampled=sampled.to(image.dtype), filled=(count > 0).to(image.dtype))
