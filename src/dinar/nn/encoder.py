"""Encoder E of the avatar generation model (paper 3.1, appendix C, figure 12a).

A StyleGAN2 discriminator whose input is RGB ⊕ segmentation mask ⊕ one channel of Gaussian noise
("noise is introduced to provide additional freedom to the generative model") and whose head outputs a
vector of length 512 instead of a realism score. The vector is the style code of the generator G.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .config import EncoderConfig
from .stylegan2 import EqualLinear, stylegan2_channels
from .stylegan2_discriminator import DiscriminatorBody


@dataclass
class EncoderOutput:
    """What E returns."""

    code: Tensor
    """[B, code_dim] style code of the input person (w of the generator)."""


class Encoder(nn.Module):
    """E: image [B, 3, S, S] in [-1, 1] ⊕ mask [B, 1, S, S] in [0, 1] ⊕ noise [B, 1, S, S] → 512-d code."""

    IN_CHANNELS = 3 + 1 + 1  # RGB, segmentation mask, noise

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.body = DiscriminatorBody(
            self.IN_CHANNELS, config.image_size, config.channel_base, config.channel_max,
            blur_kernel=config.blur_kernel, lr_mul=config.lr_mul,
        )
        c4 = stylegan2_channels(4, config.channel_base, config.channel_max)
        self.head = nn.Sequential(
            EqualLinear(self.body.out_features, c4, lr_mul=config.lr_mul, activation=True),
            EqualLinear(c4, config.code_dim, lr_mul=config.lr_mul),
        )

    def forward(self, rgb: Tensor, mask: Tensor, noise: Tensor | None = None) -> EncoderOutput:
        """rgb: [B, 3, S, S] in [-1, 1]; mask: [B, 1, S, S] in [0, 1]; noise: [B, 1, S, S] or None (fresh
        N(0, 1); pass zeros or a seeded tensor for a deterministic code)."""
        b, _, s, _ = rgb.shape
        assert rgb.shape[1:] == (3, self.config.image_size, self.config.image_size), f"rgb {list(rgb.shape)}"
        assert mask.shape == (b, 1, s, s), f"mask {list(mask.shape)} does not match rgb {list(rgb.shape)}"
        if noise is None:
            noise = torch.randn_like(mask)
        assert noise.shape == (b, 1, s, s), f"noise {list(noise.shape)}"
        x = torch.cat([rgb, mask.to(rgb.dtype), noise.to(rgb.dtype)], dim=1)
        return EncoderOutput(code=self.head(self.body(x)))
