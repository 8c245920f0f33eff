"""Combining textures: multi-view merging (paper 3.2, eq. 5) and keeping known texels (paper 3.4, eq. 6)."""

from __future__ import annotations

from dataclasses import dataclass

import kornia
import torch
from torch import Tensor


@dataclass
class MergedTexture:
    """Textures of N views blended texel by texel (paper eq. 5)."""

    texture: Tensor  # [..., C, S, S] sum_i w_i * T_i; 0 where no view covers the texel
    weights: Tensor  # [..., N, 1, S, S] w_i = softmax(lambda / tau) over covering views; 0 where not covering
    covered: Tensor  # [..., 1, S, S] float 0/1: texels at least one view covers


def merge_textures(
    textures: Tensor,  # [..., N, C, S, S] T^1 ... T^N (any leading batch dims, e.g. [B, N, C, S, S])
    angles: Tensor,  # [..., N, 1, S, S] lambda^i: per-texel frontality (cosine normal/camera, higher = more frontal)
    valid: Tensor | None = None,  # [..., N, 1, S, S] texels each T^i covers (e.g. its B_fill); None: all
    tau: float = 0.1,
) -> MergedTexture:
    """Texture merging, paper eq. 5: ``T = sum_i T^i * w^i`` with ``w = softmax(lambda / tau)``.

    The softmax runs over the N views at each texel; a view that does not cover a texel gets logit
    ``-inf`` (weight 0), and a texel no view covers gets weight 0 everywhere and texture 0 (see
    ``covered``). ``tau`` sets how sharp the junctions between views are: small ``tau`` picks the most
    frontal view, large ``tau`` averages. The paper gives no value; 0.1 on cosines is our default.
    Differentiable with respect to ``textures`` and ``angles``.
    """
    if textures.dim() < 4 or angles.shape[:-3] != textures.shape[:-3] or angles.shape[-3] != 1 or angles.shape[-2:] != textures.shape[-2:]:
        raise ValueError(f"expected textures [..., N, C, S, S] and angles [..., N, 1, S, S], got {tuple(textures.shape)}, {tuple(angles.shape)}")
    if tau <= 0:
        raise ValueError(f"tau must be positive, got {tau}")
    valid = torch.ones_like(angles, dtype=torch.bool) if valid is None else valid.expand_as(angles) > 0.5
    covered = valid.any(dim=-4, keepdim=True)  # [..., 1, 1, S, S]
    logits = (angles / tau).masked_fill(~valid, float("-inf"))
    logits = logits.masked_fill(~covered, 0.0)  # keep the softmax finite on texels nobody covers
    weights = torch.softmax(logits, dim=-4) * covered
    texture = (weights * textures).sum(dim=-4)
    return MergedTexture(texture=texture, weights=weights, covered=covered.squeeze(-4).to(textures.dtype))


def eroded(mask: Tensor, texels: int) -> Tensor:
    """``[B, 1, S, S]`` ``mask`` eroded by a ``(2 texels + 1)²`` square: a texel stays only where every texel within
    ``texels`` of it (in each axis) is set. ``texels = 0`` returns it unchanged."""
    if texels <= 0:
        return mask
    kernel = torch.ones(2 * texels + 1, 2 * texels + 1, dtype=mask.dtype, device=mask.device)
    return kornia.morphology.erosion(mask, kernel)


def keep_known_texels(
    restored: Tensor,  # [B, C, S, S] T_res, the inpainted texture
    original: Tensor,  # [B, C, S, S] T^j, the texture sampled from the input view
    fill_mask: Tensor,  # [B, 1, S, S] B_fill^j
    erode: int = 0,
    blur: int = 0,
) -> Tensor:
    """Paper eq. 6: ``T = T_res * (1 - B_fill) + T^j * B_fill``, keeping every known texel.

    Optionally the mask is eroded by ``erode`` texels (a ``(2 erode + 1)^2`` square) and then
    blurred (Gaussian, kernel ``2 blur + 1``, sigma ``blur / 2``) so the border of the known region,
    where sampling is least reliable, blends into the restored texture. With ``erode = blur = 0`` the
    known texels survive exactly. Choose ``erode >= blur`` so the blur does not reach past the
    original mask.
    """
    if restored.shape != original.shape or fill_mask.shape != (original.shape[0], 1, *original.shape[-2:]):
        raise ValueError(f"expected restored/original [B, C, S, S] and fill_mask [B, 1, S, S], got {tuple(restored.shape)}, {tuple(original.shape)}, {tuple(fill_mask.shape)}")
    mask = (fill_mask > 0.5).to(original.dtype)
    mask = eroded(mask, erode)
    if blur > 0:
        mask = kornia.filters.gaussian_blur2d(mask, (2 * blur + 1, 2 * blur + 1), (blur / 2, blur / 2))
    return restored * (1 - mask) + original * mask
