"""The atlases by name: the body model's own, and the front cut computed once per machine and cached
in ``DINAR_CACHE_DIR`` (a trained model carries its own copy: :mod:`dinar.weights.networks`)."""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dinar.body.atlas.cut import _front_cut
from dinar.body.atlas.flatten import _flatten_disk, _upright, _weld
from dinar.body.atlas.mesh import (
    ATLAS_NAMES,
    ATLAS_VERSION,
    DEFAULT_ATLAS,
    UVAtlas,
    _axes,
    _chart_ids,
    _count_overlaps,
    _EdgeTopology,
    _rest_mesh,
    _signed_areas,
)
from dinar.body.atlas.pack import _pack
from dinar.body.base import BodyModel
from dinar.digests import topology_digest, uv_digest
from dinar.paths import dinar_cache_dir
from dinar.utils import atomic_path

logger = logging.getLogger(__name__)


# 5. Atlases ------------------------------------------------------------------------------------------
def native_atlas(body: BodyModel) -> UVAtlas:
    """The body model's own UVs (Anny: the torso is cut along the spine)."""
    return UVAtlas("native", body.face_uvs.detach().float().cpu())


def _compute_front_cut(body: BodyModel) -> np.ndarray:
    vertices, faces = _rest_mesh(body)
    native = body.face_uvs.detach().double().cpu().numpy()
    topo = _EdgeTopology.of(faces)
    charts = _chart_ids(topo, native)
    cut = _front_cut(body, vertices, faces, topo, charts)
    # Re-flatten the body chart: its native seams are closed, the front cut is opened.
    sub_faces, vertex_map = _weld(topo, faces, cut.region, cut.edges)
    uv = _flatten_disk(vertices[vertex_map], sub_faces)
    uv = _upright(uv, vertices[vertex_map], sub_faces, _axes(body)[1])
    # Keep the native texel density of that chart, so the relative scale of all charts is Anny's.
    region = cut.region
    native_area = _signed_areas(torch.from_numpy(native[region])).abs().sum().item()
    uv *= np.sqrt(native_area / _signed_areas(torch.from_numpy(uv[sub_faces])).sum().item())
    face_uvs = native.copy()
    face_uvs[region] = uv[sub_faces]
    new_charts = charts.copy()
    new_charts[region] = charts.max() + 1
    face_uvs = _pack(face_uvs, new_charts).astype(np.float32).astype(np.float64)  # check what is stored
    flipped = int((_signed_areas(torch.from_numpy(face_uvs)) <= 0).sum())
    overlaps = _count_overlaps(topo, face_uvs, new_charts)
    if flipped or overlaps:
        raise RuntimeError(f"front cut of {body.name}: {flipped} flipped faces, {overlaps} overlaps")
    return face_uvs


def _cache_path(body: BodyModel) -> Path:
    key = topology_digest(body.faces)[:6] + uv_digest(body.face_uvs)[:6]
    return dinar_cache_dir() / "atlas" / f"{body.name}-{ATLAS_VERSION}-{key}.safetensors"


@functools.lru_cache(maxsize=4)
def _read_cached(path: str) -> Tensor:
    from safetensors.torch import load_file

    return load_file(path)["face_uvs"]


def front_cut_atlas(body: BodyModel, use_cache: bool = True) -> UVAtlas:
    """The paper's front-cut atlas (module docstring), computed once per machine (~5 s) and cached.

    The cache is a safetensors file in ``dinar_cache_dir() / "atlas"`` named by the body model, the
    atlas version and a hash of the mesh and its native UVs; ``use_cache=False`` recomputes.
    """
    from safetensors.torch import save_file

    path = _cache_path(body)
    if use_cache and path.exists():
        return UVAtlas("front", _read_cached(str(path)).clone())
    start = time.perf_counter()
    face_uvs = torch.from_numpy(_compute_front_cut(body)).float()  # exact: already float32 values
    logger.info("Computed the front-cut atlas of %s in %.1f s", body.name, time.perf_counter() - start)
    if use_cache:
        with atomic_path(path) as tmp:  # the cache is shared like Anny's: usual permissions, never half-written
            save_file({"face_uvs": face_uvs.contiguous()}, str(tmp), metadata={"body": body.name, "version": ATLAS_VERSION})
    return UVAtlas("front", face_uvs)


def load_atlas(body: BodyModel, name: str = DEFAULT_ATLAS) -> UVAtlas:
    """An atlas by name: ``"front"`` (the paper's front cut, default) or ``"native"`` (the model's own)."""
    if name == "front":
        return front_cut_atlas(body)
    if name == "native":
        return native_atlas(body)
    raise ValueError(f"Unknown atlas {name!r}; choose one of {list(ATLAS_NAMES)}")
