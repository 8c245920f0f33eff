"""UV atlases of a body model: its own, and the paper's front cut (DINAR 3.1).

The neural texture lives in UV space, and the diffusion model of paper 3.3 inpaints it there as a
plain 2D image. Wherever the atlas has a seam, two texels that touch on the body lie far apart in
the image, and nothing makes the inpainted colours meet. On the front this does not matter: the
front is sampled from the photo, so both sides of a seam get the photo's colours. On the back,
which diffusion has to invent, a seam shows. DINAR therefore uses "a customized UV-map with a front
cut to avoid difficult to inpaint back-view seams" (3.1). Anny's own atlas does the opposite: it
cuts the torso along the spine and the arms along their backs.

:func:`front_cut_atlas` keeps Anny's small charts (head, hands, feet, eyes, mouth) and re-cuts the
one big chart that holds the torso, arms and legs: its back seams are closed, and new cuts run down
the front mid-line (neck to crotch), from the crotch down the front-inner side of each leg, and from
the front mid-line across the chest, through the armpit and down the front-inner side of each arm.
The cuts end on the holes of the chart (neck, wrists, ankles), so the chart becomes one disk. It
is flattened with libigl: a Tutte embedding, then SLIM (symmetric Dirichlet energy, whose line
search keeps every triangle positively oriented), with every step checked for parts of the border
coming closer than a texel or crossing; where they would, the border there is pinned and the step
redone, so the chart relaxes everywhere else. All charts are then packed into the unit square,
each at the texel density Anny's artists gave it (the face keeps its extra resolution).

Anny, front cut vs native (``atlas_stats``): within-chart area distortion 0.18 vs 0.44 (body
chart alone 0.11 vs 0.45), seam length on the back of the torso 0 vs 0.97 m, no flips and no
overlaps in either; the head, hands and feet keep Anny's seams (the back of the head among them).

Conventions: ``face_uvs [F, 3, 2]`` per face corner, in ``[0, 1]``, ``v`` up (texel row
``(1 - v) * S``, see :mod:`dinar.geometry.texture_lookup`); faces are counter-clockwise in UV, as
they are seen from outside the body in 3D.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dinar.body.base import BodyModel
from dinar.paths import dinar_cache_dir

logger = logging.getLogger(__name__)

ATLAS_VERSION = "front-cut-1"  # bump when the cut or the packing changes: invalidates cached atlases
ATLAS_NAMES = ("front", "native")
DEFAULT_ATLAS = "front"

_CHART_MARGIN = 0.01  # UV gap between packed charts: 2.5 texels of a 256^2 texture
_SLIM_ITERATIONS = 40
_BORDER_GAP = 0.007  # metres between parts of the flattened body chart's border (~1 texel at 256^2)
_FRONT_WEIGHT = 4.0  # cut paths: an edge costs length * (1 + _FRONT_WEIGHT * (1 - n . preferred))
_MEDIAL_WEIGHT = 0.7  # how far limb cuts lean from straight front towards the inner side


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


# 1. Mesh topology ---------------------------------------------------------------------------------
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


# 2. The front cut -----------------------------------------------------------------------------------
@dataclass
class _Cut:
    """Where the big body chart is cut open (all on the front of the body)."""

    region: np.ndarray  # [F] bool, the faces of the re-cut chart
    edges: np.ndarray  # [E] bool over _EdgeTopology edges, the new cut
    paths: list[np.ndarray]  # the cut paths as vertex chains (for drawings and tests)


def _shortest_path(graph, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Vertex chain of the cheapest path from any source to any target."""
    from scipy.sparse.csgraph import dijkstra

    dist, pred, _ = dijkstra(graph, indices=np.unique(sources), min_only=True, return_predecessors=True)
    end = targets[np.argmin(dist[targets])]
    if not np.isfinite(dist[end]):
        raise RuntimeError("front cut: no path between the given vertices inside the body chart")
    path = [end]
    while pred[path[-1]] >= 0:
        path.append(pred[path[-1]])
    return np.array(path[::-1])


