"""Stage 3's loss: the DDPM objective of the latent inpainter (paper eq. 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from torch import Tensor

from dinar.nn.diffusion import LatentInpainter, drop_condition


def diffusion_loss(
    model: LatentInpainter,
    scheduler: DDPMScheduler,
    target_latent: Tensor,  # [B, 6, s, s] T_c of the merged texture (unscaled)
    cond_latent: Tensor,  # [B, 6, s, s] T_c^j of the single-view texture (unscaled; rgb space: [B, 21, s, s] T^j)
    fill_mask: Tensor,  # [B, 1, S, S] B_fill^j
    generator: torch.Generator | None = None,
    timesteps: Tensor | None = None,  # [B] fixed steps (validation); random when None
    condition_dropout: float = 0.0,
) -> Tensor:
    """The DDPM objective (paper eq. 1): ``E_{t, ε} ‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t, c)‖²``; for a schedule
    with ``prediction_type="sample"`` the network's output is compared with x_0 instead of ε. A share
    ``condition_dropout`` of the samples sees a zeroed condition (classifier-free guidance's training)."""
    scale = model.latent_scale
    x0 = target_latent * scale
    B = x0.shape[0]
    noise_device = x0.device if generator is None else generator.device
    noise = torch.randn(x0.shape, generator=generator, device=noise_device, dtype=x0.dtype).to(x0.device)
    if timesteps is None:
        timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (B,), generator=generator, device=noise_device).to(x0.device)
    noisy = scheduler.add_noise(x0, noise, timesteps)
    condition = drop_condition(model.condition(cond_latent, fill_mask), condition_dropout, generator)
    pred = model(noisy, timesteps, condition).noise
    return F.mse_loss(pred, x0 if scheduler.config.prediction_type == "sample" else noise)
