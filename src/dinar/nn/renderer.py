"""Neural renderer θ (paper 3.1 eq. 3, appendix C, figure 12b): rasterized texture → RGB + mask.

``I_rend = θ(R(T, M(p_target, s), C_target))``. The renderer takes three images of the target view:

- the rasterized 21-channel texture T = T_gen ⊕ T_rgb ⊕ B_smp ⊕ B_fill (zero off the body),
- the UV render (2 channels: the texture coordinates of each pixel, in the rasterizer's convention),
- the UV mask (1 channel: 1 where the body covers the pixel).

Each goes through its own branch of two 3×3 convs with BatchNorm and leaky ReLU (21, 8 and 4 channels);
the concatenation enters a U-Net of 3 levels (stride-2 convs down, ResNet blocks at the bottom,
bilinear upsampling with concatenation skips up); two conv heads predict the RGB image (tanh, [-1, 1])
and the mask (logits; sigmoid for probabilities). With ``rgb_skip`` (the ``tiny`` and ``small`` presets,
not the paper) the RGB head's output is a residual on the rasterized T_rgb channels inside the tanh.

Layer choices follow the official release (equalized-lr convs, which the paper's Adam lr of 2e-3
assumes; reflection padding for the 7×7 and ResNet convs; BatchNorm). One difference: the release
applies the first texture branch in texture space, before sampling; the paper (appendix C) applies it
to the rasterized image, and so do we, which keeps rasterization out of the network.

Output H and W must be divisible by 2**n_levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import RendererConfig
from .stylegan2 import EqualConv2d, FusedLeakyReLU


@dataclass
class RenderOutput:
    """What θ returns."""

    rgb: Tensor
    """[B, 3, H, W] rendered colour in [-1, 1] (tanh), before compositing over a background."""
    mask: Tensor
    """[B, 1, H, W] foreground probability in [0, 1] (max with the UV mask when ``hard_mask``)."""
    mask_logits: Tensor
    """[B, 1, H, W] the mask head's logits (sigmoid(mask_logits) is the soft mask)."""

    def composite(self, background: Tensor | float = -1.0) -> Tensor:
        """[B, 3, H, W] ``rgb · mask + background · (1 − mask)``, all in [-1, 1] (-1 = black)."""
        return composite(self.rgb, self.mask, background)


def composite(rgb: Tensor, mask: Tensor, background: Tensor | float = -1.0) -> Tensor:
    """Alpha-composite rgb [B, 3, H, W] over background ([B or 1, 3, H, W] or a scalar), mask [B, 1, H, W]."""
    return rgb * mask + background * (1.0 - mask)


def _conv_bn_act(in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1, reflect: bool = False) -> list[nn.Module]:
    pad = kernel_size // 2
    layers: list[nn.Module] = [nn.ReflectionPad2d(pad)] if reflect else []
    layers += [
        EqualConv2d(in_ch, out_ch, kernel_size, stride=stride, padding=0 if reflect else pad, bias=False),
        nn.BatchNorm2d(out_ch),
        FusedLeakyReLU(out_ch),
    ]
    return layers


def _branch(in_ch: int, out_ch: int) -> nn.Sequential:
    """An input branch: two (3×3 conv → BatchNorm → leaky ReLU)."""
    return nn.Sequential(*_conv_bn_act(in_ch, out_ch), *_conv_bn_act(out_ch, out_ch))


