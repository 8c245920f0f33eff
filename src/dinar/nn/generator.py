"""Generator G of the avatar generation model (paper 3.1, appendix C).

The StyleGAN2 synthesis network, turned from an RGB image generator into a neural-texture generator:
``T_gen = G(E(I_rgb))`` with L = 16 channels at the texture size (256² in the paper), as in StylePeople.

The 512-d code from E is used directly as the intermediate latent w and broadcast to every layer
(``n_mapping = 0``, as in the official release: appendix C feeds "this vector" to the generator, and the
encoder head already is a learned MLP, so a mapping network would only add a second one). A StyleGAN2
mapping network can be put in front with ``GeneratorConfig.n_mapping > 0``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from .config import GeneratorConfig
from .stylegan2 import (
    ConstantInput,
    MappingNetwork,
    StyledConv,
    ToTexture,
    stylegan2_channels,
)

NoiseMode = Literal["random", "const", "none"]


@dataclass
class GeneratorOutput:
    """What G returns."""

    texture: Tensor
    """[B, out_channels, T, T] generated neural texture T_gen (unbounded, linear output)."""
    w: Tensor
    """[B, style_dim] the latent that modulated every layer (the code itself when n_mapping = 0)."""


class Generator(nn.Module):
    """G: code [B, style_dim] → T_gen [B, 16, T, T] through StyleGAN2 synthesis with ToTexture skips."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        size = config.texture_size
        self.log_size = int(math.log2(size))
        if 2**self.log_size != size or size < 8:
            raise ValueError(f"texture_size must be a power of two >= 8, got {size}")
        ch = lambda res: stylegan2_channels(res, config.channel_base, config.channel_max)
        sd, k = config.style_dim, config.blur_kernel
        self.mapping = MappingNetwork(sd, config.n_mapping, config.mapping_lr_mul) if config.n_mapping > 0 else None
        self.input = ConstantInput(ch(4))
        self.conv1 = StyledConv(ch(4), ch(4), 3, sd, blur_kernel=k)
        self.to_texture1 = ToTexture(ch(4), sd, config.out_channels, upsample=False, blur_kernel=k)
        self.convs = nn.ModuleList()
        self.to_textures = nn.ModuleList()
        in_ch = ch(4)
        for i in range(3, self.log_size + 1):
            out_ch = ch(2**i)
            self.convs.append(StyledConv(in_ch, out_ch, 3, sd, upsample=True, blur_kernel=k))
            self.convs.append(StyledConv(out_ch, out_ch, 3, sd, blur_kernel=k))
            self.to_textures.append(ToTexture(out_ch, sd, config.out_channels, blur_kernel=k))
            in_ch = out_ch
        self.num_noise = (self.log_size - 2) * 2 + 1
        # Fixed noise maps for noise_mode="const" (saved with the weights, so "const" is reproducible).
        for i in range(self.num_noise):
            res = 2 ** ((i + 5) // 2)
            self.register_buffer(f"noise_{i}", torch.randn(1, 1, res, res))

    def noise_shapes(self) -> list[tuple[int, int]]:
        """(H, W) of each per-layer noise map, in the order of ``forward(noise=...)``."""
        return [tuple(getattr(self, f"noise_{i}").shape[2:]) for i in range(self.num_noise)]

    def forward(
        self, code: Tensor, noise_mode: NoiseMode = "random", noise: Sequence[Tensor] | None = None
    ) -> GeneratorOutput:
        """code: [B, style_dim]. ``noise_mode``: fresh noise per call ("random", training), the stored
        maps ("const", reproducible inference) or none; ``noise`` (one [B or 1, 1, H, W] map per layer,
        see ``noise_shapes``) overrides it."""
        b, d = code.shape
        assert d == self.config.style_dim, f"code has {d} features, expected {self.config.style_dim}"
        if noise is None:
            if noise_mode == "random":
                noise = [None] * self.num_noise
            elif noise_mode == "const":
                noise = [getattr(self, f"noise_{i}") for i in range(self.num_noise)]
            elif noise_mode == "none":
                noise = [torch.zeros_like(getattr(self, f"noise_{i}")) for i in range(self.num_noise)]
            else:
                raise ValueError(f"noise_mode must be 'random', 'const' or 'none', got {noise_mode!r}")
        if len(noise) != self.num_noise:
            raise ValueError(f"expected {self.num_noise} noise maps, got {len(noise)}")
        w = self.mapping(code) if self.mapping is not None else code
        out = self.conv1(self.input(b), w, noise=noise[0])
        skip = self.to_texture1(out, w)
        for j, to_texture in enumerate(self.to_textures):
            out = self.convs[2 * j](out, w, noise=noise[2 * j + 1])
            out = self.convs[2 * j + 1](out, w, noise=noise[2 * j + 2])
            skip = to_texture(out, w, skip)
        return GeneratorOutput(texture=skip, w=w)