def _front_cut(body: BodyModel, vertices: np.ndarray, faces: np.ndarray, topo: _EdgeTopology, charts: np.ndarray) -> _Cut:
    """Design the front cut of the chart that holds the torso (module docstring).

    1. The region: the chart with the largest 3D area. Its holes are the neck, the wrists and the
       ankles (the borders with Anny's head, hand and foot charts).
    2. The front mid-line: the cheapest path on the sagittal plane (|x| penalized) from the front of
       the neck hole to the lowest point of the crotch.
    3. Legs: from the crotch to each ankle hole, preferring surface that faces front-inwards.
    4. Arms: from the front mid-line to the armpit (the lowest point where torso and upper arm meet)
       preferring front-facing surface, then on to the wrist hole along the arm's front-inner side.
    Every path ends on a hole or on an earlier path, so the holes and paths form a tree and the cut
    region is a topological disk.
    """
    import igl
    import scipy.sparse as sp

    front, up, lateral = _axes(body)
    side_of = np.sign(vertices @ lateral)
    names = body.parts.names
    weights = body.parts.weights.cpu().numpy()
    labels = body.parts.labels.cpu().numpy()

    area = _areas_3d(vertices, faces)
    region = charts == np.argmax(np.bincount(charts, area))
    inside = region[topo.faces[:, 0]] & np.where(topo.interior, region[topo.faces[:, 1].clip(min=0)], False)
    loops = [np.asarray(loop) for loop in igl.boundary_loop_all(faces[region])]
    normals = _vertex_normals(vertices, faces)
    e0, e1 = topo.edges[:, 0], topo.edges[:, 1]
    length = np.linalg.norm(vertices[e0] - vertices[e1], axis=1)
    nv = vertices.shape[0]

    def graph(cost: np.ndarray):
        c, a, b = cost[inside], e0[inside], e1[inside]
        return sp.coo_matrix((np.r_[c, c], (np.r_[a, b], np.r_[b, a])), shape=(nv, nv)).tocsr()

    def facing_cost(preferred: np.ndarray) -> np.ndarray:  # preferred [V, 3] unit directions
        facing = 0.5 * ((normals[e0] * preferred[e0]).sum(1) + (normals[e1] * preferred[e1]).sum(1))
        return length * (1.0 + _FRONT_WEIGHT * (1.0 - facing))

    # 1. holes: the highest is the neck; the others are wrists (hand side) or ankles (foot side)
    def loop_part(loop):
        return names[np.bincount(labels[loop], minlength=len(names)).argmax()]

    neck = max(loops, key=lambda loop: (vertices[loop] @ up).mean())
    limbs = [loop for loop in loops if loop is not neck]
    legs = [loop_part(loop).startswith(("foot", "lowerleg", "upperleg")) for loop in limbs]
    if len(limbs) != 4 or sum(legs) != 2:
        raise RuntimeError(
            f"front cut: expected the {body.name} body chart to have 5 holes (neck, wrists, ankles), "
            f"found {len(loops)}; this atlas splits the body differently"
        )
    region_vertices = np.unique(faces[region])

    # 2. front mid-line: neck front -> crotch
    offset = np.abs(vertices @ lateral)
    midline_cost = length * (1.0 + 0.5 * (offset[e0] + offset[e1]) / 0.002)
    neck_front = neck[np.argmax(vertices[neck] @ front - 100.0 * offset[neck])]
    sagittal = region_vertices[offset[region_vertices] < 1e-3 + offset[region_vertices].min()]
    crotch = sagittal[np.argmin(vertices[sagittal] @ up)]
    midline = _shortest_path(graph(midline_cost), np.array([neck_front]), np.array([crotch]))
    paths = [midline]

    # Preferred facing on the limbs: front, leaning towards the body's mid-plane (inner side).
    medial = -side_of[:, None] * lateral[None]
    limb_facing = front[None] + _MEDIAL_WEIGHT * medial
    limb_facing /= np.linalg.norm(limb_facing, axis=1, keepdims=True)
    front_only = np.broadcast_to(front, vertices.shape)
    torso = names.index("torso")
    for loop, is_leg in zip(limbs, legs):
        part = loop_part(loop)
        if is_leg:  # 3. a leg
            paths.append(_shortest_path(graph(facing_cost(limb_facing)), np.array([crotch]), loop))
        else:  # 4. an arm: mid-line -> armpit -> wrist
            side = "." + part.split(".")[-1]
            upperarm = names.index("upperarm" + side)
            ring = region_vertices[(weights[region_vertices, torso] > 0.25) & (weights[region_vertices, upperarm] > 0.25)]
            armpit = ring[np.argmin(vertices[ring] @ up)]
            to_armpit = _shortest_path(graph(facing_cost(front_only)), midline, np.array([armpit]))
            down_arm = _shortest_path(graph(facing_cost(limb_facing)), np.array([armpit]), loop)
            paths += [to_armpit, down_arm]

    edge_index = {(int(a), int(b)): i for i, (a, b) in enumerate(topo.edges)}
    cut = np.zeros(len(topo.edges), dtype=bool)
    for path in paths:
        for a, b in itertools.pairwise(path):
            cut[edge_index[(min(int(a), int(b)), max(int(a), int(b)))]] = True
    return _Cut(region=region, edges=cut, paths=paths)


