"""Flattening the front-cut body chart: weld the closed seams, Tutte embedding, then SLIM with the
border kept from touching itself (module docstring of :mod:`dinar.body.atlas`)."""

from __future__ import annotations

import numpy as np
import torch

from dinar.body.atlas.mesh import _areas_3d, _cross2, _EdgeTopology, _signed_areas

_SLIM_ITERATIONS = 40
_BORDER_GAP = 0.007  # metres between parts of the flattened body chart's border (~1 texel at 256^2)


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
