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
    _index: Tensor | None = None  # [M] flat indices of covered pixels into [B * H * W]

    @property
    def foreground_index(self) -> Tensor:
        """Flat indices ``[M]`` of covered pixels into ``B * H * W`` (computed once)."""
        if self._index is None:
            self._index = self.face_id.view(-1).ge(0).nonzero()[:, 0]
        return self._index

    @property
    def foreground(self) -> Tensor:
        """Boolean ``[B, H, W]`` of covered pixels."""
        return self.face_id >= 0


@dataclass
class _FacePlanes:
    """Per-face screen-space planes: barycentrics and 1/z are affine in pixel coordinates."""

    coef: Tensor  # [B, F, 3, 3] (a, b, c) of l_i(px, py) = a*px + b*py + c for the 3 barycentrics
    inv_z: Tensor  # [B, F, 3] 1/z at the three corners


def _face_planes(pix: Tensor, z: Tensor, faces: Tensor) -> tuple[_FacePlanes, Tensor]:
    """Screen-space barycentric planes of every face, and twice their signed image area."""
    fp = pix[:, faces]  # [B, F, 3, 2]
    x, y = fp[..., 0], fp[..., 1]
    # l_0 is the edge function of (p1, p2), l_1 of (p2, p0), l_2 of (p0, p1), each over the area.
    xa, ya = x.roll(-1, -1), y.roll(-1, -1)  # p1, p2, p0
    xb, yb = x.roll(-2, -1), y.roll(-2, -1)  # p2, p0, p1
    area = (x[..., 1] - x[..., 0]) * (y[..., 2] - y[..., 0]) - (y[..., 1] - y[..., 0]) * (x[..., 2] - x[..., 0])
    inv_area = torch.where(area != 0, 1.0 / area, torch.zeros_like(area))[..., None]
    a = -(yb - ya) * inv_area
    b = (xb - xa) * inv_area
    c = ((yb - ya) * xa - (xb - xa) * ya) * inv_area
    return _FacePlanes(coef=torch.stack([a, b, c], -1), inv_z=1.0 / z[:, faces]), area


