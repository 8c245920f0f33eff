"""A synthetic person's appearance baked into the body model's UV atlas (the texture the ground-truth
renders of :mod:`dinar.data.render_gt` use)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from dinar.body.base import BodyModel
from dinar.data.appearance import Appearance
from dinar.data.body_regions import (
    Landmarks,
    SurfacePoints,
    face_regions,
    label_points,
    landmarks,
)
from dinar.data.painting import paint_points


# The atlas ------------------------------------------------------------------------------------
@dataclass
class PersonTexture:
    """A painted person: the albedo texture and the per-vertex labels the ground-truth geometry needs."""

    texture: Tensor  # [1, 3, T, T] sRGB albedo in [0, 1] on the body's atlas (body.face_uvs)
    vertex_labels: Tensor  # [V] int64 SKIN / HAIR / TOP / ...
    vertex_colours: Tensor  # [V, 3] albedo at the vertices
    vertex_limb: Tensor  # [V] position along the vertex's limb: 0 at the shoulder / hip, 1 at the wrist / ankle
    landmarks: Landmarks


def _fill_outside(texture: Tensor, covered: Tensor) -> Tensor:
    """Give every texel outside the UV islands the colour of its nearest island texel.

    Bilinear lookups (and any downsampling) at island borders then never mix in background.
    """
    from scipy.ndimage import distance_transform_edt

    idx = distance_transform_edt(~covered.numpy(), return_distances=False, return_indices=True)
    rows, cols = torch.from_numpy(idx[0]), torch.from_numpy(idx[1])
    return texture[:, :, rows, cols]


def surface_points_of_vertices(body: BodyModel, rest_vertices: Tensor, rest_normals: Tensor) -> SurfacePoints:
    region = torch.zeros(body.num_vertices, dtype=torch.long)
    for key, ids in face_regions(body).items():
        region[ids] = 1 if key.startswith("eye") else 2
    return SurfacePoints(pos=rest_vertices, normal=rest_normals, part=body.parts.labels.cpu(), face_region=region)


def bake_person_texture(body: BodyModel, app: Appearance, rest_vertices: Tensor, rest_normals: Tensor, rest_joints: Tensor, size: int) -> PersonTexture:
    """Paint ``app`` on the body's atlas at ``size x size``, and label and colour its vertices.

    ``rest_vertices [V, 3]``, ``rest_normals [V, 3]`` and ``rest_joints [J, 3]`` are the person's shape in
    the rest pose (zero pose).
    """
    lm = landmarks(body, rest_vertices, rest_joints)
    names = body.parts.names
    vpts = surface_points_of_vertices(body, rest_vertices, rest_normals)
    vlabels = label_points(vpts, app, lm, names)
    vcolours = paint_points(vpts, vlabels, app, lm, names)

    layout = _cached_layout(body, size)
    index = layout.foreground_index  # covered texels, into T * T
    fid = layout.face_id.view(-1)[index]
    bary = layout.bary.permute(0, 2, 3, 1).reshape(-1, 3)[index]  # [M, 3]
    corners = body.faces.cpu()[fid]  # [M, 3]
    interp = lambda attr: torch.einsum("mkc,mk->mc", attr[corners], bary)
    nearest = corners.gather(1, bary.argmax(1, keepdim=True))[:, 0]  # the texel's closest vertex
    tpts = SurfacePoints(
        pos=interp(rest_vertices), normal=F.normalize(interp(rest_normals), dim=1),
        part=vpts.part[nearest], face_region=vpts.face_region[nearest],
    )
    tlabels = label_points(tpts, app, lm, names)
    tcol = paint_points(tpts, tlabels, app, lm, names)
    tex = torch.zeros(3, size * size)
    tex[:, index] = tcol.T
    covered = torch.zeros(size * size, dtype=torch.bool)
    covered[index] = True
    texture = _fill_outside(tex.view(1, 3, size, size), covered.view(size, size))
    return PersonTexture(texture=texture, vertex_labels=vlabels, vertex_colours=vcolours, vertex_limb=vpts.coords[2], landmarks=lm)


_LAYOUTS: dict = {}


def _cached_layout(body: BodyModel, size: int):
    """The atlas rasterized in texture space, once per (body model, size) in a process."""
    from dinar.geometry.texture_lookup import uv_layout

    key = (id(body), size)
    if key not in _LAYOUTS:
        _LAYOUTS[key] = uv_layout(body.face_uvs.cpu(), size)
    return _LAYOUTS[key]
