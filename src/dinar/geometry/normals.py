"""Surface normals and the normal-angle (lambda of paper 3.2) between a surface and a camera."""

from __future__ import annotations

import torch
from torch import Tensor


def face_normals(vertices: Tensor, faces: Tensor, normalize: bool = True) -> Tensor:
    """Face normals ``[B, F, 3]`` of ``vertices [B, V, 3]``; unnormalized length is twice the area."""
    v0, v1, v2 = (vertices[:, faces[:, k]] for k in range(3))
    n = torch.cross(v1 - v0, v2 - v0, dim=-1)
    return torch.nn.functional.normalize(n, dim=-1, eps=1e-12) if normalize else n


def vertex_normals(vertices: Tensor, faces: Tensor) -> Tensor:
    """Area-weighted unit vertex normals ``[B, V, 3]`` for counter-clockwise faces ``[F, 3]``."""
    fn = face_normals(vertices, faces, normalize=False)  # [B, F, 3]
    vn = torch.zeros_like(vertices)
    for k in range(3):
        vn.index_add_(1, faces[:, k], fn)
    return torch.nn.functional.normalize(vn, dim=-1, eps=1e-12)
