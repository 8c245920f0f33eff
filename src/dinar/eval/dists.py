"""DISTS (Ding et al. 2020, "Image Quality Assessment: Unifying Structure and Texture Similarity").

The paper's Table 1 reports DISTS for the same and the novel view: it compares the channel means
(texture) and the channel (co)variances (structure) of VGG16 features, so it tolerates small
misalignments that PSNR and LPIPS punish.

``DISTS(x, y) = 1 − Σ_k Σ_c (α_kc·S1_kc + β_kc·S2_kc) / (Σα + Σβ)`` over six stages k (the image itself
and relu1_2, relu2_2, relu3_3, relu4_3, relu5_3), where per channel c, with spatial means μ, variances
σ² and covariance σ_xy, ``S1 = (2μxμy + c1)/(μx² + μy² + c1)`` and ``S2 = (2σxy + c2)/(σx² + σy² + c2)``,
c1 = c2 = 1e-6.

This is a line-by-line port of ``DISTS_pt.py`` of the ``DISTS-pytorch`` 0.1 package (the reference
implementation, which imports torchvision): its VGG16 is torchvision's ImageNet ``vgg16().features``
with the four max-pools (``features[4, 9, 16, 23]``) replaced by Hanning-window L2 pooling, cut into
stages that end at the same ReLUs as LPIPS' VGG slices. We take that VGG16 (identical ImageNet
weights) from :mod:`dinar.losses.lpips` and the learned α, β (1 × 1475 each) from the package's
``weights.pt``, located without importing the package and checked by SHA-256 (:mod:`.weights`).
Inputs are RGB in [0, 1], normalised with the ImageNet mean / std as in the reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dinar.losses.lpips import VGG16Features
from dinar.losses.lpips_weights import lpips_state_dict
from dinar.weights.packaged import PackagedWeights, cached_state_dict

DISTS_WEIGHTS = PackagedWeights(
    name="dists_alpha_beta",
    package="DISTS_pytorch",
    relpath="weights.pt",
    sha256="f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218",
    install="pip install DISTS-pytorch==0.1",
    state_sha256="68a56b006bf0f89e745a64827368f2e7b5a8d58008eaadf9d97600ee41484101",
)
"""``DISTS_pytorch/weights.pt`` of DISTS-pytorch 0.1 (MIT): ``alpha`` and ``beta``, float32 [1, 1475, 1, 1]."""

DISTS_CHANNELS = (3, 64, 128, 256, 512, 512)
"""Channels of the six compared stages: the image, relu1_2, relu2_2, relu3_3, relu4_3, relu5_3."""
_POOL_INDICES = {"slice2": ("4", 64), "slice3": ("9", 128), "slice4": ("16", 256), "slice5": ("23", 512)}
"""torchvision ``features`` index of each max-pool that DISTS replaces by L2 pooling, and its channels."""


class L2Pooling(nn.Module):
    """``sqrt(hann3x3 * x² + 1e-12)``, stride 2, depthwise: the anti-aliased pooling DISTS puts in place of
    VGG's max-pools (reference ``L2pooling(filter_size=5)``: Hanning(5) without its zero ends)."""

    def __init__(self, channels: int, filter_size: int = 5, stride: int = 2):
        super().__init__()
        self.stride = stride
        self.padding = (filter_size - 2) // 2
        a = np.hanning(filter_size)[1:-1]
        g = torch.tensor(a[:, None] * a[None, :], dtype=torch.float32)
        g = g / g.sum()
        self.register_buffer("filter", g[None, None].repeat(channels, 1, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        out = F.conv2d(x.pow(2), self.filter, stride=self.stride, padding=self.padding, groups=x.shape[1])
        return (out + 1e-12).sqrt()


def dists_vgg16() -> VGG16Features:
    """VGG16 up to relu5_3 with DISTS' L2 pooling, ImageNet weights from the offline LPIPS source."""
    net = VGG16Features()
    for slice_name, (index, channels) in _POOL_INDICES.items():
        setattr(getattr(net, slice_name), index, L2Pooling(channels))
    backbone = {k[len("net."):]: v for k, v in lpips_state_dict("vgg").items() if k.startswith("net.")}
    net.load_state_dict(backbone, strict=True)
    return net


def dists_alpha_beta(cache_dir: str | Path | None = None) -> dict[str, Tensor]:
    """``{"alpha", "beta"}``: the learned DISTS weights, [1, 1475, 1, 1] each (verified, cached)."""
    return cached_state_dict(DISTS_WEIGHTS, cache_dir=cache_dir)


class DISTS(nn.Module):
    """Deep Image Structure and Texture Similarity between RGB images in [0, 1]; frozen, pretrained.

    0 for identical images, larger is worse (the paper's DISTS ↓); symmetric in its two arguments.
    """

    def __init__(self, alpha_beta: dict[str, Tensor] | None = None):
        super().__init__()
        weights = dists_alpha_beta() if alpha_beta is None else alpha_beta
        self.backbone = dists_vgg16()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)
        for key in ("alpha", "beta"):
            value = weights[key].float()
            if value.shape != (1, sum(DISTS_CHANNELS), 1, 1):
                raise ValueError(f"DISTS {key} has shape {list(value.shape)}, expected [1, {sum(DISTS_CHANNELS)}, 1, 1]")
            self.register_buffer(key, value, persistent=False)
        self.requires_grad_(False)
        self.eval()

    def stages(self, x: Tensor) -> list[Tensor]:
        """The six compared feature maps of x [B, 3, H, W] in [0, 1]: x itself, then relu1_2 … relu5_3."""
        return [x, *self.backbone((x - self.mean) / self.std)]

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """x, y: [B, 3, H, W] in [0, 1] → [B] distances."""
        assert x.shape == y.shape and x.ndim == 4 and x.shape[1] == 3, f"DISTS: {list(x.shape)} vs {list(y.shape)}"
        c1 = c2 = 1e-6
        w_sum = self.alpha.sum() + self.beta.sum()
        alphas = torch.split(self.alpha / w_sum, DISTS_CHANNELS, dim=1)
        betas = torch.split(self.beta / w_sum, DISTS_CHANNELS, dim=1)
        dist1 = dist2 = x.new_zeros(x.shape[0])
        for fx, fy, a, b in zip(self.stages(x), self.stages(y), alphas, betas):
            mx, my = fx.mean((2, 3), keepdim=True), fy.mean((2, 3), keepdim=True)
            s1 = (2 * mx * my + c1) / (mx**2 + my**2 + c1)
            vx = (fx - mx).pow(2).mean((2, 3), keepdim=True)
            vy = (fy - my).pow(2).mean((2, 3), keepdim=True)
            cov = (fx * fy).mean((2, 3), keepdim=True) - mx * my
            s2 = (2 * cov + c2) / (vx + vy + c2)
            dist1 = dist1 + (a * s1).sum((1, 2, 3))
            dist2 = dist2 + (b * s2).sum((1, 2, 3))
        return 1 - (dist1 + dist2)
