"""Atlas data and mesh helpers shared by the front cut, flattening, packing and the reports: the
:class:`UVAtlas` type, edge topology, charts, seams, areas, the body's rest mesh and its axes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from dinar.body.base import BodyModel

ATLAS_VERSION = "front-cut-1"  # bump when the cut or the packing changes: invalidates cached atlases
ATLAS_NAMES = ("front", "native")
DEFAULT_ATLAS = "front"


@dataclass
class UVAtlas:
    """A UV parameterization of a body model's faces."""

    name: str  # "native", "front", ...
    face_uvs: Tensor  # [F, 3, 2] per-corner UVs in [0, 1], v up, counter-clockwise seen from outside

    def __post_init__(self) -> None:
        if self.face_uvs.dim() != 3 or self.face_uvs.shape[1:] != (3, 2):
            raise ValueError(f"face_uvs must be [F, 3, 2], got {tuple(self.face_uvs.shape)}")

    @property
    def num_faces(self) -> int:
        return int(self.face_uvs.shape[0])

    def to(self, device: torch.device | str) -> UVAtlas:
        return UVAtlas(self.name, self.face_uvs.to(device))

    def signed_areas(self) -> Tensor:
        """Signed UV area of every face, ``[F]``; positive means counter-clockwise (not flipped)."""
        return _signed_areas(self.face_uvs)

    def charts(self, faces: Tensor) -> Tensor:
        """Chart (UV island) index of every face, ``[F]``: faces joined by edges with equal UVs on both sides."""
        topo = _EdgeTopology.of(faces.cpu().numpy())
        return torch.from_numpy(_chart_ids(topo, self.face_uvs.cpu().double().numpy())).to(faces.device)

    def seam_edges(self, faces: Tensor) -> Tensor:
        """Mesh edges ``[E_s, 2]`` (vertex pairs) whose two sides have different UVs."""
        topo = _EdgeTopology.of(faces.cpu().numpy())
        seam = _seam_mask(topo, self.face_uvs.cpu().double().numpy())
        return torch.from_numpy(topo.edges[seam]).to(faces.device)



