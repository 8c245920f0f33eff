"""A texture T between its own size and the coarser size of the inpainting stages (``hd``: 256² ↔ 64²).

Stages 2-3 (VQ, diffusion) may work on a coarser T than stage 1 makes: they invent what no photo shows,
and eq. 6 then puts every photo texel back at full resolution (paper 3.4). Going down, the known
part must stay what Algorithm 1 would give at the coarse size, not a blend with the zeros of unknown
texels, so the RGB channels are averaged over the known texels of each block only::

    w       = mean of B_fill over the block                 (how much of it the photo saw)
    B_fill' = w >= 1/2,   B_smp' = mean(B_smp) >= 1/2
    T_rgb'  = Σ T_rgb·B_fill / Σ B_fill  on B_fill', 0 elsewhere
    T_gen'  = mean of T_gen                                 (dense: generated everywhere)

Going up is bilinear: the restored texture only fills where eq. 6 does not keep the photo's texels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dinar.texture.channels import FILLED, GENERATED, RGB, SAMPLED


def shrink_texture(texture: Tensor, size: int) -> Tensor:
    """``[B, 21, S, S]`` T → ``[B, 21, size, size]`` (module docstring); ``size`` must divide S."""
    s = texture.shape[-1]
    if s == size:
        return texture
    if s % size:
        raise ValueError(f"a {s}² texture cannot be shrunk to {size}² (not a divisor)")
    k = s // size
    filled = texture[:, FILLED]
    share = F.avg_pool2d(filled, k)
    known = (share >= 0.5).to(texture.dtype)
    rgb = F.avg_pool2d(texture[:, RGB] * filled, k) / share.clamp_min(1e-6) * known
    sampled = (F.avg_pool2d(texture[:, SAMPLED], k) >= 0.5).to(texture.dtype)
    generated = F.avg_pool2d(texture[:, GENERATED], k)
    return torch.cat([generated, rgb, sampled, known], dim=1)


def shrink_angles(angles: Tensor, size: int) -> Tensor:
    """``[B, 1, S, S]`` normal angles λ (eq. 5) → ``[B, 1, size, size]``: the block means."""
    s = angles.shape[-1]
    return angles if s == size else F.avg_pool2d(angles, s // size)


def grow_texture(texture: Tensor, size: int) -> Tensor:
    """``[B, C, s, s]`` → ``[B, C, size, size]``, bilinear (the restored texture, before eq. 6)."""
    if texture.shape[-1] == size:
        return texture
    return F.interpolate(texture, size=(size, size), mode="bilinear", align_corners=False)
