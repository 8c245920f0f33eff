"""Per-body-part colour error: do trousers stay trouser-coloured and shoes stay shoes on the back?

Each target view's ground-truth body (its exact fit) is rasterized with the body model's part labels, so
every pixel knows which part it shows. On the pixels where both the ground truth and the render show the
person, the mean colour of each part in the render is compared with its mean in the ground truth; the
view's score is the mean over its parts (those with at least ``min_pixels`` such pixels) of the absolute
difference, averaged over R, G and B, in [0, 1] (``part_color``, lower is better). A fill that paints the
back in one colour, or copies the shirt onto the trousers, scores badly here even where LPIPS is kind.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from dinar.geometry.raster import rasterize
from dinar.nn.avatar_model import pose_body

PART_COLOR_KEY = "part_color"


@torch.no_grad()
def part_maps(body, fits: Sequence, size: int) -> Tensor:
    """``[N, size, size]`` int64: the body part label of each pixel of each fit's body (-1 off the body).
    ``fits``: ``FitParams`` with cameras at ``size``²."""
    from dinar.geometry.camera import Camera

    maps = []
    labels = body.parts.labels.to(body.faces.device)
    for fit in fits:
        camera = Camera(K=fit.camera.K, R=fit.camera.R, t=fit.camera.t, width=size, height=size)
        view = pose_body(body, fit.pose[None], fit.shape[None], fit.global_orient[None], fit.transl[None], camera)
        raster = rasterize(view.vertices, body.faces, view.camera)
        face = raster.face_id[0]
        maps.append(torch.where(face >= 0, labels[body.faces[face.clamp_min(0), 0]], torch.full_like(face, -1)).cpu())
    return torch.stack(maps)


def part_color_error(pred: Tensor, gt: Tensor, region: Tensor, parts: Tensor, min_pixels: int = 16) -> Tensor:
    """``[N]`` the mean over body parts of |mean colour of the render − of the ground truth| (module
    docstring). ``pred``, ``gt``: [N, 3, H, W] in [0, 1]; ``region``: [N, 1, H, W] where both show the
    person; ``parts``: [N, H, W] from :func:`part_maps`. NaN for a view with no part big enough."""
    out = []
    for p_img, g_img, keep, labels in zip(pred, gt, region[:, 0] > 0.5, parts):
        errors = []
        for part in labels[keep].unique().tolist():
            sel = keep & (labels == part)
            if part < 0 or int(sel.sum()) < min_pixels:
                continue
            errors.append((p_img[:, sel].mean(1) - g_img[:, sel].mean(1)).abs().mean())
        out.append(torch.stack(errors).mean() if errors else pred.new_tensor(float("nan")))
    return torch.stack(out)
