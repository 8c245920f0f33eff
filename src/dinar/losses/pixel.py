"""Pixel losses of stage 1 (paper 3.1 eq. 4, 4.1): L2 on images, soft Dice on masks."""

from __future__ import annotations

from torch import Tensor


def l2(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean squared error, optionally restricted to ``mask`` (λ1 = 2.2 in the paper).

    pred, target: [B, C, H, W]; mask: [B, 1, H, W] in [0, 1] or None. With a mask the squared error is
    multiplied by it and still averaged over all pixels (as ``MSE(pred·m, target·m)`` of the official
    release), so the loss does not grow when the masked area shrinks.
    """
    assert pred.shape == target.shape, f"l2: pred {list(pred.shape)} vs target {list(target.shape)}"
    err = (pred - target).pow(2)
    if mask is not None:
        err = err * mask
    return err.mean()


def dice(pred: Tensor, target: Tensor, eps: float = 1e-6) -> Tensor:
    """Soft Dice loss ``1 − (2 Σ p·t + ε) / (Σ p + Σ t + ε)`` per sample, averaged over the batch.

    pred, target: [B, 1, H, W] (or any [B, ...]) in [0, 1]. Identical masks give 0 (two empty masks
    too), disjoint masks give 1 − ε / (Σ p + Σ t + ε) ≈ 1.
    """
    assert pred.shape == target.shape, f"dice: pred {list(pred.shape)} vs target {list(target.shape)}"
    p = pred.flatten(1)
    t = target.to(pred.dtype).flatten(1)
    inter = (p * t).sum(1)
    total = p.sum(1) + t.sum(1)
    return (1.0 - (2.0 * inter + eps) / (total + eps)).mean()


PSNR_MSE_FLOOR = 1e-10
"""MSE floor of :func:`psnr` relative to the squared peak: identical images score 100 dB, so means over
a dataset stay finite."""


def psnr(pred: Tensor, target: Tensor, mask: Tensor | None = None, peak: float = 1.0) -> Tensor:
    """[B] PSNR in dB, ``10·log10(peak² / MSE)``, of ``pred`` against ``target`` ([B, C, H, W]).

    ``peak`` is the value range (1 for images in [0, 1], 2 for [-1, 1]). With ``mask`` (broadcastable
    to the images, e.g. [B, 1, H, W]) the squared error is averaged over the mask, weighted by it; an
    empty mask gives NaN. The MSE is floored at ``PSNR_MSE_FLOOR · peak²`` (100 dB). The one PSNR of
    dinar: training logs, the texture VQ's report and the benchmark all call it.
    """
    import torch

    se = (pred.double() - target.double()).pow(2) / peak**2
    if mask is None:
        mse = se.flatten(1).mean(1)
    else:
        weight = mask.double().expand_as(se)
        total = weight.flatten(1).sum(1)
        mse = (se * weight).flatten(1).sum(1) / total
        mse = torch.where(total > 0, mse, torch.full_like(mse, float("nan")))
    return (-10 * torch.log10(mse.clamp_min(PSNR_MSE_FLOOR))).float()
