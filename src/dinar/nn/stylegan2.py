"""StyleGAN2 building blocks in plain PyTorch (Karras et al. 2020, "Analyzing and Improving the Image
Quality of StyleGAN"), used by the stage-1 encoder E, generator G and discriminator D (paper 3.1, app. C).

Names follow rosinality's stylegan2-pytorch (``EqualConv2d``, ``ModulatedConv2d``, ``NoiseInjection``,
``StyledConv``, ``ToRGB`` → here ``ToTexture`` with C channels, ``ResBlock``), which is also what the
official DINAR release builds on. There are no custom CUDA ops, so everything runs on CPU and on any GPU:

- ``upfirdn2d`` (upsample by zero insertion, FIR filter, downsample) is padding + a depthwise ``conv2d``;
- the fused leaky ReLU is ``bias + leaky_relu(0.2)`` times the sqrt(2) gain, as plain ops.

Equalized learning rate: weights are stored as N(0, 1) / lr_mul and scaled at run time by
``lr_mul / sqrt(fan_in)``; biases are scaled by ``lr_mul``. With Adam this makes the effective step of
every layer independent of its fan-in, and ``lr_mul`` < 1 slows a layer down (mapping network: 0.01).
The learning rates of the paper (Adam 2e-3) assume these layers.

Tensors are NCHW. Channel widths per resolution come from ``stylegan2_channels``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
DEFAULT_BLUR_KERNEL = (1, 3, 3, 1)


def stylegan2_channels(resolution: int, channel_base: int, channel_max: int) -> int:
    """Feature width at a resolution: ``min(channel_max, channel_base // resolution)``.

    The official DINAR release (channel multiplier 2) is ``channel_base=16384, channel_max=256``:
    256 channels up to 64², 128 at 128², 64 at 256², 32 at 512².
    """
    return max(1, min(channel_max, channel_base // resolution))


# ----------------------------------------------------------------------------------------------------
# Pure tensor functions
# ----------------------------------------------------------------------------------------------------


def fused_leaky_relu(
    x: Tensor, bias: Tensor | None = None, negative_slope: float = LRELU_SLOPE, scale: float = LRELU_GAIN
) -> Tensor:
    """``leaky_relu(x + bias) * scale`` with the bias broadcast over dim 1 (channels / features)."""
    if bias is not None:
        x = x + bias.view(1, -1, *([1] * (x.ndim - 2)))
    return F.leaky_relu(x, negative_slope) * scale


def make_kernel(k: Sequence[float]) -> Tensor:
    """2-D FIR kernel from a separable 1-D one (outer product), normalised to sum 1."""
    t = torch.as_tensor(k, dtype=torch.float32)
    if t.ndim == 1:
        t = t[None, :] * t[:, None]
    return t / t.sum()


def upfirdn2d(x: Tensor, kernel: Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)) -> Tensor:
    """Upsample by zero insertion, pad, filter with ``kernel`` (true convolution), downsample.

    x: [B, C, H, W]; kernel: [kh, kw]; ``pad = (before, after)`` on both axes (negative crops).
    Output size per axis: ``(n * up + before + after - k) // down + 1``. Same maths as NVlabs'
    ``upfirdn2d`` op, written with ``F.pad`` and a depthwise ``F.conv2d``.
    """
    b, c, h, w = x.shape
    if up > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, (0, up - 1, 0, 0, 0, up - 1))
        x = x.reshape(b, c, h * up, w * up)
    p0, p1 = pad
    x = F.pad(x, (max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)))
    if p0 < 0 or p1 < 0:
        c0, c1 = max(-p0, 0), max(-p1, 0)
        x = x[:, :, c0 : x.shape[2] - c1, c0 : x.shape[3] - c1]
    kh, kw = kernel.shape
    weight = torch.flip(kernel, (0, 1)).to(dtype=x.dtype, device=x.device)
    weight = weight.view(1, 1, kh, kw).repeat(c, 1, 1, 1)
    return F.conv2d(x, weight, stride=down, groups=c)


# ----------------------------------------------------------------------------------------------------
# Layers
# ----------------------------------------------------------------------------------------------------


class FusedLeakyReLU(nn.Module):
    """Learned per-channel bias, leaky ReLU (slope 0.2), gain sqrt(2)."""

    def __init__(self, channels: int, bias: bool = True, lr_mul: float = 1.0):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None
        self.lr_mul = lr_mul

    def forward(self, x: Tensor) -> Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        return fused_leaky_relu(x, bias)


class Blur(nn.Module):
    """FIR low-pass ([1,3,3,1] by default) with explicit padding; ``upsample_factor`` keeps the gain."""

    def __init__(self, kernel: Sequence[float], pad: tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        k = make_kernel(kernel) * (upsample_factor**2)
        self.register_buffer("kernel", k, persistent=False)
        self.pad = pad

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x (``factor``) upsampling: zero insertion + FIR filter; the output is ``factor`` times larger."""

    def __init__(self, kernel: Sequence[float] = DEFAULT_BLUR_KERNEL, factor: int = 2):
        super().__init__()
        self.factor = factor
        k = make_kernel(kernel) * (factor**2)
        self.register_buffer("kernel", k, persistent=False)
        p = k.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class Downsample(nn.Module):
    """2x (``factor``) downsampling: FIR filter then decimation; the output is ``factor`` times smaller."""

    def __init__(self, kernel: Sequence[float] = DEFAULT_BLUR_KERNEL, factor: int = 2):
        super().__init__()
        self.factor = factor
        k = make_kernel(kernel)
        self.register_buffer("kernel", k, persistent=False)
        p = k.shape[0] - factor
        self.pad = ((p + 1) // 2, p // 2)

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, down=self.factor, pad=self.pad)


class EqualConv2d(nn.Module):
    """Conv2d with equalized learning rate (weights scaled by ``lr_mul / sqrt(fan_in)`` at run time)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size) / lr_mul)
        self.scale = lr_mul / math.sqrt(in_channels * kernel_size**2)
        self.bias = nn.Parameter(torch.full((out_channels,), float(bias_init))) if bias else None
        self.lr_mul = lr_mul
        self.stride = stride
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        return F.conv2d(x, self.weight * self.scale, bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, kernel_size={k}, stride={self.stride}, padding={self.padding}"


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate; ``activation=True`` adds the fused leaky ReLU."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activation: bool = False,
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)

    def extra_repr(self) -> str:
        o, i = self.weight.shape
        return f"{i}, {o}, lr_mul={self.lr_mul}, activation={self.activation}"


class PixelNorm(nn.Module):
    """Normalise each feature vector to unit RMS over dim 1."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class MappingNetwork(nn.Module):
    """StyleGAN2 mapping network z → w: PixelNorm, then ``n_layers`` EqualLinear + fused leaky ReLU."""

    def __init__(self, style_dim: int, n_layers: int = 8, lr_mul: float = 0.01):
        super().__init__()
        self.norm = PixelNorm()
        self.layers = nn.Sequential(
            *[EqualLinear(style_dim, style_dim, lr_mul=lr_mul, activation=True) for _ in range(n_layers)]
        )

    def forward(self, z: Tensor) -> Tensor:  # [B, style_dim] -> [B, style_dim]
        return self.layers(self.norm(z))


class ModulatedConv2d(nn.Module):
    """Style-modulated convolution with optional demodulation (StyleGAN2 eq. 1–3).

    ``w'_{oikl} = s_i · w_{oikl}``, then ``w''_{oikl} = w'_{oikl} / sqrt(Σ_{ikl} w'^2 + 1e-8)`` when
    ``demodulate``, so unit-variance inputs give unit-variance outputs. ``upsample`` is a stride-2
    transposed conv followed by the FIR blur; ``downsample`` is the blur then a stride-2 conv.

    Two implementations with identical maths: ``fused=False`` (default, fast: modulate the input,
    convolve with the shared weight, scale the output by the demodulation coefficients) and
    ``fused=True`` (the reference: one grouped convolution with a per-sample weight). Tests compare them
    in float64.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        style_dim: int,
        demodulate: bool = True,
        upsample: bool = False,
        downsample: bool = False,
        blur_kernel: Sequence[float] = DEFAULT_BLUR_KERNEL,
        fused: bool = False,
    ):
        super().__init__()
        if upsample and downsample:
            raise ValueError("ModulatedConv2d: upsample and downsample are exclusive")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.upsample = upsample
        self.downsample = downsample
        self.demodulate = demodulate
        self.fused = fused
        self.padding = kernel_size // 2
        factor, taps = 2, len(blur_kernel)
        if upsample:
            p = (taps - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        elif downsample:
            p = (taps - factor) + (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2, p // 2))
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1.0)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"upsample={self.upsample}, downsample={self.downsample}, demodulate={self.demodulate}"
        )

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        """x: [B, in, H, W]; style: [B, style_dim] → [B, out, H', W'] (H' = 2H, H/2 or H)."""
        c = x.shape[1]
        assert c == self.in_channels, f"ModulatedConv2d expects {self.in_channels} channels, got {c}"
        s = self.modulation(style)  # [B, in]
        if self.fused:
            return self._forward_grouped(x, s)
        return self._forward_modulate_input(x, s)

    def _forward_modulate_input(self, x: Tensor, s: Tensor) -> Tensor:
        b = x.shape[0]
        w = self.weight * self.scale  # [out, in, k, k]
        x = x * s.view(b, -1, 1, 1)
        if self.upsample:
            x = F.conv_transpose2d(x, w.transpose(0, 1), stride=2)
        elif self.downsample:
            x = F.conv2d(self.blur(x), w, stride=2)
        else:
            x = F.conv2d(x, w, padding=self.padding)
        if self.demodulate:
            # Σ_{i,k,l} (s_i w_oikl)^2 = Σ_i s_i^2 Σ_kl w_oikl^2  → [B, out]
            d = torch.rsqrt(s.pow(2) @ w.pow(2).sum((2, 3)).t() + 1e-8)
            x = x * d.view(b, -1, 1, 1)
        if self.upsample:  # the blur is linear and per channel: it commutes with the scaling above
            x = self.blur(x)
        return x

    def _forward_grouped(self, x: Tensor, s: Tensor) -> Tensor:
        b, c, h, w_ = x.shape
        o, k = self.out_channels, self.kernel_size
        weight = self.scale * self.weight[None] * s.view(b, 1, c, 1, 1)  # [B, out, in, k, k]
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum((2, 3, 4)) + 1e-8).view(b, o, 1, 1, 1)
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(b * c, o, k, k)
            out = F.conv_transpose2d(x.reshape(1, b * c, h, w_), weight, stride=2, groups=b)
            return self.blur(out.reshape(b, o, out.shape[2], out.shape[3]))
        weight = weight.reshape(b * o, c, k, k)
        if self.downsample:
            x = self.blur(x)
            out = F.conv2d(x.reshape(1, b * c, x.shape[2], x.shape[3]), weight, stride=2, groups=b)
        else:
            out = F.conv2d(x.reshape(1, b * c, h, w_), weight, padding=self.padding, groups=b)
        return out.reshape(b, o, out.shape[2], out.shape[3])


class NoiseInjection(nn.Module):
    """Adds per-pixel Gaussian noise times a learned scalar (initialised to 0)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        """x: [B, C, H, W]; noise: [B or 1, 1, H, W], or None for fresh N(0, 1) noise."""
        if noise is None:
            b, _, h, w = x.shape
            noise = x.new_empty(b, 1, h, w).normal_()
        return x + self.weight * noise


class ConstantInput(nn.Module):
    """The learned 4×4 constant that starts the StyleGAN2 synthesis network."""

    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch_size: int) -> Tensor:
        return self.input.expand(batch_size, -1, -1, -1)


class StyledConv(nn.Module):
    """ModulatedConv2d (optionally 2x up) → NoiseInjection → fused leaky ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        style_dim: int,
        upsample: bool = False,
        blur_kernel: Sequence[float] = DEFAULT_BLUR_KERNEL,
        demodulate: bool = True,
    ):
        super().__init__()
        self.conv = ModulatedConv2d(
            in_channels, out_channels, kernel_size, style_dim, demodulate=demodulate, upsample=upsample,
            blur_kernel=blur_kernel,
        )
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channels)

    def forward(self, x: Tensor, style: Tensor, noise: Tensor | None = None) -> Tensor:
        return self.activate(self.noise(self.conv(x, style), noise=noise))


class ToTexture(nn.Module):
    """StyleGAN2 ``ToRGB`` with ``out_channels`` outputs: 1×1 modulated conv (no demodulation) + bias,
    plus the upsampled skip from the previous resolution."""

    def __init__(
        self,
        in_channels: int,
        style_dim: int,
        out_channels: int,
        upsample: bool = True,
        blur_kernel: Sequence[float] = DEFAULT_BLUR_KERNEL,
    ):
        super().__init__()
        self.upsample = Upsample(blur_kernel) if upsample else None
        self.conv = ModulatedConv2d(in_channels, out_channels, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x: Tensor, style: Tensor, skip: Tensor | None = None) -> Tensor:
        out = self.conv(x, style) + self.bias
        if skip is not None:
            if self.upsample is None:
                raise ValueError("ToTexture built with upsample=False cannot take a skip input")
            out = out + self.upsample(skip)
        return out
