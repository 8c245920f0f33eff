"""Texture lookups through a UV-render, and the UV layout (the mesh rasterized in texture space).

UV convention (everywhere in dinar): ``u`` to the right, ``v`` up; texel ``(row, col)`` of an
``S x S`` texture covers ``u in [col, col + 1) / S`` and ``v in (1 - (row + 1) / S, 1 - row / S]``,
so its centre is at ``u = (col + 0.5) / S``, ``v = 1 - (row + 0.5) / S`` and a point ``(u, v)``
falls in column ``floor(u * S)`` and row ``floor((1 - v) * S)`` (both clamped to ``S - 1``).
Background pixels of a UV-render carry ``uv = -1``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dinar.geometry.camera import Camera
from dinar.geometry.raster import RasterOutput, rasterize


def sample_texture(
    texture: Tensor,  # [B, C, S, S] (or [1, C, S, S], shared by the batch)
    uv: Tensor,  # [B, 2, H, W] UV-render, -1 on background
    mode: str = "bilinear",
) -> Tensor:
    """Texture a UV-render, the rasterizer ``R(T, M, C)`` of paper 3.1: ``[B, C, H, W]``.

    ``grid_sample`` with ``x = 2u - 1``, ``y = 1 - 2v`` and ``align_corners=False``, so texel centres
    sit where the convention above puts them; zeros outside the texture and on background pixels.
    Differentiable with respect to ``texture``.
    """
    if texture.dim() != 4 or uv.dim() != 4 or uv.shape[1] != 2:
        raise ValueError(f"expected texture [B, C, S, S] and uv [B, 2, H, W], got {tuple(texture.shape)}, {tuple(uv.shape)}")
    if texture.shape[0] != uv.shape[0]:
        texture = texture.expand(uv.shape[0], -1, -1, -1)
    grid = torch.stack([2 * uv[:, 0] - 1, 1 - 2 * uv[:, 1]], dim=-1).to(texture.dtype)  # [B, H, W, 2]
    return F.grid_sample(texture, grid, mode=mode, padding_mode="zeros", align_corners=False)


def uv_layout(face_uvs: Tensor, size: int) -> RasterOutput:
    """Rasterize the mesh in texture space: which face and barycentrics each texel centre sees.

    ``face_uvs [F, 3, 2]`` -> a :class:`RasterOutput` of batch 1 and image size ``size x size`` whose
    pixel ``(row, col)`` is texel ``(row, col)``; texels outside every UV island get ``face_id -1``.
    Barycentrics are affine in UV (the layout is drawn at constant depth). Pose-independent: compute
    it once per atlas and texture size.
    """
    num_faces = face_uvs.shape[0]
    corners = face_uvs.reshape(1, -1, 2).float()  # one vertex per face corner: UV islands stay apart
    pixels = torch.stack([corners[..., 0] * size, (1 - corners[..., 1]) * size, torch.ones_like(corners[..., 0])], -1)
    camera = Camera(K=torch.eye(3)[None], R=torch.eye(3)[None], t=torch.zeros(1, 3), width=size, height=size)
    faces = torch.arange(3 * num_faces, device=face_uvs.device).view(num_faces, 3)
    return rasterize(pixels, faces, camera.to(face_uvs.device))


def bake_vertex_attr(
    layout: RasterOutput,  # from :func:`uv_layout`, batch 1
    faces: Tensor,  # [F, 3]
    vertex_attr: Tensor,  # [B, V, C] per-vertex attributes (positions, normals, part colours, ...)
    background: float = 0.0,
) -> Tensor:
    """Interpolate per-vertex attributes over the UV layout: a texture ``[B, C, S, S]``."""
    if layout.face_id.shape[0] != 1:
        raise ValueError("bake_vertex_attr expects a batch-1 layout from uv_layout")
    B, _, C = vertex_attr.shape
    S = layout.face_id.shape[-1]
    index = layout.foreground_index  # texel indices into S * S
    fid = layout.face_id.view(-1)[index]
    bary = layout.bary.permute(0, 2, 3, 1).reshape(-1, 3)[index].to(vertex_attr.dtype)  # [M, 3]
    corners = vertex_attr[:, faces[fid]]  # [B, M, 3, C]
    val = (corners * bary[None, :, :, None]).sum(-2)  # [B, M, C]
    out = vertex_attr.new_full((B, S * S, C), background)
    out = out.index_copy(1, index, val)
    return out.view(B, S, S, C).permute(0, 3, 1, 2)