# 3. Flattening ---------------------------------------------------------------------------------------
def _weld(topo: _EdgeTopology, faces: np.ndarray, region: np.ndarray, open_edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The region as its own mesh, split along ``open_edges``: (faces [R, 3] into new vertices, vertex map [N]).

    Corners of the same vertex are merged across every region-interior edge that is not open.
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    f0, f1 = topo.faces[:, 0], topo.faces[:, 1]
    s0, s1 = topo.slots[:, 0], topo.slots[:, 1]
    keep = topo.interior & region[f0] & region[f1.clip(min=0)] & ~open_edges
    f0, f1, s0, s1 = f0[keep], f1[keep], s0[keep], s1[keep]
    rows = np.r_[f0 * 3 + s0, f0 * 3 + (s0 + 1) % 3]
    cols = np.r_[f1 * 3 + (s1 + 1) % 3, f1 * 3 + s1]
    n = 3 * faces.shape[0]
    group = connected_components(sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)), directed=False)[1]
    region_faces = np.nonzero(region)[0]
    corners = (region_faces[:, None] * 3 + np.arange(3)).ravel()
    _, new_index = np.unique(group[corners], return_inverse=True)
    new_faces = new_index.reshape(-1, 3)
    vertex_map = np.zeros(new_index.max() + 1, dtype=np.int64)
    vertex_map[new_index] = faces.ravel()[corners]
    return new_faces, vertex_map


