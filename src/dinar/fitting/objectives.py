"""The fitter's objectives as pure tensor functions: robust (Geman-McClure) keypoint reprojection and the
two silhouette terms (fitted points inside the person mask, the mask's contour covered by the body)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


def gmof(residual: Tensor, sigma: float) -> Tensor:
    """Geman-McClure robust penalty of a distance: ``sigma^2 r^2 / (sigma^2 + r^2)``."""
    sq = residual.square()
    return sigma**2 * sq / (sigma**2 + sq)


def project(points: Tensor, K: Tensor) -> Tensor:
    """Camera-frame ``points [B, N, 3]`` -> pixels ``[B, N, 2]`` with intrinsics ``K [3, 3]``."""
    pix = points @ K.T
    return pix[..., :2] / pix[..., 2:].clamp_min(1e-3)


def keypoint_loss(pred: Tensor, target: Tensor, weight: Tensor, sigma: float, scale: float) -> Tensor:
    """Robust weighted reprojection error, ``pred [B, K, 2]``, ``target [K, 2]``, ``weight [K]`` -> ``[B]``."""
    dist = (pred - target).norm(dim=-1) * scale
    return (gmof(dist, sigma) * weight).sum(-1) / weight.sum().clamp_min(1e-6)


@dataclass
class SilhouetteTarget:
    """A person mask turned into what the distance-transform silhouette loss needs."""

    outside_distance: Tensor  # [1, 1, H, W] pixels from each pixel to the nearest mask pixel (0 inside)
    valid: Tensor  # [1, 1, H, W] 1 where the image has pixels: nothing is known past a photo's edge
    contour: Tensor  # [M, 2] pixel coordinates of mask-boundary pixel centres (not along the photo's edge)

    @classmethod
    def from_mask(cls, mask: Tensor, max_contour_points: int, valid: Tensor | None = None) -> SilhouetteTarget:
        from scipy import ndimage

        from dinar.geometry.outline import outline

        fg = mask.detach().cpu().numpy() >= 0.5
        ok = np.ones_like(fg) if valid is None else valid.detach().cpu().numpy() >= 0.5
        dist = ndimage.distance_transform_edt(~fg) if fg.any() else np.full(fg.shape, float(max(fg.shape)))
        # A body cut by the photo's edge continues past it: that edge is not the person's outline.
        rows, cols = np.nonzero(outline(fg) & ~_touches_edge(fg, ok))
        step = max(1, math.ceil(len(rows) / max_contour_points))
        contour = np.stack([cols[::step] + 0.5, rows[::step] + 0.5], -1).astype(np.float32)
        t = torch.from_numpy
        return cls(t(dist.astype(np.float32))[None, None], t(ok.astype(np.float32))[None, None], t(contour))


def _touches_edge(fg: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Mask pixels next to a pixel the image does not have (past the photo's edge or the crop's)."""
    from scipy import ndimage

    missing = np.pad(~ok, 1, constant_values=True)  # the crop's own border counts as missing too
    near = ndimage.binary_dilation(missing, structure=np.ones((3, 3), bool))[1:-1, 1:-1]
    return fg & near


def silhouette_losses(points: Tensor, target: SilhouetteTarget, sigma: float, scale: float, cover_sigma: float | None = None) -> tuple[Tensor, Tensor]:
    """Distance-transform silhouette agreement of projected surface samples ``points [B, N, 2]``.

    Returns (inside, cover), each ``[B]``: the robust mean distance of samples outside the mask,
    and of mask-contour pixels to the nearest sample (minus a 2-pixel sampling tolerance).
    """
    _, _, H, W = target.outside_distance.shape
    grid = torch.stack([points[..., 0] / W * 2 - 1, points[..., 1] / H * 2 - 1], -1)[:, None]  # [B, 1, N, 2]
    dt = torch.nn.functional.grid_sample(
        target.outside_distance.expand(points.shape[0], -1, -1, -1), grid, mode="bilinear", padding_mode="border", align_corners=False
    )[:, 0, 0]
    off = (-points[..., 0]).clamp_min(0) + (points[..., 0] - W).clamp_min(0) + (-points[..., 1]).clamp_min(0) + (points[..., 1] - H).clamp_min(0)
    with torch.no_grad():  # samples past the photo's edge pay nothing: the photo does not show them
        seen = torch.nn.functional.grid_sample(
            target.valid.expand(points.shape[0], -1, -1, -1), grid, mode="nearest", padding_mode="border", align_corners=False
        )
    inside = (gmof((dt + off) * scale, sigma) * seen[:, 0, 0]).mean(-1)
    if target.contour.shape[0] == 0:
        return inside, torch.zeros_like(inside)
    contour = target.contour[None].expand(points.shape[0], -1, -1)
    with torch.no_grad():  # which sample is nearest needs no gradient; the distance to it does
        index = torch.cdist(contour, points).argmin(-1)  # [B, M]
    nearest = (contour - points.gather(1, index[..., None].expand(-1, -1, 2))).norm(dim=-1)  # [B, M]
    cover = gmof((nearest * scale - 2.0).clamp_min(0), sigma if cover_sigma is None else cover_sigma).mean(-1)
    return inside, cover
