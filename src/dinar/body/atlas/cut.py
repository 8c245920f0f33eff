"""The paper's front cut (DINAR 3.1): which mesh edges to open so the torso, arms and legs become one
disk cut at the front (module docstring of :mod:`dinar.body.atlas`)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from dinar.body.atlas.mesh import _areas_3d, _axes, _EdgeTopology, _vertex_normals
from dinar.body.base import BodyModel

_FRONT_WEIGHT = 4.0  # cut paths: an edge costs length * (1 + _FRONT_WEIGHT * (1 - n . preferred))
_MEDIAL_WEIGHT = 0.7  # how far limb cuts lean from straight front towards the inner side


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
    neck, limbs, parts = _holes(body, loops, vertices, up)
    legs = [part.startswith(("foot", "lowerleg", "upperleg")) for part in parts]
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
    for loop, is_leg, part in zip(limbs, legs, parts):
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

    return _Cut(region=region, edges=_path_edges(topo, paths), paths=paths)


def _holes(body: BodyModel, loops: list[np.ndarray], vertices: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], list[str]]:
    """The body chart's holes: the neck (the highest), the four limb holes and the part each limb hole borders."""
    names, labels = body.parts.names, body.parts.labels.cpu().numpy()
    neck = max(loops, key=lambda loop: (vertices[loop] @ up).mean())
    limbs = [loop for loop in loops if loop is not neck]
    parts = [names[np.bincount(labels[loop], minlength=len(names)).argmax()] for loop in limbs]
    if len(limbs) != 4 or sum(p.startswith(("foot", "lowerleg", "upperleg")) for p in parts) != 2:
        raise RuntimeError(
            f"front cut: expected the {body.name} body chart to have 5 holes (neck, wrists, ankles), "
            f"found {len(loops)}; this atlas splits the body differently"
        )
    return neck, limbs, parts


def _path_edges(topo: _EdgeTopology, paths: list[np.ndarray]) -> np.ndarray:
    """[E] bool: the mesh edges along the vertex paths."""
    edge_index = {(int(a), int(b)): i for i, (a, b) in enumerate(topo.edges)}
    cut = np.zeros(len(topo.edges), dtype=bool)
    for path in paths:
        for a, b in itertools.pairwise(path):
            cut[edge_index[(min(int(a), int(b)), max(int(a), int(b)))]] = True
    return cut
