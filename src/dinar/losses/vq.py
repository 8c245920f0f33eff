"""Stage 2's losses and reports on the texture VQGAN (paper 3.3, 4.1): the per-group reconstruction loss,
VQGAN's adaptive adversarial weight, codebook usage and the reconstruction error of each channel group
(with :func:`pooled_psnr`, the one PSNR of :mod:`dinar.losses.pixel` over a whole batch)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dinar.nn.config_stage23 import CHANNEL_GROUPS, VQLossConfig

from .pixel import psnr


def reconstruction_loss(pred: Tensor, target: Tensor, config: VQLossConfig) -> tuple[Tensor, dict[str, Tensor]]:
    """``sum_g w_g · mean_g(l1 · |T − T_res| + l2 · (T − T_res)²)`` over the channel groups gen/rgb/masks.

    Each group is averaged over its own channels, so the 3 RGB channels weigh as much as the 16
    generated ones. Returns the total and the per-group terms (for logging).
    """
    terms = {}
    total = pred.new_zeros(())
    for (name, sl), w in zip(CHANNEL_GROUPS.items(), config.group_weights):
        diff = pred[:, sl] - target[:, sl]
        terms[name] = config.l1 * diff.abs().mean() + config.l2 * diff.pow(2).mean()
        total = total + w * terms[name]
    return total, terms


def adaptive_weight(rec_loss: Tensor, g_loss: Tensor, last_layer: Tensor, max_weight: float = 1e4) -> Tensor:
    """VQGAN's ``λ = ‖∇_L rec‖ / (‖∇_L adv‖ + 1e-4)`` at the decoder's last layer L (Esser et al. eq. 7).

    Balances the adversarial gradient against the reconstruction gradient; detached, clamped to
    ``[0, max_weight]``. Both losses must come from the same graph that produced ``last_layer``'s use.
    """
    rec_grad = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_grad = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    return (rec_grad.norm() / (g_grad.norm() + 1e-4)).clamp(0.0, max_weight).detach()


# ----------------------------------------------------------------------------------------------------
# Reports
# ----------------------------------------------------------------------------------------------------


@dataclass
class CodebookUsage:
    """How much of the codebook a set of latents uses."""

    used: int  # codes used at least once
    total: int  # codebook size K
    perplexity: float  # exp(entropy of the code histogram); K when all codes are equally used

    @property
    def fraction(self) -> float:
        return self.used / self.total


def codebook_usage(indices: Tensor, num_embeddings: int) -> CodebookUsage:
    """Usage report of codebook ``indices`` (any shape, int64) out of ``num_embeddings`` codes."""
    counts = torch.bincount(indices.reshape(-1).long(), minlength=num_embeddings).double()
    p = counts / counts.sum().clamp_min(1)
    entropy = -(p[p > 0] * p[p > 0].log()).sum()
    return CodebookUsage(used=int((counts > 0).sum()), total=num_embeddings, perplexity=float(entropy.exp()))


def pooled_psnr(pred: Tensor, target: Tensor, mask: Tensor | None = None, peak: float = 2.0) -> float:
    """One PSNR (dB) over all samples and channels of ``pred`` against ``target`` (``[B, C, H, W]``), as if
    the batch were one image: :func:`dinar.losses.pixel.psnr` of the batch flattened into one sample, over
    ``mask`` (``[B, 1, H, W]``) when given."""
    b, c, h, w = pred.shape
    pooled = [x.reshape(1, b * c, h, w) for x in (pred, target)]
    weight = None if mask is None else mask.expand(b, c, h, w).reshape(1, b * c, h, w)
    return float(psnr(*pooled, weight, peak=peak)[0])


@dataclass
class GroupErrors:
    """Reconstruction error of one channel group."""

    l1: float  # mean absolute error
    mse: float  # mean squared error
    psnr: float  # 10 log10(range² / mse), range = max − min of the target group (∞ if exact; else at most 100 dB)


def reconstruction_errors(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> dict[str, GroupErrors]:
    """Error per channel group (gen 0:16, rgb 16:19, masks 19:21) of T_res against T.

    ``mask [B, 1, S, S]`` restricts the averages (e.g. to the texels of the UV islands). PSNR uses
    the target group's value range (2 for RGB in [-1, 1], 1 for the masks).
    """
    out = {}
    for name, sl in CHANNEL_GROUPS.items():
        p, t = pred[:, sl].double(), target[:, sl].double()
        w = torch.ones_like(t[:, :1]) if mask is None else mask.double()
        n = (w.sum() * t.shape[1]).clamp_min(1)
        diff = (p - t) * w
        l1 = float(diff.abs().sum() / n)
        mse = float(diff.pow(2).sum() / n)
        value_range = float(t.max() - t.min()) or 1.0
        db = float("inf") if mse == 0 else pooled_psnr(p, t, None if mask is None else w, peak=value_range)
        out[name] = GroupErrors(l1=l1, mse=mse, psnr=db)
    return out