@torch.no_grad()
def _zbuffer(planes: _FacePlanes, area: Tensor, pix: Tensor, z: Tensor, faces: Tensor, height: int, width: int, near: float, cull_backfaces: bool) -> Tensor:
    """Winning face id per pixel, ``[B, H, W]`` (-1 on background)."""
    B, F = area.shape
    fp = pix[:, faces]  # [B, F, 3, 2]
    x, y = fp[..., 0], fp[..., 1]
    xmin = torch.ceil(x.amin(-1) - 0.5).clamp_min(0)
    xmax = torch.floor(x.amax(-1) - 0.5).clamp_max(width - 1)
    ymin = torch.ceil(y.amin(-1) - 0.5).clamp_min(0)
    ymax = torch.floor(y.amax(-1) - 0.5).clamp_max(height - 1)
    valid = (z[:, faces].amin(-1) > near) & (area != 0) & (xmax >= xmin) & (ymax >= ymin)
    if cull_backfaces:  # counter-clockwise in the world is clockwise in y-down image space
        valid &= area < 0
    flat = valid.view(-1).nonzero()[:, 0]  # b * F + f of the faces to draw
    keys = torch.full((B * height * width,), _NO_FACE, dtype=torch.int64, device=pix.device)
    if flat.numel() == 0:
        return torch.full((B, height, width), -1, dtype=torch.int64, device=pix.device)
    x0, y0 = xmin.view(-1)[flat], ymin.view(-1)[flat]
    x1, y1 = xmax.view(-1)[flat], ymax.view(-1)[flat]
    coef = planes.coef.view(-1, 3, 3)[flat]  # [N, 3 barycentrics, (a, b, c)]
    izc = planes.inv_z.view(-1, 3)[flat]  # [N, 3]
    # Barycentrics and 1/z at each face's first candidate pixel centre, and their steps in x and y.
    l_start = coef[..., 0] * (x0 + 0.5)[:, None] + coef[..., 1] * (y0 + 0.5)[:, None] + coef[..., 2]  # [N, 3]
    side = torch.exp2(torch.ceil(torch.log2(torch.maximum(x1 - x0, y1 - y0) + 1))).long()
    for s in torch.unique(side).tolist():
        sel = (side == s).nonzero()[:, 0]
        off = torch.arange(s, device=pix.device, dtype=torch.float32)
        ls, cf = l_start[sel], coef[sel]
        # l_i over the s x s grid: [N, 3, s, s]
        lam = ls[..., None, None] + cf[..., 0, None, None] * off[None, None, None, :] + cf[..., 1, None, None] * off[None, None, :, None]
        inside = (lam >= 0).all(1)
        inside &= (off[None, None, :] <= (x1 - x0)[sel][:, None, None]) & (off[None, :, None] <= (y1 - y0)[sel][:, None, None])
        n, iy, ix = inside.nonzero(as_tuple=True)
        if n.numel() == 0:
            continue
        face = flat[sel][n]
        inv_z = (lam[n, :, iy, ix] * izc[sel][n]).sum(-1)
        key = ((1.0 / inv_z).float().view(torch.int32).long() << 32) | (face % F)
        pixel = ((face // F) * height + y0[sel][n].long() + iy) * width + x0[sel][n].long() + ix
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
    camera = camera.expand(vertices.shape[0]).to(vertices.device)
    H, W = camera.height, camera.width
    with torch.no_grad():
        pix, z = camera.project(vertices.detach().float())
        planes, area = _face_planes(pix, z, faces)
        face_id = _zbuffer(planes, area, pix, z, faces, H, W, near, cull_backfaces)
        index = face_id.view(-1).ge(0).nonzero()[:, 0]
        bary, depth = _barycentrics(planes, face_id, index)
    out = RasterOutput(face_id=face_id, bary=bary, depth=depth, mask=(face_id >= 0)[:, None].float(), _index=index)
    if face_uvs is not None:
        out.uv = interpolate_face_attr(out, face_uvs, background=_BACKGROUND_UV)
    return out


def _barycentrics(planes: _FacePlanes, face_id: Tensor, index: Tensor) -> tuple[Tensor, Tensor]:
    """Perspective-correct barycentrics ``[B, 3, H, W]`` and depth ``[B, H, W]`` at pixel centres."""
    B, H, W = face_id.shape
    F = planes.coef.shape[1]
    b = index // (H * W)
    iy = (index // W) % H
    ix = index % W
    bf = b * F + face_id.view(-1)[index]
    coef = planes.coef.view(-1, 3, 3)[bf]
    screen = coef[..., 0] * (ix.float() + 0.5)[:, None] + coef[..., 1] * (iy.float() + 0.5)[:, None] + coef[..., 2]
    persp = screen * planes.inv_z.view(-1, 3)[bf]
    inv_z = persp.sum(-1, keepdim=True)
    bary = torch.zeros(B, H * W, 3, device=face_id.device)
    depth = torch.zeros(B * H * W, device=face_id.device)
    bary.view(-1, 3)[index] = persp / inv_z
    depth[index] = 1.0 / inv_z[:, 0]
    return bary.view(B, H, W, 3).permute(0, 3, 1, 2), depth.view(B, H, W)


def interpolate_face_attr(raster: RasterOutput, face_attr: Tensor, background: float = 0.0) -> Tensor:
    """Interpolate per-corner attributes ``[F, 3, C]`` (or batched ``[B, F, 3, C]``) -> ``[B, C, H, W]``."""
    B, H, W = raster.face_id.shape
    index = raster.foreground_index
    fid = raster.face_id.view(-1)[index]
    if face_attr.dim() == 3:
        corners = face_attr[fid]  # [M, 3, C]
    else:
        corners = face_attr[index // (H * W), fid]
    bary = raster.bary.permute(0, 2, 3, 1).reshape(-1, 3)[index]
    val = (corners * bary[..., None].to(corners.dtype)).sum(-2)  # [M, C]
    out = torch.full((B * H * W, val.shape[-1]), background, dtype=val.dtype, device=val.device)
    out = out.index_put((index,), val)
    return out.view(B, H, W, -1).permute(0, 3, 1, 2)


def interpolate_vertex_attr(raster: RasterOutput, faces: Tensor, vertex_attr: Tensor, background: float = 0.0) -> Tensor:
    """Interpolate per-vertex attributes ``[B, V, C]`` (e.g. normals, part colours) -> ``[B, C, H, W]``."""
    face_attr = vertex_attr[:, faces]  # [B, F, 3, C]
    return interpolate_face_attr(raster, face_attr, background)