def _tutte(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Tutte embedding (uniform weights, boundary on a circle): bijective for a disk."""
    import igl
    import scipy.sparse as sp
    import scipy.sparse.linalg as spl

    boundary = np.asarray(igl.boundary_loop(faces))
    circle = igl.map_vertices_to_circle(np.asfortranarray(vertices), boundary.astype(np.int32))
    adjacency = igl.adjacency_matrix(faces).astype(np.float64)
    laplacian = (sp.diags(np.asarray(adjacency.sum(1)).ravel()) - adjacency).tocsr()
    inner = np.setdiff1d(np.arange(vertices.shape[0]), boundary)
    uv = np.zeros((vertices.shape[0], 2))
    uv[boundary] = circle
    uv[inner] = spl.spsolve(laplacian[inner][:, inner].tocsc(), -(laplacian[inner][:, boundary] @ circle))
    return uv


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((p - a) * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-30), 0.0, 1.0)
    return np.linalg.norm(a + t[:, None] * ab - p, axis=1)


def _border_gaps(uv: np.ndarray, loop: np.ndarray, reach: float, skip: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distances between nearby border segments of a disk: ``(i, j, d)`` over segment pairs.

    Segment ``k`` joins ``loop[k]`` and ``loop[k + 1]``. Pairs that cross get 0 wherever they sit on
    the loop; pairs at most ``skip`` segments apart along the loop (neighbours) get ``inf``.
    """
    from scipy.spatial import cKDTree

    p, q = uv[loop], uv[np.roll(loop, -1)]
    n = len(loop)
    length = np.linalg.norm(q - p, axis=1)
    pairs = cKDTree(0.5 * (p + q)).query_pairs(r=float(length.max()) + reach, output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    crossing = (_cross2(p[i], q[i], p[j]) * _cross2(p[i], q[i], q[j]) < 0) & (
        _cross2(p[j], q[j], p[i]) * _cross2(p[j], q[j], q[i]) < 0
    )
    apart = np.minimum(np.abs(i - j), n - np.abs(i - j)) > skip
    d = np.minimum.reduce([
        _segment_distance(p[i], p[j], q[j]), _segment_distance(q[i], p[j], q[j]),
        _segment_distance(p[j], p[i], q[i]), _segment_distance(q[j], p[i], q[i]),
    ])
    return i, j, np.where(crossing, 0.0, np.where(apart, d, np.inf))


def _flatten_disk(
    vertices: np.ndarray,  # [N, 3]
    faces: np.ndarray,  # [R, 3] a topological disk
    gap: float = _BORDER_GAP,
    iterations: int = _SLIM_ITERATIONS,
) -> np.ndarray:
    """Flatten a topological disk without flips or overlaps; ``[N, 2]`` in metres, counter-clockwise.

    Tutte embedding (bijective), then SLIM iterations (symmetric Dirichlet; SLIM's line search keeps
    every triangle positive). SLIM has a free boundary and no notion of the chart's other parts, so
    each step is checked: where it would bring two parts of the border closer than ``gap`` (or make
    them cross), the border vertices involved are pinned where they are (soft constraints) and the
    step is recomputed, so the rest of the chart keeps relaxing around the contact.
    """
    import igl

    loops = igl.boundary_loop_all(faces)
    euler = vertices.shape[0] - len(_EdgeTopology.of(faces).edges) + faces.shape[0]
    if len(loops) != 1 or euler != 1:
        raise RuntimeError(f"front cut: the cut chart is not a disk ({len(loops)} boundary loops, Euler characteristic {euler})")
    loop = np.asarray(loops[0])
    uv = _tutte(vertices, faces)
    if _signed_areas(torch.from_numpy(uv[faces])).sum() < 0:
        uv[:, 0] = -uv[:, 0]
    uv *= np.sqrt(_areas_3d(vertices, faces).sum() / _signed_areas(torch.from_numpy(uv[faces])).sum().item())
    v3 = np.asfortranarray(vertices)
    f32 = np.asfortranarray(faces.astype(np.int32))
    pinned = np.zeros(len(loop), dtype=bool)
    current = _border_gaps(uv, loop, gap)[2].min(initial=np.inf)
    for _ in range(iterations):
        fixed = loop[pinned]
        data = igl.slim_precompute(
            v3, f32, np.asfortranarray(uv), igl.MappingEnergyType.SYMMETRIC_DIRICHLET,
            fixed.astype(np.int32), np.asfortranarray(uv[fixed]), 1e5 if len(fixed) else 0.0,
        )
        step = np.ascontiguousarray(igl.slim_solve(data, 1))
        need = min(gap, current)  # never closer than now, and at least `gap` once reached
        i, j, d = _border_gaps(step, loop, gap)
        if d.min(initial=np.inf) >= need:
            uv, current = step, d.min(initial=np.inf)
            continue
        touching = np.unique(np.r_[i[d < need], j[d < need]])
        grow = np.zeros_like(pinned)
        grow[(touching[:, None] + np.arange(-3, 5)[None]).ravel() % len(loop)] = True
        if (grow & ~pinned).any():
            pinned |= grow  # retry the step from the same layout with the contact held
            continue
        for t in (0.5, 0.25, 0.125):  # nothing left to pin: take part of the step, or stop
            partial = uv + t * (step - uv)
            d = _border_gaps(partial, loop, gap)[2].min(initial=np.inf)
            if d >= need:
                uv, current = partial, d
                break
        else:
            break
    return uv


def _upright(uv: np.ndarray, vertices: np.ndarray, faces: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Rotate a chart so that the body's up direction points to +v (area-weighted mean height gradient)."""
    p = uv[faces]
    h = vertices[faces] @ up  # [R, 3]
    d1, d2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    det = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    dh1, dh2 = h[:, 1] - h[:, 0], h[:, 2] - h[:, 0]
    grad = np.stack([dh1 * d2[:, 1] - dh2 * d1[:, 1], -dh1 * d2[:, 0] + dh2 * d1[:, 0]], 1)  # det * grad h
    g = (grad * np.sign(det)[:, None]).sum(0)
    angle = np.pi / 2 - np.arctan2(g[1], g[0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return uv @ rot.T


# 4. Packing ------------------------------------------------------------------------------------------
def _outline(face_uvs: np.ndarray) -> np.ndarray:
    """The outer border of one chart ``[F_c, 3, 2]`` as a polygon ``[K, 2]`` (holes are ignored)."""
    import igl

    points, index = np.unique(face_uvs.reshape(-1, 2).round(9), axis=0, return_inverse=True)
    loops = igl.boundary_loop_all(index.reshape(-1, 3).astype(np.int64))
    perimeter = [np.linalg.norm(np.diff(points[np.r_[loop, loop[:1]]], axis=0), axis=1).sum() for loop in loops]
    return points[loops[int(np.argmax(perimeter))]]


def _footprint(outline: np.ndarray, scale: float, resolution: int, margin_cells: int) -> np.ndarray:
    """Occupancy bitmap (row 0 at the bottom) of a chart outline scaled to grid cells, grown by the margin."""
    from PIL import Image, ImageDraw
    from scipy.ndimage import binary_dilation

    cells = outline * scale * resolution + margin_cells + 1
    width, height = (np.ceil(cells.max(0)) + margin_cells + 1).astype(int)
    image = Image.new("1", (int(width), int(height)), 0)
    ImageDraw.Draw(image).polygon([tuple(c) for c in cells.tolist()], fill=1, outline=1)
    mask = np.asarray(image, dtype=bool)
    return binary_dilation(mask, iterations=margin_cells) if margin_cells else mask


def _turn(points: np.ndarray) -> np.ndarray:
    """Rotate UV points ``[..., 2]`` by 90 degrees counter-clockwise (orientation kept), back to a zero lower-left corner."""
    turned = np.stack([-points[..., 1], points[..., 0]], -1)
    return turned - turned.reshape(-1, 2).min(0)


def _bitmap_pack(charts: list[np.ndarray], margin: float, resolution: int = 384) -> tuple[float, np.ndarray, np.ndarray]:
    """Pack ``charts`` (each ``[F_c, 3, 2]`` with a zero lower-left corner) into the unit square.

    Returns the largest common scale, lower-left offsets ``[C, 2]`` and which charts are turned by
    90 degrees ``[C]``. Each chart's outline is rasterized on a grid, grown by the margin; largest
    first, each goes to the lowest, then leftmost, free position (an FFT correlation finds them), so
    small charts fill the hollows of big ones. Charts with more than a tenth of the area (the body
    and the head) stay upright; the others may turn if that places them lower. Scale by bisection.
    """
    from scipy.signal import fftconvolve

    margin_cells = max(1, int(np.ceil(margin * resolution / 2)))
    outlines = [_outline(c) for c in charts]
    areas = np.array([np.abs(_signed_areas(torch.from_numpy(c)).numpy()).sum() for c in charts])
    order = np.argsort(-areas, kind="stable")
    may_turn = areas < 0.1 * areas.sum()

    def place(scale: float) -> tuple[np.ndarray, np.ndarray] | None:
        occupied = np.zeros((resolution, resolution), dtype=bool)
        offsets, turned = np.zeros((len(charts), 2)), np.zeros(len(charts), dtype=bool)
        for k in order:
            best = None
            for turn in (False, True) if may_turn[k] else (False,):
                foot = _footprint(_turn(outlines[k]) if turn else outlines[k], scale, resolution, margin_cells)
                h, w = foot.shape
                if h > resolution or w > resolution:
                    continue
                hits = fftconvolve(occupied.astype(np.float32), foot[::-1, ::-1].astype(np.float32), mode="valid") > 0.5
                free = np.argwhere(~hits)  # (row, col) of the footprint's lower-left cell; row 0 is v = 0
                if len(free):
                    row, col = free[np.lexsort((free[:, 1], free[:, 0]))[0]]
                    if best is None or (row, col) < best[:2]:
                        best = (row, col, turn, foot)
            if best is None:
                return None
            row, col, turned[k], foot = best
            occupied[row : row + foot.shape[0], col : col + foot.shape[1]] |= foot
            offsets[k] = (col + margin_cells + 1) / resolution, (row + margin_cells + 1) / resolution
        return offsets, turned

    lo, hi = 0.0, 1.0 / max(float(np.ptp(o, 0).max()) for o in outlines)
    best = None
    for _ in range(18):
        mid = 0.5 * (lo + hi)
        placed = place(mid)
        if placed is None:
            hi = mid
        else:
            lo, best = mid, placed
    if best is None:
        raise RuntimeError("could not pack the charts into the unit square")
    return lo, best[0], best[1]


def _pack(face_uvs: np.ndarray, charts: np.ndarray, margin: float = _CHART_MARGIN) -> np.ndarray:
    """Move, turn and uniformly scale the charts of ``face_uvs`` so they tile the unit square."""
    ids = np.unique(charts)
    local = [face_uvs[charts == c] - face_uvs[charts == c].reshape(-1, 2).min(0) for c in ids]
    scale, offsets, turned = _bitmap_pack(local, margin)
    out = np.empty_like(face_uvs)
    for c, chart_uvs, offset, turn in zip(ids, local, offsets, turned):
        out[charts == c] = (_turn(chart_uvs) if turn else chart_uvs) * scale + offset
    return out


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
    digest = hashlib.sha1()
    digest.update(body.faces.cpu().numpy().astype(np.int64).tobytes())
    digest.update(body.face_uvs.detach().cpu().numpy().astype(np.float32).tobytes())
    return dinar_cache_dir() / "atlas" / f"{body.name}-{ATLAS_VERSION}-{digest.hexdigest()[:12]}.safetensors"


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
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        try:
            save_file({"face_uvs": face_uvs.contiguous()}, tmp, metadata={"body": body.name, "version": ATLAS_VERSION})
            os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is shared like Anny's
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    return UVAtlas("front", face_uvs)


def load_atlas(body: BodyModel, name: str = DEFAULT_ATLAS) -> UVAtlas:
    """An atlas by name: ``"front"`` (the paper's front cut, default) or ``"native"`` (the model's own)."""
    if name == "front":
        return front_cut_atlas(body)
    if name == "native":
        return native_atlas(body)
    raise ValueError(f"Unknown atlas {name!r}; choose one of {list(ATLAS_NAMES)}")


# 6. Checks and statistics ---------------------------------------------------------------------------
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


def atlas_stats(body: BodyModel, atlas: UVAtlas) -> dict:
    """How good an atlas is on the body's rest pose.

    - ``area_distortion_mean`` / ``_p95``: area-weighted mean and 95th percentile over faces of
      ``|log(uv area share / 3D area share)|`` (0: every face gets texels in proportion to its area;
      Anny's charts give the face more on purpose, which counts here too);
    - ``area_distortion_in_charts``: the same mean with shares taken within each chart, i.e. the
      flattening alone, without the texel density chosen per chart;
    - ``uv_coverage``: the fraction of the unit square covered by charts;
    - ``charts``; ``seam_length_m``: summed 3D length of the edges whose sides have different UVs;
      ``seam_length_back_m``: the part of it on back-facing surface (mean normal of the two faces
      . back > 0.3); ``seam_length_back_torso_m``: of that, edges between torso vertices (torso
      membership > 0.5) — what the front cut is for;
    - ``flipped``: faces with non-positive signed UV area; ``overlaps``: crossing chart borders plus
      nested charts; ``in_unit_square``: all UVs in [0, 1].
    """
    vertices, faces = _rest_mesh(body)
    uv = atlas.face_uvs.detach().double().cpu().numpy()
    topo = _EdgeTopology.of(faces)
    signed = _signed_areas(torch.from_numpy(uv)).numpy()
    area = _areas_3d(vertices, faces)
    share_3d = area / area.sum()
    share_uv = np.abs(signed) / np.abs(signed).sum()
    log_ratio = np.abs(np.log(np.maximum(share_uv, 1e-300) / np.maximum(share_3d, 1e-300)))
    order = np.argsort(log_ratio)
    cumulative = np.cumsum(share_3d[order])
    p95 = log_ratio[order][min(np.searchsorted(cumulative, 0.95), len(order) - 1)]
    seam = _seam_mask(topo, uv)
    length = np.linalg.norm(vertices[topo.edges[:, 0]] - vertices[topo.edges[:, 1]], axis=1)
    normals = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True).clip(min=1e-12)
    edge_normal = normals[topo.faces[:, 0]] + normals[topo.faces[:, 1].clip(min=0)]
    edge_normal /= np.linalg.norm(edge_normal, axis=1, keepdims=True).clip(min=1e-12)
    back = -_axes(body)[0]
    on_back = seam & (edge_normal @ back > 0.3)
    torso = body.parts.weights[:, body.parts.names.index("torso")].cpu().numpy() > 0.5
    charts = _chart_ids(topo, uv)
    chart_uv = np.bincount(charts, np.abs(signed))[charts]
    chart_3d = np.bincount(charts, area)[charts]
    in_charts = np.abs(np.log(np.maximum(np.abs(signed) / chart_uv, 1e-300) / np.maximum(area / chart_3d, 1e-300)))
    return {
        "name": atlas.name,
        "area_distortion_mean": float((share_3d * log_ratio).sum()),
        "area_distortion_p95": float(p95),
        "area_distortion_in_charts": float((share_3d * in_charts).sum()),
        "uv_coverage": float(np.abs(signed).sum()),
        "charts": int(charts.max() + 1),
        "seam_length_m": float(length[seam].sum()),
        "seam_length_back_m": float(length[on_back].sum()),
        "seam_length_back_torso_m": float(length[on_back & torso[topo.edges[:, 0]] & torso[topo.edges[:, 1]]].sum()),
        "flipped": int((signed <= 0).sum()),
        "overlaps": _count_overlaps(topo, uv, charts),
        "in_unit_square": bool((uv >= 0).all() and (uv <= 1).all()),
    }


# 7. Drawings -----------------------------------------------------------------------------------------
def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _uv_panel(face_uvs: np.ndarray, fill: np.ndarray, seams: np.ndarray, size: int):
    """Faces of ``face_uvs [F, 3, 2]`` filled with ``fill [F, 3]`` (uint8), chart borders ``seams [K, 2, 2]`` in black."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    px = np.stack([face_uvs[..., 0] * size, (1 - face_uvs[..., 1]) * size], -1)
    for corners, color in zip(px.tolist(), fill.tolist()):
        draw.polygon([tuple(c) for c in corners], fill=tuple(color))
    sx = np.stack([seams[..., 0] * size, (1 - seams[..., 1]) * size], -1)
    for (a, b) in sx.tolist():
        draw.line([tuple(a), tuple(b)], fill=(0, 0, 0), width=1)
    draw.rectangle([0, 0, size - 1, size - 1], outline=(128, 128, 128))
    return image


def _body_view(
    vertices: np.ndarray,  # [V, 3]
    faces: np.ndarray,  # [F, 3]
    seam_edges: np.ndarray,  # [E_s, 2]
    fill: np.ndarray,  # [F, 3] uint8
    axes: tuple[np.ndarray, np.ndarray, np.ndarray],
    from_back: bool,
    width: int,
    height: int,
):
    """Orthographic front or back view with seam edges in red, painter's algorithm.

    ``axes`` = (front, up, lateral) of the body. Faces and seam edges are drawn far to near; an
    edge counts 1 cm nearer than it is, so it lands on top of the faces beside it but under any
    limb in front of it.
    """
    from PIL import Image, ImageDraw

    front, up, lateral = axes
    toward = -front if from_back else front  # from the body towards the viewer
    x = vertices @ (-lateral if from_back else lateral)  # the subject's left is on the right from the front
    depth = -(vertices @ toward)  # larger is farther from the viewer
    z = vertices @ up
    scale = 0.92 * min(width / np.ptp(x), height / np.ptp(z))
    px = np.stack([(x - 0.5 * (x.max() + x.min())) * scale + width / 2, (0.5 * (z.max() + z.min()) - z) * scale + height / 2], 1)
    normals = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True).clip(min=1e-12)
    toward_viewer = normals @ toward
    shade = 0.45 + 0.55 * toward_viewer.clip(0, 1)
    visible = np.nonzero(toward_viewer > 0)[0]
    items = [(depth[faces[f]].mean(), 0, int(f)) for f in visible]
    items += [(depth[e].mean() - 0.01, 1, k) for k, e in enumerate(seam_edges)]
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for _, kind, k in sorted(items, key=lambda item: -item[0]):
        if kind == 0:
            draw.polygon([tuple(px[i]) for i in faces[k]], fill=tuple(int(c * shade[k]) for c in fill[k]))
        else:
            a, b = seam_edges[k]
            draw.line([tuple(px[a]), tuple(px[b])], fill=(230, 0, 0), width=2)
    return image


def draw_atlas(body: BodyModel, atlases: list[UVAtlas], path: str | Path, size: int = 1024) -> None:
    """PNG with one column per atlas: part colours in UV, front/back facing in UV, the body's seams in 3D.

    Row 1: faces filled with the part colormap (:mod:`dinar.body.colormap`), chart borders in black.
    Row 2: faces by where they face: red front (normal . front > 0), blue back; a front-cut atlas
    shows its borders running through red only on the torso. Row 3: the rest-pose body from the
    front and from the back with every seam in red.
    """
    from PIL import Image, ImageDraw

    from dinar.body.colormap import part_colors

    vertices, faces = _rest_mesh(body)
    topo = _EdgeTopology.of(faces)
    colors = part_colors(body).cpu().numpy()
    part_fill = (255 * colors[faces].mean(1)).round().astype(np.uint8)
    normals = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True).clip(min=1e-12)
    facing = normals @ _axes(body)[0]
    red, blue = np.array([235, 70, 50]), np.array([40, 90, 230])
    t = (0.5 + 0.5 * facing)[:, None]
    facing_fill = (t * red + (1 - t) * blue).round().astype(np.uint8)
    grey = np.full_like(part_fill, 215)
    band = max(16, size // 28)  # a title band above each row
    sheet = Image.new("RGB", (size * len(atlases), 3 * (size + band)), "white")
    draw = ImageDraw.Draw(sheet)
    font = _font(int(band * 0.7))
    for i, atlas in enumerate(atlases):
        uv = atlas.face_uvs.detach().double().cpu().numpy()
        seam = _seam_mask(topo, uv)
        borders = _boundary_segments(topo, uv)
        x = i * size
        panels = [
            (f"{atlas.name}: body parts", _uv_panel(uv, part_fill, borders, size)),
            (f"{atlas.name}: faces facing front (red) or back (blue)", _uv_panel(uv, facing_fill, borders, size)),
        ]
        for row, (title, panel) in enumerate(panels):
            draw.text((x + 8, row * (size + band) + band // 8), title, fill=(0, 0, 0), font=font)
            sheet.paste(panel, (x, row * (size + band) + band))
        draw.text((x + 8, 2 * (size + band) + band // 8), f"{atlas.name}: seams (red), front and back", fill=(0, 0, 0), font=font)
        for j, back in enumerate((False, True)):
            view = _body_view(vertices, faces, topo.edges[seam], grey, _axes(body), back, size // 2, size)
            sheet.paste(view, (x + j * (size // 2), 2 * (size + band) + band))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def write_atlas_report(path: str | Path, body: BodyModel | None = None, size: int = 1024) -> dict:
    """Draw the native and the front-cut atlas to ``path`` (PNG); return ``{name: atlas_stats}`` (``dinar info --atlas``)."""
    if body is None:
        from dinar.body import load_body_model

        body = load_body_model()
    atlases = [native_atlas(body), front_cut_atlas(body)]
    draw_atlas(body, atlases, path, size)
    return {atlas.name: atlas_stats(body, atlas) for atlas in atlases}
