"""Non-saturating GAN losses and the R1 penalty (paper 3.1 eq. 4, 4.1; StyleGAN2's lazy R1).

Stage 1 uses λ4 = 0.01 for the generator's adversarial term and λ5 = 0.1 for R1, applied lazily every
16 discriminator steps. With lazy regularization the penalty is scaled by the interval, as in StyleGAN2:
``d_loss_reg = (λ5 / 2) · r1_penalty(real_pred, real_img) · 16`` on those steps only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def g_nonsaturating_loss(fake_pred: Tensor) -> Tensor:
    """Generator loss ``E[softplus(−D(G(z)))] = −E[log σ(D(fake))]`` (Goodfellow et al.'s non-saturating form)."""
    return F.softplus(-fake_pred).mean()


def d_logistic_loss(real_pred: Tensor, fake_pred: Tensor) -> Tensor:
    """Discriminator loss ``E[softplus(−D(real))] + E[softplus(D(fake))]``."""
    return F.softplus(-real_pred).mean() + F.softplus(fake_pred).mean()


def r1_penalty(real_pred: Tensor, real_img: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): ``E_x ‖∇_x D(x)‖²`` on real images.

    real_img must require grad and real_pred = D(real_img) must be computed from it; the graph is kept
    (``create_graph=True``) so the penalty can be back-propagated into D. The caller applies γ/2.
    """
    (grad,) = torch.autograd.grad(real_pred.sum(), real_img, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()
