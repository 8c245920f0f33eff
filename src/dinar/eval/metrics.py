"""The paper's image metrics (section 4.3, Tables 1–3), per image, offline, with real weights.

One entry point, :func:`compute_metrics`, returns ``{name: Tensor[B]}``; the set-level KID is
:func:`dinar.eval.kid.kid`. Images are RGB in [0, 1], ``[B, 3, H, W]``.

Keys of the result, and what each is:

- ``psnr`` (↑, dB): 10·log10(1 / MSE) over all pixels and channels of the (composited) frames. MSE is
  floored at 1e-10 (``PSNR_MSE_FLOOR``), so identical images give 100 dB rather than inf and dataset means
  stay finite. The function is :func:`dinar.losses.pixel.psnr`, the one PSNR of dinar, imported here.
- ``psnr_masked`` (↑, dB, only with a mask): the same with the MSE averaged over the mask only
  (mask-weighted), so it does not depend on how much of the frame the person fills; NaN for an empty mask.
- ``ms_ssim`` (↑): multi-scale SSIM (Wang et al. 2003) by ``pytorch-msssim`` (valid Gaussian filtering,
  σ = 1.5, per-channel, 5 scales with the standard weights 0.0448, 0.2856, 0.3001, 0.2363, 0.1333; the
  per-scale terms pass a ReLU). Its standard 11-tap window needs the smaller side > 16·10 = 160 px
  (the window must still fit after 4 halvings). For smaller images we keep the 5 scales and the weights
  and shrink the window to the largest odd k with side > 16·(k − 1) (128² → k = 7; 64² → 3) and name
  the result ``ms_ssim_win{k}``, so numbers taken with different windows never share a column. Below
  33 px MS-SSIM is not computed (ValueError). torchmetrics' MS-SSIM is not used: with a Gaussian window
  it ignores ``kernel_size`` (the window always spans ±3.5σ) and reflection-pads, so it cannot shrink it.
- ``lpips_alex`` (↓): LPIPS v0.1 with the AlexNet backbone (:mod:`dinar.losses.lpips`), the variant the
  LPIPS authors recommend as a metric (the paper cites LPIPS without naming the net; training uses VGG).
- ``dists`` (↓): DISTS (:mod:`dinar.eval.dists`).
- ``id_<embedding>`` (↑): cosine similarity of the person-crop embeddings (:mod:`dinar.eval.identity`);
  ``id_mobilenetv2`` by default. The paper's "ReID ↓" used FlipReID, which cannot be had offline.

Masks — the person region. The paper compares avatar renders with ground-truth frames for which it has
person masks (section 4.2) without stating how the background is treated; our protocol: when a
``mask`` [B, 1, H, W] in [0, 1] is given, both images are composited over the same constant
``background`` outside it, ``x·m + bg·(1 − m)`` (white by default, as the stage-1 training composites),
before every metric; pass the union of the predicted and ground-truth person masks
(:func:`person_region`) so neither a missing limb nor a spurious one goes unseen. Pixels outside the
mask therefore cannot change any metric. ``psnr``, ``ms_ssim``, ``lpips_alex`` and ``dists`` then see
the full composited frames (a fixed geometry for the multi-scale and network metrics; background pixels
count as matches, as in full-frame benchmarks), ``psnr_masked`` only the mask, and the identity score the
square box around the mask. Without a mask, the images are compared as given.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from dinar.losses.pixel import PSNR_MSE_FLOOR, psnr
from dinar.nn.renderer import composite

from .families import ALL_METRICS, MetricFamily
from .identity import IdentityEmbedding, identity_similarity

__all__ = [
    "ALL_METRICS", "MS_SSIM_BETAS", "MS_SSIM_KERNEL", "MS_SSIM_SIGMA", "PSNR_MSE_FLOOR", "MetricFamily", "cached_network",
    "composite", "compute_metrics", "ms_ssim", "ms_ssim_kernel_size", "ms_ssim_name", "person_region", "psnr",
]
MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_KERNEL = 11
MS_SSIM_SIGMA = 1.5


def person_region(pred_mask: Tensor, target_mask: Tensor) -> Tensor:
    """Union (max) of the predicted and ground-truth person masks, [B, 1, H, W]: the evaluation mask."""
    return torch.maximum(pred_mask, target_mask)


def ms_ssim_kernel_size(height: int, width: int, n_scales: int = len(MS_SSIM_BETAS)) -> int:
    """The Gaussian window of MS-SSIM for an image size: 11 where it fits, else the largest odd k that still
    fits at the coarsest of ``n_scales`` scales (smaller side > 2^(n_scales − 1)·(k − 1))."""
    div = 2 ** (n_scales - 1)
    side = min(height, width)
    for k in range(MS_SSIM_KERNEL, 2, -2):
        if side > div * (k - 1):
            return k
    raise ValueError(f"MS-SSIM with {n_scales} scales needs images of at least {2 * div + 1} px, got {height}×{width}")


def ms_ssim_name(height: int, width: int) -> str:
    """Result key of MS-SSIM at this size: ``ms_ssim`` with the standard window, else ``ms_ssim_win{k}``."""
    k = ms_ssim_kernel_size(height, width)
    return "ms_ssim" if k == MS_SSIM_KERNEL else f"ms_ssim_win{k}"


def ms_ssim(pred: Tensor, target: Tensor) -> Tensor:
    """[B] MS-SSIM of images in [0, 1] with the window of :func:`ms_ssim_kernel_size` (pytorch-msssim)."""
    from pytorch_msssim import ms_ssim as _ms_ssim

    k = ms_ssim_kernel_size(*pred.shape[-2:])
    out = _ms_ssim(
        pred.float(), target.float(), data_range=1.0, size_average=False,
        win_size=k, win_sigma=MS_SSIM_SIGMA, weights=list(MS_SSIM_BETAS),
    )
    return out.float()


@functools.lru_cache(maxsize=16)
def cached_network(kind: Literal["lpips", "dists", "identity", "inception"], device: str) -> nn.Module:
    """One frozen, pretrained metric network per (kind, device) for the process (built on first use)."""
    if kind == "lpips":
        from dinar.losses.lpips import LPIPS

        net: nn.Module = LPIPS("alex")
    elif kind == "dists":
        from .dists import DISTS

        net = DISTS()
    elif kind == "identity":
        from .identity import MobileNetV2Embedding

        net = MobileNetV2Embedding()
    elif kind == "inception":
        from .kid import inception_network

        return inception_network(device)
    else:
        raise ValueError(f"unknown metric network {kind!r}")
    return net.to(device)


def _check_images(pred: Tensor, target: Tensor, mask: Tensor | None) -> None:
    if pred.ndim != 4 or pred.shape[1] != 3 or pred.shape != target.shape:
        raise ValueError(f"pred and target must both be [B, 3, H, W], got {list(pred.shape)} and {list(target.shape)}")
    for name, x in (("pred", pred), ("target", target)):
        lo, hi = float(x.min()), float(x.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ValueError(f"{name} must be in [0, 1] (got [{lo:.3f}, {hi:.3f}]); map [-1, 1] images with (x + 1) / 2")
    if mask is not None and (mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[0] != pred.shape[0] or mask.shape[2:] != pred.shape[2:]):
        raise ValueError(f"mask must be [B, 1, H, W] matching the images, got {list(mask.shape)}")


@torch.no_grad()
def compute_metrics(
    pred: Tensor,
    target: Tensor,
    mask: Tensor | None = None,
    which: Sequence[MetricFamily] = ALL_METRICS,
    *,
    background: float = 1.0,
    identity_embedding: IdentityEmbedding | None = None,
) -> dict[str, Tensor]:
    """Per-image metrics of ``pred`` against ``target`` ([B, 3, H, W] in [0, 1]) → ``{key: [B] float32}``.

    ``mask`` [B, 1, H, W]: the person region (see the module docstring: both images are composited over
    ``background`` outside it). ``which``: metric families to compute, a subset of ``ALL_METRICS``.
    ``identity_embedding``: any module with ``name``, ``input_size`` and crops → embeddings (default
    MobileNetV2, key ``id_mobilenetv2``). Networks are loaded once per process and device.
    """
    unknown = set(which) - set(ALL_METRICS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {ALL_METRICS}")
    _check_images(pred, target, mask)
    device = str(pred.device)
    pred, target = pred.float(), target.float()
    if mask is not None:
        mask = mask.float().to(pred.device)
        pred, target = composite(pred, mask, background), composite(target, mask, background)
    out: dict[str, Tensor] = {}
    if "psnr" in which:
        out["psnr"] = psnr(pred, target)
        if mask is not None:
            out["psnr_masked"] = psnr(pred, target, mask)
    if "ms_ssim" in which:
        out[ms_ssim_name(*pred.shape[-2:])] = ms_ssim(pred, target)
    if "lpips" in which:
        out["lpips_alex"] = cached_network("lpips", device)(pred * 2 - 1, target * 2 - 1).float()
    if "dists" in which:
        out["dists"] = cached_network("dists", device)(pred, target).float()
    if "identity" in which:
        embedding = identity_embedding if identity_embedding is not None else cached_network("identity", device)
        out[f"id_{embedding.name}"] = identity_similarity(pred, target, embedding, mask, background=background)
    return out
