"""The UV rasterizer: a triangle mesh seen by a camera -> per-pixel face id, barycentrics, uv, depth.

Pure PyTorch, so the same code runs on CPU and CUDA with the same results (ties in depth are broken
by the lower face id on both). Each face only tests the pixel centres inside its bounding box; faces
are bucketed by box size so the work is a few large tensor ops, and a packed 64-bit key
(depth bits << 32 | face id) makes the z-buffer one ``scatter_reduce(amin)``. Barycentrics are
perspective-correct. The UV-render is what DINAR rasterizes the neural texture with (paper 3.1).

Coordinates: see :mod:`dinar.geometry.camera` (OpenCV; pixel centres at +0.5) and UVs with v up,
texel row ``(1 - v) * S``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dinar.geometry.camera import Camera

_NO_FACE = torch.iinfo(torch.int64).max
_BACKGROUND_UV = -1.0


@dataclass
class RasterOutput:
    """What each pixel of a rasterized mesh sees."""

    face_id: Tensor  # [B, H, W] int64 index of the visible face, -1 on background
    bary: Tensor  # [B, 3, H, W] perspective-correct barycentrics of the visible face, 0 on background
    depth: Tensor  # [B, H, W] camera-space z of the visible surface, 0 on background
    mask: Tensor  # [B, 1, H, W] float, 1 where a face is visible
    uv: Tensor | None = None  # [B, 2, H, W] interpolated texture coordinates (v up), -1 on background

    @property
    def foreground(self) -> Tensor:
        """Boolean ``[B, H, W]`` of covered pixels."""
        return self.face_id >= 0


def _edge(ax: Tensor, ay: Tensor, bx: Tensor, by: Tensor, px: Tensor, py: Tensor) -> Tensor:
    """Twice the signed area of triangle (a, b, p)."""
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


def _bucket_sizes(extent: Tensor) -> Tensor:
    """Round bounding-box extents up to powers of two (the candidate grid side of each face)."""
    return torch.pow(2, torch.ceil(torch.log2(extent.float().clamp_min(1)))).long()


@torch.no_grad()
def _zbuffer(pix: Tensor, z: Tensor, faces: Tensor, height: int, width: int, near: float, cull_backfaces: bool) -> Tensor:
    """Winning face id per pixel, ``[B, H, W]`` (-1 on background)."""
    B = pix.shape[0]
    F = faces.shape[0]
    fp = pix[:, faces]  # [B, F, 3, 2]
    fz = z[:, faces]  # [B, F, 3]
    x, y = fp[..., 0], fp[..., 1]
    area = _edge(x[..., 0], y[..., 0], x[..., 1], y[..., 1], x[..., 2], y[..., 2])
    xmin = torch.ceil(x.min(-1).values - 0.5).clamp_min(0).long()
    xmax = torch.floor(x.max(-1).values - 0.5).clamp_max(width - 1).long()
    ymin = torch.ceil(y.min(-1).values - 0.5).clamp_min(0).long()
    ymax = torch.floor(y.max(-1).values - 0.5).clamp_max(height - 1).long()
    valid = (fz.min(-1).values > near) & (area != 0) & (xmax >= xmin) & (ymax >= ymin)
    if cull_backfaces:  # counter-clockwise in the world is clockwise in y-down image space
        valid &= area < 0
    bi, fi = valid.nonzero(as_tuple=True)
    keys = torch.full((B * height * width,), _NO_FACE, dtype=torch.int64, device=pix.device)
    if bi.numel() == 0:
        return torch.full((B, height, width), -1, dtype=torch.int64, device=pix.device)
    side = _bucket_sizes(torch.maximum(xmax - xmin, ymax - ymin)[bi, fi] + 1)
    for s in torch.unique(side).tolist():
        sel = side == s
        b, f = bi[sel], fi[sel]
        off = torch.arange(s, device=pix.device)
        cx = (xmin[b, f][:, None, None] + off[None, None, :])  # [N, 1, s]
        cy = (ymin[b, f][:, None, None] + off[None, :, None])  # [N, s, 1]
        inside_box = (cx <= xmax[b, f][:, None, None]) & (cy <= ymax[b, f][:, None, None])
        px, py = cx.float() + 0.5, cy.float() + 0.5
        X, Y = x[b, f], y[b, f]  # [N, 3]
        ar = area[b, f][:, None, None]
        w0 = _edge(X[:, 1, None, None], Y[:, 1, None, None], X[:, 2, None, None], Y[:, 2, None, None], px, py) / ar
        w1 = _edge(X[:, 2, None, None], Y[:, 2, None, None], X[:, 0, None, None], Y[:, 0, None, None], px, py) / ar
        w2 = 1.0 - w0 - w1
        inside = inside_box & (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        n, iy, ix = inside.nonzero(as_tuple=True)
        if n.numel() == 0:
            continue
        Z = fz[b, f][n]  # [M, 3]
        inv_z = w0[n, iy, ix] / Z[:, 0] + w1[n, iy, ix] / Z[:, 1] + w2[n, iy, ix] / Z[:, 2]
        depth = (1.0 / inv_z).float()
        key = (depth.view(torch.int32).long() << 32) | f[n]
        pixel = (b[n] * height + cy[n, iy, 0]) * width + cx[n, 0, ix]
        keys.scatter_reduce_(0, pixel, key, reduce="amin")
    face_id = torch.where(keys == _NO_FACE, torch.full_like(keys, -1), keys & 0xFFFFFFFF)
    return face_id.view(B, height, width)


def rasterize(
    vertices: Tensor,  # [B, V, 3] world coordinates
    faces: Tensor,  # [F, 3] int64
    camera: Camera,
    face_uvs: Tensor | None = None,  # [F, 3, 2] per-corner UVs
    near: float = 1e-3,
    cull_backfaces: bool = False,
) -> RasterOutput:
    """Rasterize a batch of meshes (one topology) into the camera's image.

    Returns face ids, perspective-correct barycentrics, depth, mask and, given ``face_uvs``, the
    UV-render. Not differentiable with respect to the vertices; lookups through the result are
    differentiable with respect to what they look up (textures, attributes).
    """
    if vertices.dim() != 3 or vertices.shape[-1] != 3:
        raise ValueError(f"vertices must be [B, V, 3], got {tuple(vertices.shape)}")
    camera = camera.expand(vertices.shape[0])
    H, W = camera.height, camera.width
    with torch.no_grad():
        pix, z = camera.project(vertices.detach().float())
        face_id = _zbuffer(pix, z, faces, H, W, near, cull_backfaces)
        bary, depth = _barycentrics(pix, z, faces, face_id)
    fg = face_id >= 0
    out = RasterOutput(face_id=face_id, bary=bary, depth=depth, mask=fg[:, None].float())
    if face_uvs is not None:
        out.uv = interpolate_face_attr(out, face_uvs, background=_BACKGROUND_UV)
    return out


def _barycentrics(pix: Tensor, z: Tensor, faces: Tensor, face_id: Tensor) -> tuple[Tensor, Tensor]:
    """Perspective-correct barycentrics ``[B, 3, H, W]`` and depth ``[B, H, W]`` at pixel centres."""
    B, H, W = face_id.shape
    b, iy, ix = (face_id >= 0).nonzero(as_tuple=True)
    f = face_id[b, iy, ix]
    tri = faces[f]  # [M, 3]
    P = pix[b[:, None], tri]  # [M, 3, 2]
    Z = z[b[:, None], tri]  # [M, 3]
    px, py = ix.float() + 0.5, iy.float() + 0.5
    x, y = P[..., 0], P[..., 1]
    ar = _edge(x[:, 0], y[:, 0], x[:, 1], y[:, 1], x[:, 2], y[:, 2])
    l0 = _edge(x[:, 1], y[:, 1], x[:, 2], y[:, 2], px, py) / ar
    l1 = _edge(x[:, 2], y[:, 2], x[:, 0], y[:, 0], px, py) / ar
    screen = torch.stack([l0, l1, 1 - l0 - l1], -1)
    persp = screen / Z
    inv_z = persp.sum(-1, keepdim=True)
    bary_fg = persp / inv_z
    bary = torch.zeros(B, 3, H, W, device=pix.device)
    depth = torch.zeros(B, H, W, device=pix.device)
    bary[b, :, iy, ix] = bary_fg
    depth[b, iy, ix] = 1.0 / inv_z[:, 0]
    return bary, depth


def interpolate_face_attr(raster: RasterOutput, face_attr: Tensor, background: float = 0.0) -> Tensor:
    """Interpolate per-corner attributes ``[F, 3, C]`` (or batched ``[B, F, 3, C]``) -> ``[B, C, H, W]``."""
    B, H, W = raster.face_id.shape
    fid = raster.face_id.clamp_min(0)
    if face_attr.dim() == 3:
        corners = face_attr[fid]  # [B, H, W, 3, C]
    else:
        corners = torch.gather(face_attr, 1, fid.view(B, -1)[..., None, None].expand(-1, -1, 3, face_attr.shape[-1]))
        corners = corners.view(B, H, W, 3, -1)
    val = (corners * raster.bary.permute(0, 2, 3, 1)[..., None]).sum(-2).permute(0, 3, 1, 2)
    return torch.where(raster.foreground[:, None], val, torch.full_like(val, background))


def interpolate_vertex_attr(raster: RasterOutput, faces: Tensor, vertex_attr: Tensor, background: float = 0.0) -> Tensor:
    """Interpolate per-vertex attributes ``[B, V, C]`` (e.g. normals, part colours) -> ``[B, C, H, W]``."""
    B = vertex_attr.shape[0]
    face_attr = vertex_attr[:, faces]  # [B, F, 3, C]
    return interpolate_face_attr(raster, face_attr, background)
