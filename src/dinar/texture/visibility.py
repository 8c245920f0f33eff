"""Normal-angle maps: how frontally the camera sees each surface point (lambda of paper 3.2).

``lambda = max(0, n . d)``: the cosine between the unit surface normal ``n`` (interpolated vertex
normals) and the unit direction ``d`` from the surface point to the camera centre. 1 faces the
camera, 0 is grazing, back-facing or not visible. Used as the merging logits of eq. 5 and as the
per-texel weights of the RGB tuning (appendix B).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dinar.geometry.camera import Camera
from dinar.geometry.raster import RasterOutput, interpolate_vertex_attr
from dinar.geometry.texture_lookup import bake_vertex_attr, uv_layout


def normal_angle_image(
    raster: RasterOutput,  # the mesh rasterized by ``camera``
    vertex_normals: Tensor,  # [B, V, 3] unit vertex normals
    faces: Tensor,  # [F, 3]
    vertices: Tensor,  # [B, V, 3] world positions
    camera: Camera,
) -> Tensor:
    """Per-pixel ``lambda`` (paper 3.2) of the visible surface, ``[B, 1, H, W]``; 0 on background."""
    if vertex_normals.shape != vertices.shape or vertices.shape[-1] != 3:
        raise ValueError(f"expected vertex_normals and vertices [B, V, 3], got {tuple(vertex_normals.shape)}, {tuple(vertices.shape)}")
    normal = F.normalize(interpolate_vertex_attr(raster, faces, vertex_normals), dim=1, eps=1e-12)
    point = interpolate_vertex_attr(raster, faces, vertices)  # [B, 3, H, W]
    centre = camera.expand(vertices.shape[0]).center.to(point)[:, :, None, None]
    to_camera = F.normalize(centre - point, dim=1, eps=1e-12)
    return (normal * to_camera).sum(1, keepdim=True).clamp_min(0) * raster.mask


def normal_angle_texture(
    raster: RasterOutput,  # the mesh rasterized by ``camera`` (its depth decides visibility)
    vertex_normals: Tensor,  # [B, V, 3]
    faces: Tensor,  # [F, 3]
    vertices: Tensor,  # [B, V, 3]
    camera: Camera,
    face_uvs: Tensor | None = None,  # [F, 3, 2], needed unless ``layout`` is given
    texture_size: int = 256,
    layout: RasterOutput | None = None,  # precomputed :func:`dinar.geometry.texture_lookup.uv_layout`
    depth_tolerance: float = 0.01,
) -> Tensor:
    """Per-texel ``lambda`` (paper 3.2), ``[B, 1, S, S]``, computed directly at every texel.

    Rather than splatting per-pixel values (which leaves the gaps Algorithm 1 has to fill), the mesh
    is rasterized in UV space (:func:`uv_layout`): each texel centre gets its surface point and
    normal. A texel counts only where the camera sees it: its point projects inside the image onto a
    covered pixel whose depth is not nearer than the point's by more than ``depth_tolerance``
    (relative). Texels outside the UV islands, back-facing or occluded get 0.
    """
    if vertex_normals.shape != vertices.shape or vertices.shape[-1] != 3:
        raise ValueError(f"expected vertex_normals and vertices [B, V, 3], got {tuple(vertex_normals.shape)}, {tuple(vertices.shape)}")
    if layout is None:
        if face_uvs is None:
            raise ValueError("normal_angle_texture needs face_uvs or a precomputed layout")
        layout = uv_layout(face_uvs, texture_size)
    B = vertices.shape[0]
    S = layout.face_id.shape[-1]
    camera = camera.expand(B).to(vertices.device)
    point = bake_vertex_attr(layout, faces, vertices).flatten(2).transpose(1, 2)  # [B, S*S, 3]
    normal = F.normalize(bake_vertex_attr(layout, faces, vertex_normals), dim=1, eps=1e-12).flatten(2).transpose(1, 2)
    cosine = (normal * camera.view_directions(point)).sum(-1).clamp_min(0)  # [B, S*S]

    # Visibility: compare each texel's camera depth with the depth buffer at the pixel it projects to.
    pix, z = camera.project(point)
    H, W = raster.depth.shape[-2:]
    col, row = torch.floor(pix[..., 0]).long(), torch.floor(pix[..., 1]).long()
    inside = (col >= 0) & (col < W) & (row >= 0) & (row < H) & (z > 0)
    flat = (torch.arange(B, device=z.device)[:, None] * H + row.clamp(0, H - 1)) * W + col.clamp(0, W - 1)
    depth = raster.depth.reshape(-1)[flat]
    seen = raster.mask.reshape(-1)[flat] > 0.5
    visible = inside & seen & (z <= depth * (1 + depth_tolerance))
    on_surface = (layout.face_id.view(1, -1) >= 0)
    lam = cosine * (visible & on_surface).to(cosine.dtype)
    return lam.view(B, 1, S, S)
