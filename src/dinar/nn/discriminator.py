"""Discriminator D for the non-saturating adversarial loss with R1 (paper 3.1, eq. 4; 4.1).

The StyleGAN2 residual discriminator: RGB (optionally ⊕ mask) → one realism logit per image.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .config import DiscriminatorConfig
from .stylegan2 import EqualLinear, stylegan2_channels
from .stylegan2_discriminator import DiscriminatorBody


@dataclass
class DiscriminatorOutput:
    """What D returns."""

    score: Tensor
    """[B, 1] realism logits (real > 0 > fake once trained)."""


class Discriminator(nn.Module):
    """D: image [B, in_channels, S, S] in [-1, 1] → [B, 1] logit."""

    def __init__(self, config: DiscriminatorConfig):
        super().__init__()
        self.config = config
        self.body = DiscriminatorBody(
            config.in_channels, config.image_size, config.channel_base, config.channel_max,
            blur_kernel=config.blur_kernel, mbstd_group=config.mbstd_group,
        )
        c4 = stylegan2_channels(4, config.channel_base, config.channel_max)
        self.head = nn.Sequential(
            EqualLinear(self.body.out_features, c4, activation=True),
            EqualLinear(c4, 1),
        )

    def forward(self, image: Tensor) -> DiscriminatorOutput:
        """image: [B, in_channels, S, S] (RGB in [-1, 1], then the mask in [0, 1] when in_channels = 4)."""
        return DiscriminatorOutput(score=self.head(self.body(image)))
