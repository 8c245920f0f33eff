"""Input photos: arrays of any size → the model's square image size, with the camera kept consistent.

A photo of W × H pixels is padded to a square (the person is never cut) and resized to the model's
N × N; its fitted camera follows exactly: the padding shifts the principal point, the resize scales
K (pixel centres at +0.5 scale with the image, as :func:`dinar.train.common.resize_frame` does).
A camera given for another resolution with the same aspect ratio (a fit made on a smaller copy of
the photo) is first scaled to the photo's.

The steps that compare renders with the photo (RGB tuning, colour adjustment) compare composites over
one background colour, the way stage 1 was trained: the render ``rgb·mask + bg·(1 − mask)`` against
the photo matted with its own person mask, so the photo's background never counts. They optimize
texels only, so the geometry does not change between their steps: each photo's UV-render is made
once (:attr:`PreparedPhoto.raster`) and the steps run θ on it (:func:`render_composite`), not the rasterizer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dinar.data.layout import FitParams
from dinar.geometry.camera import Camera
from dinar.geometry.raster import RasterOutput
from dinar.geometry.texture_lookup import sample_texture
from dinar.nn.avatar_model import (
    AvatarModel,
    BodyView,
    crop_patches,
    no_autocast,
    pose_body,
)
from dinar.nn.renderer import composite

ImageLike = Any  # np.ndarray [H, W, 3] (uint8, or float in [0, 1]) | Tensor [3, H, W] (uint8, or float in [0, 1])
MaskLike = Any  # np.ndarray / Tensor [H, W] (uint8 0..255, bool, or float in [0, 1])


@dataclass
class PreparedPhoto:
    """One input photo at the model's image size and the posed body of its fit."""

    rgb: Tensor  # [1, 3, N, N] in [-1, 1]
    mask: Tensor  # [1, 1, N, N] person mask in [0, 1]
    view: BodyView  # the fitted body, posed, with the camera at N × N
    raster: RasterOutput  # UV-render of ``view`` (uv [1, 2, N, N], mask [1, 1, N, N], ...)
    sha256: str  # SHA-256 of the pixel array as given (before any resizing)
    source_size: tuple[int, int]  # (width, height) as given

    def target(self, background: float) -> Tensor:
        """[1, 3, N, N] the photo matted with its person mask over ``background`` (in [-1, 1])."""
        return composite(self.rgb, self.mask, background)

    def tiles(self, size: int) -> list[tuple[int, int]]:
        """Corners (x0, y0) of ``size``² tiles that cover the box around the person and the fitted body:
        the patches θ sees in the steps that compare renders with the photo (``hd`` renders 512² but θ
        was trained on 128² patches; one tile, the whole image, when ``size`` is the image size)."""
        return body_tiles(torch.maximum(self.mask, self.raster.mask), size)


