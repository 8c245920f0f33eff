"""LPIPS (Zhang et al. 2018, v0.1) with the project's own AlexNet / VGG16 feature stacks — no torchvision.

``LPIPS(x, y) = Σ_l mean_hw ‖w_l ⊙ (f̂_l(x) − f̂_l(y))‖²`` where f̂_l are channel-normalised activations
of five ReLU layers of an ImageNet backbone (inputs shifted and scaled by LPIPS' ``ScalingLayer``) and
w_l the learned linear heads. Used in stage 1 with λ2 = 1.0 on a random crop (paper 4.1); the official
release uses the VGG variant.

The module layout mirrors the ``lpips`` package (``net.slice{k}.{i}`` with torchvision ``features``
indices, ``lin{k}.model.1``), so state dicts move between the two. Weights come from
``lpips_weights.lpips_state_dict`` (offline, verified); there is no randomly initialised LPIPS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor, nn

from .lpips_weights import ALEX_SLICES, LPIPS_CHANNELS, VGG_SLICES, lpips_state_dict

# torchvision's AlexNet ``features`` up to relu5 and VGG16 ``features`` up to relu5_3.
_ALEX_LAYERS: list[tuple] = [
    ("conv", 3, 64, 11, 4, 2), ("relu",), ("pool", 3),
    ("conv", 64, 192, 5, 1, 2), ("relu",), ("pool", 3),
    ("conv", 192, 384, 3, 1, 1), ("relu",),
    ("conv", 384, 256, 3, 1, 1), ("relu",),
    ("conv", 256, 256, 3, 1, 1), ("relu",),
]
_VGG_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]


def _vgg_layers() -> list[tuple]:
    layers: list[tuple] = []
    in_ch = 3
    for v in _VGG_CFG:
        if v == "M":
            layers.append(("pool", 2))
        else:
            layers += [("conv", in_ch, v, 3, 1, 1), ("relu",)]
            in_ch = v
    return layers


def _make(spec: tuple) -> nn.Module:
    if spec[0] == "conv":
        _, i, o, k, s, p = spec
        return nn.Conv2d(i, o, k, stride=s, padding=p)
    if spec[0] == "relu":
        return nn.ReLU(inplace=False)
    return nn.MaxPool2d(kernel_size=spec[1], stride=2)


class _SlicedFeatures(nn.Module):
    """A torchvision-style ``features`` stack cut into LPIPS slices; returns the 5 slice outputs."""

    def __init__(self, layers: list[tuple], slices: tuple[tuple[int, int], ...]):
        super().__init__()
        for k, (first, last) in enumerate(slices, start=1):
            seq = nn.Sequential()
            for idx in range(first, last + 1):
                seq.add_module(str(idx), _make(layers[idx]))
            self.add_module(f"slice{k}", seq)
        self.n_slices = len(slices)

    def forward(self, x: Tensor) -> list[Tensor]:
        outs = []
        for k in range(1, self.n_slices + 1):
            x = getattr(self, f"slice{k}")(x)
            outs.append(x)
        return outs


class AlexNetFeatures(_SlicedFeatures):
    """AlexNet conv1..conv5 (torchvision layout), outputs relu1..relu5 with 64, 192, 384, 256, 256 channels."""

    def __init__(self):
        super().__init__(_ALEX_LAYERS, ALEX_SLICES)


class VGG16Features(_SlicedFeatures):
    """VGG16 up to relu5_3 (torchvision layout), outputs relu1_2, relu2_2, relu3_3, relu4_3, relu5_3."""

    def __init__(self):
        super().__init__(_vgg_layers(), VGG_SLICES)


class ScalingLayer(nn.Module):
    """LPIPS v0.1 input normalisation: ``(x − shift) / scale`` for x in [-1, 1] (ImageNet statistics)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.shift) / self.scale


class NetLinLayer(nn.Module):
    """A learned non-negative 1×1 channel weighting (no bias). ``model.0`` is lpips' dropout slot, kept
    as an identity so the loss is deterministic even when a trainer calls ``.train()``."""

    def __init__(self, channels: int):
        super().__init__()
        self.model = nn.Sequential(nn.Identity(), nn.Conv2d(channels, 1, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


def normalize_channels(x: Tensor, eps: float = 1e-10) -> Tensor:
    """Unit L2 norm over channels at every pixel (lpips ``normalize_tensor``)."""
    return x / (torch.sqrt(x.pow(2).sum(dim=1, keepdim=True)) + eps)


class LPIPS(nn.Module):
    """Learned perceptual distance between images in [-1, 1]; frozen, pretrained (``net`` = alex | vgg).

    ``state_dict=None`` loads the verified offline weights (``lpips_state_dict(net)``).
    """

    def __init__(self, net: Literal["alex", "vgg"] = "vgg", state_dict: Mapping[str, Tensor] | None = None):
        super().__init__()
        if net not in LPIPS_CHANNELS:
            raise ValueError(f"LPIPS net must be 'alex' or 'vgg', got {net!r}")
        self.net_name = net
        self.scaling_layer = ScalingLayer()
        self.net = AlexNetFeatures() if net == "alex" else VGG16Features()
        for k, ch in enumerate(LPIPS_CHANNELS[net]):
            self.add_module(f"lin{k}", NetLinLayer(ch))
        self.load_state_dict(lpips_state_dict(net) if state_dict is None else state_dict, strict=True)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """x, y: [B, 3, H, W] in [-1, 1] → [B] distances (0 for identical images)."""
        assert x.shape == y.shape and x.ndim == 4 and x.shape[1] == 3, f"LPIPS: {list(x.shape)} vs {list(y.shape)}"
        fx = self.net(self.scaling_layer(x))
        fy = self.net(self.scaling_layer(y))
        total = x.new_zeros(x.shape[0])
        for k, (a, b) in enumerate(zip(fx, fy)):
            d = (normalize_channels(a) - normalize_channels(b)).pow(2)
            total = total + getattr(self, f"lin{k}")(d).mean(dim=(1, 2, 3))
        return total
