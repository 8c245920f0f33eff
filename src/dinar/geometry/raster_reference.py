"""A plain reference rasterizer: every face against every pixel centre, in float64.

Slow (O(F * H * W)) and only for small meshes; the tests compare :func:`dinar.geometry.raster.rasterize`
against it (STYLE.md: fast path beside a reference).
"""

from __future__ import annotations

import torch
from torch import Tensor

from dinar.geometry.camera import Camera


def rasterize_reference(vertices: Tensor, faces: Tensor, camera: Camera, near: float = 1e-3) -> tuple[Tensor, Tensor, Tensor]:
    """Face id ``[B, H, W]`` (-1 background), barycentrics ``[B, 3, H, W]`` and depth ``[B, H, W]``.

    Same rules as the fast path: a pixel centre is covered when all barycentrics are >= 0; the
    nearest surface wins and equal depths go to the lower face id.
    """
    cam = camera.expand(vertices.shape[0])
    K, R, t = cam.K.double(), cam.R.double(), cam.t.double()
    H, W = cam.height, cam.width
    Xc = vertices.double() @ R.transpose(1, 2) + t[:, None]
    z = Xc[..., 2]
    p = (Xc @ K.transpose(1, 2))[..., :2] / z[..., None]
    B = vertices.shape[0]
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float64) + 0.5, torch.arange(W, dtype=torch.float64) + 0.5, indexing="ij")
    face_id = torch.full((B, H, W), -1, dtype=torch.long)
    best = torch.full((B, H, W), float("inf"), dtype=torch.float64)
    bary = torch.zeros(B, 3, H, W, dtype=torch.float64)
    for b in range(B):
        for f in range(faces.shape[0]):
            i = faces[f]
            (x0, y0), (x1, y1), (x2, y2) = p[b, i].tolist()
            z0, z1, z2 = z[b, i].tolist()
            if min(z0, z1, z2) <= near:
                continue
            area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)
            if area == 0:
                continue
            l0 = ((x2 - x1) * (ys - y1) - (y2 - y1) * (xs - x1)) / area
            l1 = ((x0 - x2) * (ys - y2) - (y0 - y2) * (xs - x2)) / area
            l2 = 1 - l0 - l1
            inside = (l0 >= 0) & (l1 >= 0) & (l2 >= 0)
            inv_z = l0 / z0 + l1 / z1 + l2 / z2
            depth = 1 / inv_z
            win = inside & (depth < best[b])
            best[b][win] = depth[win]
            face_id[b][win] = f
            persp = torch.stack([l0 / z0, l1 / z1, l2 / z2]) / inv_z
            bary[b][:, win] = persp[:, win]
    depth = torch.where(face_id >= 0, best, torch.zeros_like(best))
    return face_id, bary, depth
