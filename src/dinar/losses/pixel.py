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
