"""The body-part colormap of the occlusion detector (paper 3.5, figures 4 and 9).

"We assigned each limb in the colormap a separate color and made the transition between them
smooth using a color gradient. This enables us to avoid having seams in the rasterization." The
body rasterized with this colormap shows a hard colour step exactly where one part passes in front
of another (a forearm across the belly, crossed thighs), which Canny finds, and nowhere else: inside
a limb and across its joints the colour changes slowly, below Canny's thresholds.

Colours: each part of :data:`dinar.body.parts.PART_NAMES` gets a corner or edge midpoint of the RGB
cube, chosen (by a small search) so that parts that can overlap in a photo differ by at least 0.5 in
some channel, and most of them by 1.0: arms and hands against the torso and the head, hands and
forearms against the legs, left against right, forearm against upper arm, shin against thigh.
Vertex colours blend the part colours by each vertex's soft membership (skin weights summed per
part), diffused over the surface so every joint becomes a gradient a few centimetres wide.
"""

from __future__ import annotations

import weakref

import numpy as np
import torch
from torch import Tensor

from dinar.body.atlas.mesh import UVAtlas
from dinar.body.base import BodyModel

PART_COLORS: dict[str, tuple[float, float, float]] = {
    "head": (0.5, 1.0, 0.5),
    "torso": (1.0, 0.5, 1.0),
    "upperarm.L": (0.0, 1.0, 0.5),
    "lowerarm.L": (0.0, 0.0, 0.5),
    "hand.L": (0.0, 0.0, 1.0),
    "upperarm.R": (1.0, 1.0, 0.0),
    "lowerarm.R": (1.0, 0.0, 0.0),
    "hand.R": (0.5, 0.0, 0.0),
    "upperleg.L": (0.0, 1.0, 1.0),
    "lowerleg.L": (1.0, 0.0, 1.0),
    "foot.L": (0.5, 0.0, 1.0),
    "upperleg.R": (0.0, 1.0, 0.0),
    "lowerleg.R": (1.0, 1.0, 0.5),
    "foot.R": (0.5, 0.5, 0.0),
}

TRANSITION_WIDTH = 0.04  # metres: the diffusion length of the memberships across a joint


def palette(names: list[str]) -> Tensor:
    """``[P, 3]`` colours in [0, 1] of the named parts."""
    missing = [n for n in names if n not in PART_COLORS]
    if missing:
        raise KeyError(f"no colour for body parts {missing}; known parts: {list(PART_COLORS)}")
    return torch.tensor([PART_COLORS[n] for n in names], dtype=torch.float32)


def smooth_memberships(
    vertices: Tensor,  # [V, 3] rest-pose positions
    faces: Tensor,  # [F, 3]
    weights: Tensor,  # [V, P] soft part memberships, rows sum to 1
    width: float = TRANSITION_WIDTH,
) -> Tensor:
    """Memberships diffused over the surface by heat flow for time ``width ** 2``, ``[V, P]``.

    One implicit step ``(M + t L) W' = M W`` with the cotangent Laplacian ``L`` and the Voronoi mass
    matrix ``M``: metric (the same width on a finger as on the torso), and one sparse solve.
    """
    import igl
    import scipy.sparse.linalg as spl

    if width <= 0:
        return weights.clone()
    v = vertices.detach().double().cpu().numpy()
    f = faces.cpu().numpy().astype(np.int64)
    w = weights.detach().double().cpu().numpy()
    laplacian = -igl.cotmatrix(v, f)  # positive semi-definite
    mass = igl.massmatrix(v, f, igl.MASSMATRIX_TYPE_VORONOI)
    solved = spl.splu((mass + width**2 * laplacian).tocsc()).solve(np.asarray(mass @ w))
    solved = np.clip(solved, 0.0, None)
    solved /= solved.sum(1, keepdims=True).clip(min=1e-12)
    return torch.from_numpy(solved).to(weights)


_CACHE: weakref.WeakKeyDictionary[BodyModel, dict[float, Tensor]] = weakref.WeakKeyDictionary()


def part_colors(body: BodyModel, width: float = TRANSITION_WIDTH) -> Tensor:
    """Per-vertex part colours ``[V, 3]`` in [0, 1] (paper 3.5): palette blended by smoothed memberships.

    Pose-independent; computed once per body model and width (a sparse solve, ~0.5 s) and kept.
    """
    per_body = _CACHE.setdefault(body, {})
    if width not in per_body:
        with torch.no_grad():
            rest = body().vertices[0]
        memberships = smooth_memberships(rest, body.faces, body.parts.weights, width)
        per_body[width] = (memberships @ palette(body.parts.names).to(memberships)).clamp(0, 1).cpu()
    return per_body[width].to(body.faces.device)


def part_color_texture(body: BodyModel, atlas: UVAtlas, size: int = 256, padding: int = 4) -> Tensor:
    """The part colormap as a UV texture ``[3, S, S]`` in [0, 1] for ``atlas``, on the body's device.

    Texels outside the charts are filled for ``padding`` texels with the mean of their filled
    neighbours, so bilinear lookups at chart borders never blend in the background (which would
    draw the atlas seams into the rasterized colormap as false edges).
    """
    from dinar.geometry.texture_lookup import bake_vertex_attr, uv_layout

    colors = part_colors(body).cpu()
    layout = uv_layout(atlas.face_uvs.cpu(), size)
    texture = bake_vertex_attr(layout, body.faces.cpu(), colors[None])  # [1, 3, S, S]
    return dilate_texture(texture, layout.mask, padding)[0].clamp(0, 1).to(body.faces.device)


def dilate_texture(
    texture: Tensor,  # [B, C, S, S]
    mask: Tensor,  # [B, 1, S, S] 1 on texels that hold values
    iterations: int,
) -> Tensor:
    """Grow ``texture`` outwards by ``iterations`` texels (each new texel: mean of its filled 3 x 3 neighbours)."""
    filled = (mask > 0.5).to(texture.dtype)
    out = texture * filled
    for _ in range(iterations):
        total = torch.nn.functional.avg_pool2d(out, 3, stride=1, padding=1, count_include_pad=False)
        count = torch.nn.functional.avg_pool2d(filled, 3, stride=1, padding=1, count_include_pad=False)
        grow = (count > 0) & (filled < 0.5)
        out = torch.where(grow, total / count.clamp_min(1e-12), out)
        filled = torch.maximum(filled, grow.to(filled.dtype))
    return out