class ResnetBlock(nn.Module):
    """x + (pad → 3×3 conv → BN → leaky ReLU → pad → 3×3 conv → BN)(x), reflection padding."""

    def __init__(self, channels: int):
        super().__init__()
        self.block = nn.Sequential(
            *_conv_bn_act(channels, channels, reflect=True),
            nn.ReflectionPad2d(1),
            EqualConv2d(channels, channels, 3, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


class UNet(nn.Module):
    """U-Net of ``n_levels`` levels with ResNet blocks at the bottom and concatenation skips."""

    def __init__(self, in_ch: int, out_ch: int, ngf: int, n_levels: int, n_blocks: int, outer_kernel: int = 7):
        super().__init__()
        self.start = nn.Sequential(*_conv_bn_act(in_ch, ngf, kernel_size=outer_kernel, reflect=True))
        self.downs = nn.ModuleList(
            nn.Sequential(*_conv_bn_act(ngf * 2**i, ngf * 2 ** (i + 1), stride=2)) for i in range(n_levels)
        )
        bottom = ngf * 2**n_levels
        self.blocks = nn.Sequential(*[ResnetBlock(bottom) for _ in range(n_blocks)])
        # Up level i sees cat(x, skip) with 2 * ngf * 2^(n-i) channels and halves the width.
        self.ups = nn.ModuleList(
            nn.Sequential(*_conv_bn_act(2 * ngf * 2 ** (n_levels - i), ngf * 2 ** (n_levels - i - 1)))
            for i in range(n_levels)
        )
        self.final = nn.Sequential(nn.ReflectionPad2d(outer_kernel // 2), EqualConv2d(ngf, out_ch, outer_kernel))

    def forward(self, x: Tensor) -> Tensor:
        x = self.start(x)
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = self.blocks(x)
        for up, skip in zip(self.ups, reversed(skips)):
            x = torch.cat([x, skip], dim=1)
            x = up(F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False))
        return self.final(x)


def _head(channels: int, n_convs: int, out_ch: int) -> nn.Sequential:
    """BN → leaky ReLU → n × (3×3 conv → BN → leaky ReLU) → 3×3 conv to ``out_ch`` (with bias)."""
    layers: list[nn.Module] = [nn.BatchNorm2d(channels), FusedLeakyReLU(channels)]
    for _ in range(n_convs):
        layers += _conv_bn_act(channels, channels)
    layers.append(EqualConv2d(channels, out_ch, 3, padding=1))
    return nn.Sequential(*layers)


class Renderer(nn.Module):
    """θ: (rasterized texture, UV render, UV mask) → RenderOutput(rgb, mask, mask_logits)."""

    def __init__(self, config: RendererConfig):
        super().__init__()
        self.config = config
        c = config
        self.texture_branch = _branch(c.texture_channels, c.texture_branch_channels)
        self.uv_branch = _branch(c.uv_channels, c.uv_branch_channels)
        self.uv_mask_branch = _branch(c.uv_mask_channels, c.uv_mask_branch_channels)
        unet_in = c.texture_branch_channels + c.uv_branch_channels + c.uv_mask_branch_channels
        self.unet = UNet(unet_in, c.head_channels, c.ngf, c.n_levels, c.n_blocks, c.outer_kernel)
        self.rgb_head = _head(c.head_channels, c.rgb_head_convs, 3)
        self.mask_head = _head(c.head_channels, c.mask_head_convs, 1)

    def forward(self, rasterized: Tensor, uv: Tensor, uv_mask: Tensor) -> RenderOutput:
        """rasterized: [B, 21, H, W] texture T sampled at each pixel (0 off the body);
        uv: [B, 2, H, W] UV render; uv_mask: [B, 1, H, W] in {0, 1}."""
        c = self.config
        b, _, h, w = rasterized.shape
        assert rasterized.shape[1] == c.texture_channels, f"rasterized {list(rasterized.shape)}"
        assert uv.shape == (b, c.uv_channels, h, w), f"uv {list(uv.shape)} vs rasterized {list(rasterized.shape)}"
        assert uv_mask.shape == (b, c.uv_mask_channels, h, w), f"uv_mask {list(uv_mask.shape)}"
        assert h % 2**c.n_levels == 0 and w % 2**c.n_levels == 0, f"H, W must be divisible by {2**c.n_levels}"
        uv_mask = uv_mask.to(rasterized.dtype)
        x = torch.cat(
            [self.texture_branch(rasterized), self.uv_branch(uv.to(rasterized.dtype)), self.uv_mask_branch(uv_mask)],
            dim=1,
        )
        x = self.unet(x)
        head = self.rgb_head(x)
        if c.rgb_skip:  # T_rgb sits at channels [-5:-2] of T (eq. 2); 0 off the body and on unknown texels
            rgb_start = c.texture_channels - 5
            sampled_rgb = rasterized[:, rgb_start : rgb_start + 3].clamp(-0.995, 0.995)
            head = head + torch.atanh(sampled_rgb)
        rgb = torch.tanh(head)
        logits = self.mask_head(x)
        mask = torch.sigmoid(logits)
        if c.hard_mask:
            mask = torch.maximum(mask, uv_mask[:, :1])
        return RenderOutput(rgb=rgb, mask=mask, mask_logits=logits)
