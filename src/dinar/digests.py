"""The project's digests: SHA-256 of files, bytes, configs, tensors, state dicts and mesh topology.

One set, used by every writer and reader of weights, model folders, atlases and avatar files, so a
digest recorded by one part of dinar is always recomputed the same way by another.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor


def sha256_bytes(data: bytes) -> str:
    """SHA-256 of ``data`` (hex)."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (what ``sha256sum`` prints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def config_digest(config: Mapping[str, Any]) -> str:
    """SHA-256 of a config's canonical JSON (sorted keys, no whitespace)."""
    return sha256_bytes(json.dumps(config, sort_keys=True, separators=(",", ":")).encode())


def tensor_sha256(t: Tensor, dtype: torch.dtype = torch.float32) -> str:
    """SHA-256 of a tensor's values as ``dtype`` in C order (shape not included)."""
    return sha256_bytes(t.detach().to("cpu", dtype).contiguous().numpy().tobytes())


def state_digest(state_dict: Mapping[str, Tensor]) -> str:
    """SHA-256 of a state dict's content: for each key in sorted order its name, dtype, shape and bytes.

    Independent of the device and of how the tensors were stored, so a model loaded from a file and
    the model it was saved from give the same digest.
    """
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{list(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def topology_digest(faces: Tensor) -> str:
    """SHA-256 of a mesh's faces ([F, 3] vertex indices as int64): equal meshes share a UV atlas."""
    return tensor_sha256(faces, torch.int64)


def uv_digest(face_uvs: Tensor) -> str:
    """SHA-256 of an atlas' per-corner UVs ([F, 3, 2] as float32)."""
    return tensor_sha256(face_uvs, torch.float32)