def body_tiles(mask: Tensor, size: int) -> list[tuple[int, int]]:
    """Corners (x0, y0) of the ``size``² tiles covering the box around ``mask > 0.5`` ([1, 1, N, N]),
    row by row, each kept inside the image; the whole image when the mask is empty."""
    n = mask.shape[-1]
    if size >= n:
        return [(0, 0)]
    rows, cols = (mask[0, 0] > 0.5).any(1).nonzero()[:, 0], (mask[0, 0] > 0.5).any(0).nonzero()[:, 0]
    if not len(rows):
        rows = cols = torch.tensor([0, n - 1])
    starts = []
    for idx in (rows, cols):
        lo, hi = int(idx.min()), int(idx.max()) + 1
        count = -(-(hi - lo) // size)
        starts.append([min(lo + i * size, n - size) for i in range(count)])
    return [(x, y) for y in starts[0] for x in starts[1]]


def image_tensor(image: ImageLike) -> tuple[Tensor, str]:
    """``([3, H, W] float32 in [0, 1], SHA-256 of the array as given)``."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an H x W x 3 image array, got shape {image.shape}")
        digest = hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()
        t = torch.from_numpy(np.array(image)).permute(2, 0, 1)  # a copy: the caller's array may be read-only
    elif isinstance(image, Tensor):
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"expected a [3, H, W] image tensor, got {list(image.shape)}")
        t = image.detach().cpu()
        digest = hashlib.sha256(t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()).hexdigest()
    else:
        raise TypeError(f"images must be numpy arrays (H x W x 3) or tensors [3, H, W], got {type(image).__name__}")
    if t.dtype == torch.uint8:
        return t.float() / 255.0, digest
    t = t.float()
    if t.min() < -1e-3 or t.max() > 1 + 1e-3:
        raise ValueError(f"float images must be in [0, 1], got values in [{float(t.min()):.3g}, {float(t.max()):.3g}]")
    return t.clamp(0, 1), digest


def mask_tensor(mask: MaskLike, height: int, width: int) -> Tensor:
    """[1, H, W] float32 in [0, 1] from a uint8 (0..255), bool or float mask."""
    t = torch.from_numpy(np.array(mask)) if isinstance(mask, np.ndarray) else torch.as_tensor(mask).detach().cpu()
    if t.dim() == 3 and t.shape[0] == 1:
        t = t[0]
    if t.shape != (height, width):
        raise ValueError(f"mask is {list(t.shape)}, the image is {height} x {width}")
    if t.dtype == torch.uint8:
        return (t.float() / 255.0)[None]
    return t.float().clamp(0, 1)[None]


def camera_for_image(camera: Camera, width: int, height: int) -> Camera:
    """The fit's camera for a ``width`` × ``height`` photo (scaled when made for another resolution)."""
    if camera.batch_size != 1:
        raise ValueError(f"a fit has one camera, got {camera.batch_size}")
    if (camera.width, camera.height) == (width, height):
        return camera
    sx, sy = width / camera.width, height / camera.height
    if abs(sx - sy) > 0.01 * max(sx, sy):
        raise ValueError(f"the fit's camera is {camera.width}x{camera.height} but the photo is {width}x{height} "
                         "(another aspect ratio): fit the body on this photo")
    K = camera.K.clone()
    K[:, 0] *= sx
    K[:, 1] *= sy
    return Camera(K=K, R=camera.R, t=camera.t, width=width, height=height)


def square_and_resize(rgb: Tensor, mask: Tensor, camera: Camera, size: int, pad_value: float = 1.0) -> tuple[Tensor, Tensor, Camera]:
    """Pad ``rgb [3, H, W]`` (with ``pad_value``) and ``mask [1, H, W]`` (with 0) to a centred square,
    then resize to ``size``; returns them batched ``[1, C, size, size]`` and the matching camera."""
    _, h, w = rgb.shape
    side = max(h, w)
    left, top = (side - w) // 2, (side - h) // 2
    pad = (left, side - w - left, top, side - h - top)
    rgb = F.pad(rgb, pad, value=pad_value)[None]
    mask = F.pad(mask, pad, value=0.0)[None]
    K = camera.K.clone()
    K[:, 0, 2] += left
    K[:, 1, 2] += top
    if side != size:
        mode = {"mode": "area"} if size < side else {"mode": "bilinear", "align_corners": False}
        rgb = F.interpolate(rgb, size=(size, size), **mode)
        mask = F.interpolate(mask, size=(size, size), **mode)
    return rgb, mask, Camera(K=K, R=camera.R, t=camera.t, width=side, height=side).resized(size, size)


def prepare_photo(image: ImageLike, mask: MaskLike, fit: FitParams, model: AvatarModel, body) -> PreparedPhoto:
    """One photo, its person mask and its body fit → :class:`PreparedPhoto` at the model's image size, on its device."""
    size, device = model.config.image_size, model.faces.device
    rgb, digest = image_tensor(image)
    _, h, w = rgb.shape
    person = mask_tensor(mask, h, w)
    if fit.pose.shape != (body.num_joints, 3):
        raise ValueError(f"the fit's pose is {list(fit.pose.shape)}, the {body.name} body has {body.num_joints} joints")
    camera = camera_for_image(fit.camera, w, h)
    rgb, person, camera = square_and_resize(rgb, person, camera, size)
    view = pose_body(body, fit.pose[None].to(device), fit.shape[None].to(device), fit.global_orient[None].to(device),
                     fit.transl[None].to(device), camera.to(device))
    return PreparedPhoto(rgb=(rgb * 2 - 1).to(device), mask=person.to(device), view=view, raster=model.uv_render(view),
                 sha256=digest, source_size=(w, h))


def render_composite(
    model: AvatarModel,
    texture: Tensor,  # [1 or B, 21, S, S]
    uv: Tensor,  # [B, 2, N, N] UV-render, -1 off the body
    uv_mask: Tensor,  # [B, 1, N, N]
    background: float,
) -> tuple[Tensor, Tensor]:
    """θ(R(T, M, C)) (paper eq. 3) on a UV-render made beforehand, composited over ``background``:
    ``([B, 3, N, N] in [-1, 1], mask [B, 1, N, N])``, differentiable with respect to ``texture``.

    The texture lookup and θ of :meth:`AvatarModel.render`, without its rasterization (module docstring).
    """
    with no_autocast(texture.device):
        rasterized = sample_texture(texture.float(), uv) * uv_mask
    out = model.renderer(rasterized, uv, uv_mask)
    return out.composite(background), out.mask


def crop_views(images: Sequence[Tensor], corners: Sequence[tuple[int, int]], size: int | None) -> list[Tensor]:
    """Each of ``images`` ([V, C, N, N], same V and N) cut to the ``size``² square at view v's corner
    (x0, y0); unchanged when ``size`` is None or N."""
    if size is None or size >= images[0].shape[-1]:
        return list(images)
    at = torch.tensor(corners, dtype=torch.long)
    return [crop_patches(image, at, size) for image in images]