@dataclass
class _EdgeTopology:
    """Undirected edges of a triangle mesh and the two faces beside each (-1 on a mesh boundary)."""

    edges: np.ndarray  # [E, 2] vertex pairs, edges[:, 0] < edges[:, 1]
    faces: np.ndarray  # [E, 2] the faces on either side; faces[:, 1] = -1 on a boundary edge
    slots: np.ndarray  # [E, 2] in face faces[e, i] the edge runs from corner slot to corner slot + 1

    @classmethod
    def of(cls, faces: np.ndarray) -> _EdgeTopology:
        half = np.stack([faces, np.roll(faces, -1, axis=1)], -1).reshape(-1, 2)  # slot k: corner k -> k+1
        key = np.sort(half, 1)
        order = np.lexsort((key[:, 1], key[:, 0]))
        k = key[order]
        start = np.r_[True, np.any(k[1:] != k[:-1], 1)]
        group = np.cumsum(start) - 1
        count = np.bincount(group)
        if count.max() > 2:
            raise ValueError("the mesh has non-manifold edges (more than two faces on one edge)")
        first = order[start]
        second = np.full(len(first), -1)
        paired = count == 2
        second[paired] = order[np.nonzero(start)[0][paired] + 1]
        face_pair = np.stack([first // 3, np.where(second >= 0, second // 3, -1)], 1)
        slot_pair = np.stack([first % 3, np.where(second >= 0, second % 3, -1)], 1)
        return cls(edges=key[first], faces=face_pair, slots=slot_pair)

    @property
    def interior(self) -> np.ndarray:
        return self.faces[:, 1] >= 0


def _seam_mask(topo: _EdgeTopology, face_uvs: np.ndarray) -> np.ndarray:
    """``[E]`` True where an edge's two sides carry different UVs (and on mesh boundaries)."""
    f0, f1 = topo.faces[:, 0], topo.faces[:, 1].clip(min=0)
    s0, s1 = topo.slots[:, 0], topo.slots[:, 1].clip(min=0)
    # In f0 the edge runs a -> b (slots s0, s0 + 1); in f1 it runs b -> a (slots s1, s1 + 1).
    same_a = np.all(np.abs(face_uvs[f0, s0] - face_uvs[f1, (s1 + 1) % 3]) < 1e-7, 1)
    same_b = np.all(np.abs(face_uvs[f0, (s0 + 1) % 3] - face_uvs[f1, s1]) < 1e-7, 1)
    return ~(same_a & same_b) | ~topo.interior


def _face_components(num_faces: int, pairs: np.ndarray) -> np.ndarray:
    """Connected components of faces joined by ``pairs [K, 2]`` of face indices."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    graph = sp.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(num_faces, num_faces))
    return connected_components(graph, directed=False)[1]


def _chart_ids(topo: _EdgeTopology, face_uvs: np.ndarray) -> np.ndarray:
    joined = ~_seam_mask(topo, face_uvs)
    return _face_components(face_uvs.shape[0], topo.faces[joined])


def _signed_areas(face_uvs: Tensor) -> Tensor:
    a = face_uvs[:, 1] - face_uvs[:, 0]
    b = face_uvs[:, 2] - face_uvs[:, 0]
    return 0.5 * (a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])


def _areas_3d(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    n = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    return 0.5 * np.linalg.norm(n, axis=1)


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    n = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    out = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(out, faces[:, k], n)
    return out / np.linalg.norm(out, axis=1, keepdims=True).clip(min=1e-12)


def _axes(body: BodyModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The body's front, up and lateral (towards the subject's left) unit directions."""
    front, up = np.asarray(body.front_axis, dtype=np.float64), np.asarray(body.up_axis, dtype=np.float64)
    return front, up, np.cross(up, front)


def _rest_mesh(body: BodyModel) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        vertices = body().vertices[0].double().cpu().numpy()
    return vertices, body.faces.cpu().numpy().astype(np.int64)


# Checks -----------------------------------------------------------------------------------------------
def _boundary_segments(topo: _EdgeTopology, face_uvs: np.ndarray) -> np.ndarray:
    """UV segments ``[K, 2, 2]`` along every chart border (each side of a seam is one segment)."""
    seam = _seam_mask(topo, face_uvs)
    f0, s0 = topo.faces[seam, 0], topo.slots[seam, 0]
    inner = seam & topo.interior
    f1, s1 = topo.faces[inner, 1], topo.slots[inner, 1]
    side0 = np.stack([face_uvs[f0, s0], face_uvs[f0, (s0 + 1) % 3]], 1)
    side1 = np.stack([face_uvs[f1, s1], face_uvs[f1, (s1 + 1) % 3]], 1)
    return np.concatenate([side0, side1])


def _cross2(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0])


def _count_overlaps(topo: _EdgeTopology, face_uvs: np.ndarray, charts: np.ndarray) -> int:
    """Overlaps between and within charts: crossing border segments plus charts nested in another.

    With no flipped triangles, a chart overlaps itself or another only where borders cross or one
    chart lies inside another, so this is exact up to touching (collinear) borders.
    """
    from scipy.spatial import cKDTree

    seg = _boundary_segments(topo, face_uvs)
    length = np.linalg.norm(seg[:, 1] - seg[:, 0], axis=1)
    pairs = cKDTree(seg.mean(1)).query_pairs(r=float(length.max()) + 1e-12, output_type="ndarray")
    a, b = seg[pairs[:, 0]], seg[pairs[:, 1]]
    d1, d2 = _cross2(a[:, 0], a[:, 1], b[:, 0]), _cross2(a[:, 0], a[:, 1], b[:, 1])
    d3, d4 = _cross2(b[:, 0], b[:, 1], a[:, 0]), _cross2(b[:, 0], b[:, 1], a[:, 1])
    crossings = int((((d1 * d2) < 0) & ((d3 * d4) < 0)).sum())
    # One point of each chart (a face centroid) strictly inside a face of another chart.
    ids, first = np.unique(charts, return_index=True)
    points = face_uvs[first].mean(1)  # [C, 2]
    t = face_uvs  # [F, 3, 2]
    w = np.stack([_cross2(t[None, :, k], t[None, :, (k + 1) % 3], points[:, None]) for k in range(3)], -1)
    inside = (w > 0).all(-1) | (w < 0).all(-1)  # [C, F]
    nested = int((inside & (charts[None] != ids[:, None])).any(1).sum())
    return crossings + nested
