"""StyleGAN2's residual discriminator trunk (ConvLayer, ResBlock, minibatch stddev), shared by the
stage-1 encoder E and the discriminator D (paper 3.1, app. C); layers from :mod:`dinar.nn.stylegan2`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dinar.nn.stylegan2 import (
    DEFAULT_BLUR_KERNEL,
    Blur,
    EqualConv2d,
    FusedLeakyReLU,
    stylegan2_channels,
)


class ConvLayer(nn.Module):
    """Discriminator conv: [blur + stride-2 when ``downsample``] → EqualConv2d → [fused leaky ReLU]."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        downsample: bool = False,
        blur_kernel: Sequence[float] = DEFAULT_BLUR_KERNEL,
        bias: bool = True,
        activate: bool = True,
        lr_mul: float = 1.0,
    ):
        super().__init__()
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2, p // 2))
            stride, padding = 2, 0
        else:
            self.blur = None
            stride, padding = 1, kernel_size // 2
        self.conv = EqualConv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding,
            bias=bias and not activate, lr_mul=lr_mul,
        )
        self.activate = FusedLeakyReLU(out_channels, bias=bias, lr_mul=lr_mul) if activate else None

    def forward(self, x: Tensor) -> Tensor:
        if self.blur is not None:
            x = self.blur(x)
        x = self.conv(x)
        return self.activate(x) if self.activate is not None else x


class ResBlock(nn.Module):
    """StyleGAN2 residual discriminator block: two 3×3 convs (the second 2x down) + 1×1 down skip, / sqrt 2."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        blur_kernel: Sequence[float] = DEFAULT_BLUR_KERNEL,
        lr_mul: float = 1.0,
    ):
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3, lr_mul=lr_mul)
        self.conv2 = ConvLayer(in_channels, out_channels, 3, downsample=True, blur_kernel=blur_kernel, lr_mul=lr_mul)
        self.skip = ConvLayer(
            in_channels, out_channels, 1, downsample=True, blur_kernel=blur_kernel, bias=False, activate=False,
            lr_mul=lr_mul,
        )

    def forward(self, x: Tensor) -> Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2.0)


def minibatch_stddev(x: Tensor, group_size: int, num_features: int = 1) -> Tensor:
    """Append the minibatch standard-deviation feature map(s) (StyleGAN / StyleGAN2 discriminators).

    x: [B, C, H, W] → [B, C + num_features, H, W]; groups of ``min(group_size, B)`` samples (shrunk until
    it divides B).
    """
    b, c, h, w = x.shape
    g = min(group_size, b)
    while b % g:
        g -= 1
    y = x.reshape(g, -1, num_features, c // num_features, h, w)
    y = torch.sqrt(y.var(0, unbiased=False) + 1e-8)  # [B/g, F, C/F, H, W]
    y = y.mean((2, 3, 4)).reshape(-1, num_features, 1, 1)  # [B/g, F, 1, 1]
    y = y.repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)


class DiscriminatorBody(nn.Module):
    """StyleGAN2 residual discriminator trunk, image → flat 4×4 features (shared by E and D).

    1×1 ``FromRGB`` conv on ``in_channels`` → one ResBlock per octave down to 4×4 → [minibatch stddev]
    → 3×3 conv → flatten to ``[B, channels(4) * 16]``. The heads (an MLP to 512-d for E, to a score for D)
    live in the networks that use it.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        channel_base: int,
        channel_max: int,
        blur_kernel: Sequence[float] = DEFAULT_BLUR_KERNEL,
        lr_mul: float = 1.0,
        mbstd_group: int = 0,
    ):
        super().__init__()
        log_size = int(math.log2(image_size))
        if 2**log_size != image_size or image_size < 8:
            raise ValueError(f"image_size must be a power of two >= 8, got {image_size}")
        self.in_channels = in_channels
        self.image_size = image_size
        self.mbstd_group = mbstd_group
        ch = lambda res: stylegan2_channels(res, channel_base, channel_max)
        self.from_rgb = ConvLayer(in_channels, ch(image_size), 1, lr_mul=lr_mul)
        self.blocks = nn.Sequential(
            *[ResBlock(ch(2**i), ch(2 ** (i - 1)), blur_kernel, lr_mul=lr_mul) for i in range(log_size, 2, -1)]
        )
        final_in = ch(4) + (1 if mbstd_group > 0 else 0)
        self.final_conv = ConvLayer(final_in, ch(4), 3, lr_mul=lr_mul)
        self.out_features = ch(4) * 4 * 4

    def forward(self, x: Tensor) -> Tensor:  # [B, in, S, S] -> [B, channels(4) * 16]
        b, c, h, w = x.shape
        assert (c, h, w) == (self.in_channels, self.image_size, self.image_size), (
            f"expected [B, {self.in_channels}, {self.image_size}, {self.image_size}], got {list(x.shape)}"
        )
        out = self.blocks(self.from_rgb(x))
        if self.mbstd_group > 0:
            out = minibatch_stddev(out, self.mbstd_group)
        return self.final_conv(out).reshape(b, -1)
