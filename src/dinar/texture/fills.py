"""Simple fills of the texels no photo shows: the baselines the diffusion inpainting must beat (paper 3.3,
Table 2). Each gives a whole texture in place of the VQ → diffusion → VQ result (T_res); the rest of the
pipeline (colour adjustment, eq. 6) is the same, so a table row differs by the fill alone.

- ``mean``: the mean RGB of the known texels of the same body part (all known texels for a part the
  photo does not show at all);
- ``mirror``: the front mirrored onto the back: the texel's rest-pose surface point reflected through
  its body part's coronal plane (the plane through the part's centre, normal to the body's front axis),
  then the colour of the known texel nearest to that point;
- ``nearest``: the colour of the known texel nearest on the body's rest-pose surface (3-D distance
  between texel centres, a stand-in for geodesic distance on a mesh whose parts stand apart in rest pose);
- ``nearest_part``: the same, among the known texels of the texel's own body part (all known texels for a part
  the photo does not show): no colour crosses from one part to a neighbour it touches in rest pose (an arm's
  skin onto the torso's side).

Only the RGB channels are filled; T_gen stays as G made it everywhere, and the filled texels count as
known (B_smp = B_fill = 1), as in a restored texture. Texels outside every chart are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from dinar.texture.channels import FILLED, RGB, SAMPLED
from dinar.texture.merging import eroded

FillKind = Literal["mean", "mirror", "nearest", "nearest_part"]
FILLS: tuple[str, ...] = ("mean", "mirror", "nearest", "nearest_part")



@dataclass
class TexelSurface:
    """Where each texel of an atlas lies on the body: what the fills need to know about the mesh."""

    inside: Tensor  # [S, S] bool, texels inside a UV chart
    position: Tensor  # [S, S, 3] the texel centre's rest-pose surface point (0 outside the charts)
    part: Tensor  # [S, S] int64 body-part label of the texel (-1 outside the charts)
    front: Tensor  # [3] unit vector the body faces


def fill_texture(texture: Tensor, known: Tensor, surface: TexelSurface, kind: FillKind) -> Tensor:
    """``[1, C, S, S]`` T with the RGB of the chart texels outside ``known`` ([1, 1, S, S], B_fill) filled
    by ``kind`` (module docstring); the known texels and T_gen are unchanged."""
    if kind not in FILLS:
        raise ValueError(f"fill must be one of {FILLS}, got {kind!r}")
    inside = surface.inside.to(texture.device)
    have = (known[0, 0] > 0.5) & inside
    todo = inside & ~have
    out = texture.clone()
    if not have.any() or not todo.any():
        return out
    rgb = texture[0, RGB]  # [3, S, S]
    if kind == "mean":
        colours = _part_means(rgb, have, todo, surface.part.to(texture.device))
    elif kind == "nearest_part":
        colours = _part_nearest(rgb, have, todo, surface.part.to(texture.device), surface.position.to(texture.device))
    else:
        points = surface.position.to(texture.device)[todo]
        if kind == "mirror":
            points = _mirrored(points, surface.part.to(texture.device)[todo], surface)
        source = _nearest(surface.position.to(texture.device)[have], points)
        colours = rgb[:, have][:, source]
    out[0, RGB][:, todo] = colours.to(out.dtype)
    out[0, SAMPLED][:, todo] = 1.0
    out[0, FILLED][:, todo] = 1.0
    return out


def inset_known(known: Tensor, surface: TexelSurface, texels: int) -> Tensor:
    """``[1, 1, S, S]`` B_fill (``known``) less its last ``texels`` texels towards the unseen texels: the seen mask
    eroded by a ``(2 texels + 1)²`` square inside the UV charts (the texels outside every chart count as seen, so a
    chart's own edge does not erode), and a body part the erosion would empty keeps all its seen texels.

    Why: the seen region's border is where the fit and the occlusion go wrong (paper 3.5): its texels hold the arm, the
    hair or the chair beside the body, and specks of one or two texels lie far out in the unseen region. A fill that
    continues the photo's texels over the unseen ones (``nearest_part``) copies those across the back; one that takes
    them from this inset region copies what lies well inside the seen body."""
    if texels < 0:
        raise ValueError(f"texels must be >= 0, got {texels}")
    have = (known > 0.5).to(known.dtype)
    if texels == 0:
        return have
    inside = surface.inside.to(known.device)
    kept = eroded(torch.maximum(have, (~inside).to(known.dtype)[None, None]), texels) * have
    seen, part = have[0, 0] > 0.5, surface.part.to(known.device)
    emptied = [p for p in part[seen].unique().tolist() if not (kept[0, 0] > 0.5)[part == p].any()]
    for p in emptied:
        kept[0, 0][seen & (part == p)] = 1.0
    return kept


def _part_means(rgb: Tensor, have: Tensor, todo: Tensor, part: Tensor) -> Tensor:
    """[3, M] the mean known colour of each to-do texel's part (the overall mean for unseen parts)."""
    overall = rgb[:, have].mean(1)
    colours = overall[:, None].expand(3, int(todo.sum())).clone()
    parts_todo = part[todo]
    for p in parts_todo.unique().tolist():
        seen = have & (part == p)
        if seen.any():
            colours[:, parts_todo == p] = rgb[:, seen].mean(1)[:, None]
    return colours


def _part_nearest(rgb: Tensor, have: Tensor, todo: Tensor, part: Tensor, position: Tensor) -> Tensor:
    """[3, M] the colour of each to-do texel's nearest known texel of its own part (of all known texels for unseen
    parts)."""
    parts_todo = part[todo]
    points = position[todo]
    source = torch.empty(points.shape[0], dtype=torch.long, device=points.device)
    flat_have = have.flatten().nonzero()[:, 0]
    unseen_part = torch.zeros_like(parts_todo, dtype=torch.bool)
    for p in parts_todo.unique().tolist():
        seen = have & (part == p)
        sel = parts_todo == p
        if not seen.any():
            unseen_part |= sel
            continue
        local = _nearest(position[seen], points[sel])
        # the part's known texels as indices into all known texels (row-major order on both sides)
        source[sel] = torch.searchsorted(flat_have, seen.flatten().nonzero()[:, 0])[local]
    if unseen_part.any():  # the fallback: any part
        source[unseen_part] = _nearest(position[have], points[unseen_part])
    return rgb[:, have][:, source]


def _mirrored(points: Tensor, parts: Tensor, surface: TexelSurface) -> Tensor:
    """[M, 3] points reflected through their part's coronal plane (normal ``surface.front``)."""
    front = surface.front.to(points)
    inside = surface.inside
    out = points.clone()
    for p in parts.unique().tolist():
        of_part = surface.position[inside & (surface.part == p)].to(points)
        centre = of_part.mean(0) @ front
        sel = parts == p
        depth = points[sel] @ front - centre
        out[sel] = points[sel] - 2 * depth[:, None] * front
    return out


def mirror_texels(surface: TexelSurface) -> Tensor:
    """``[S·S]`` int64: for each texel (row-major), the flat index of the chart texel nearest to its mirror point
    (its rest-pose point reflected through its part's coronal plane, as the ``mirror`` fill reflects): the body's
    front/back correspondence as a fixed gather. Texels outside the charts map to themselves."""
    inside = surface.inside.cpu()
    index = torch.arange(inside.numel())
    if not inside.any():
        return index
    position, part = surface.position.cpu(), surface.part.cpu()
    mirrored = _mirrored(position[inside], part[inside], TexelSurface(inside, position, part, surface.front.cpu()))
    chart = inside.flatten().nonzero()[:, 0]
    index[chart] = chart[_nearest(position[inside], mirrored)]
    return index


def _nearest(sources: Tensor, queries: Tensor) -> Tensor:
    """[M] index of the source point nearest to each query point (k-d tree)."""
    from scipy.spatial import cKDTree

    _, index = cKDTree(sources.double().cpu().numpy()).query(queries.double().cpu().numpy(), k=1)
    return torch.from_numpy(np.asarray(index, dtype=np.int64)).to(sources.device)


@torch.no_grad()
def texel_surface(body, face_uvs: Tensor, size: int, shape: Tensor | None = None) -> TexelSurface:
    """The :class:`TexelSurface` of a body model (``dinar.body.BodyModel``) in the atlas ``face_uvs``
    ([F, 3, 2]) at ``size``²: rest pose, the avatar's ``shape`` ([S_b], zeros when None)."""
    from dinar.geometry.texture_lookup import bake_vertex_attr, uv_layout

    device = body.faces.device
    layout = uv_layout(face_uvs.to(device), size)
    joints = body.num_joints
    betas = torch.zeros(1, body.num_shape, device=device) if shape is None else shape.reshape(1, -1).to(device)
    zeros = torch.zeros(1, 3, device=device)
    vertices = body(pose=torch.zeros(1, joints, 3, device=device), shape=betas, global_orient=zeros, transl=zeros).vertices
    position = bake_vertex_attr(layout, body.faces, vertices.float())[0].permute(1, 2, 0)  # [S, S, 3]
    inside = layout.face_id[0] >= 0
    corner = layout.bary[0].argmax(0)  # the face corner each texel is closest to
    labels = body.parts.labels.to(device)[body.faces[layout.face_id[0].clamp_min(0)]]  # [S, S, 3]
    part = torch.where(inside, labels.gather(-1, corner[..., None])[..., 0], torch.full_like(corner, -1))
    front = torch.tensor(body.front_axis, dtype=torch.float32, device=device)
    return TexelSurface(inside=inside, position=position * inside[..., None], part=part, front=front / front.norm())
