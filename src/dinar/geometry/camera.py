"""Pinhole cameras in the OpenCV convention, look-at, orbits and the SMPLify-X convention.

Convention (used everywhere in dinar): a world point ``X`` maps to camera coordinates
``x_cam = R @ X + t``; the camera looks along +z, +x is right and +y is down in the image; pixel
``(u, v) = (fx * x/z + cx, fy * y/z + cy)`` with the centre of pixel (col, row) at
``(col + 0.5, row + 0.5)``. ``K``, ``R`` and ``t`` are batched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import Tensor


@dataclass
class Camera:
    """A batch of pinhole cameras with one image size."""

    K: Tensor  # [B, 3, 3] intrinsics in pixels
    R: Tensor  # [B, 3, 3] world -> camera rotation
    t: Tensor  # [B, 3] world -> camera translation
    width: int
    height: int

    def __post_init__(self) -> None:
        b = self.K.shape[0]
        if self.K.shape != (b, 3, 3) or self.R.shape != (b, 3, 3) or self.t.shape != (b, 3):
            raise ValueError(
                f"Camera expects K [B,3,3], R [B,3,3], t [B,3]; got {tuple(self.K.shape)}, "
                f"{tuple(self.R.shape)}, {tuple(self.t.shape)}"
            )

    @property
    def batch_size(self) -> int:
        return int(self.K.shape[0])

    @property
    def center(self) -> Tensor:
        """Camera centres in world coordinates, ``[B, 3]``."""
        return -(self.R.transpose(1, 2) @ self.t[..., None])[..., 0]

    def to(self, device: torch.device | str) -> Camera:
        return replace(self, K=self.K.to(device), R=self.R.to(device), t=self.t.to(device))

    def __getitem__(self, index) -> Camera:
        sl = slice(index, index + 1) if isinstance(index, int) else index
        return replace(self, K=self.K[sl], R=self.R[sl], t=self.t[sl])

    def resized(self, width: int, height: int) -> Camera:
        """The same view in the image resized to ``width`` x ``height``: the first two rows of K scale
        with the image (pixel centres at +0.5 scale with it, OpenCV convention); R and t are kept."""
        if (width, height) == (self.width, self.height):
            return self
        K = self.K.clone()
        K[:, 0] *= width / self.width
        K[:, 1] *= height / self.height
        return replace(self, K=K, width=int(width), height=int(height))

    def expand(self, batch_size: int) -> Camera:
        """Repeat a single camera ``batch_size`` times."""
        if self.batch_size == batch_size:
            return self
        if self.batch_size != 1:
            raise ValueError(f"cannot expand a batch of {self.batch_size} cameras to {batch_size}")
        return replace(
            self, K=self.K.expand(batch_size, 3, 3), R=self.R.expand(batch_size, 3, 3), t=self.t.expand(batch_size, 3)
        )

    def world_to_camera(self, points: Tensor) -> Tensor:
        """``points [B, N, 3]`` world -> camera coordinates ``[B, N, 3]``."""
        return points @ self.R.transpose(1, 2) + self.t[:, None]

    def project(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """World ``points [B, N, 3]`` -> pixel coordinates ``[B, N, 2]`` and depth ``[B, N]``."""
        cam = self.world_to_camera(points)
        z = cam[..., 2]
        pix = cam @ self.K.transpose(1, 2)
        return pix[..., :2] / z[..., None], z

    def unproject(self, pixels: Tensor, depth: Tensor) -> Tensor:
        """Pixel coordinates ``[B, N, 2]`` at camera depth ``[B, N]`` -> world points ``[B, N, 3]``."""
        ones = torch.ones_like(pixels[..., :1])
        rays = torch.cat([pixels, ones], -1) @ torch.linalg.inv(self.K).transpose(1, 2)
        cam = rays * depth[..., None]
        return (cam - self.t[:, None]) @ self.R

    def view_directions(self, points: Tensor) -> Tensor:
        """Unit vectors from world ``points [B, N, 3]`` towards the camera centre."""
        return torch.nn.functional.normalize(self.center[:, None] - points, dim=-1)

    def state(self) -> dict[str, list]:
        """JSON-ready intrinsics/extrinsics (the dataset-layout parameter file uses this)."""
        return {"K": self.K.tolist(), "R": self.R.tolist(), "t": self.t.tolist(), "width": self.width, "height": self.height}

    @classmethod
    def from_state(cls, state: dict) -> Camera:
        f = torch.tensor
        return cls(K=f(state["K"]), R=f(state["R"]), t=f(state["t"]), width=int(state["width"]), height=int(state["height"]))


def intrinsics(focal: float | Tensor, width: int, height: int, batch_size: int = 1, cx: float | None = None, cy: float | None = None) -> Tensor:
    """``[B, 3, 3]`` intrinsics with square pixels and the principal point at the image centre by default."""
    K = torch.zeros(batch_size, 3, 3)
    K[:, 0, 0] = torch.as_tensor(focal, dtype=torch.float32)
    K[:, 1, 1] = torch.as_tensor(focal, dtype=torch.float32)
    K[:, 0, 2] = width / 2 if cx is None else cx
    K[:, 1, 2] = height / 2 if cy is None else cy
    K[:, 2, 2] = 1.0
    return K


def focal_from_fov(fov_degrees: float, size: int) -> float:
    """Focal length in pixels for a field of view spanning ``size`` pixels."""
    return size / 2 / math.tan(math.radians(fov_degrees) / 2)


def look_at(eye: Tensor, target: Tensor, up: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """OpenCV ``R [B,3,3], t [B,3]`` for cameras at ``eye [B,3]`` looking at ``target [B,3]``.

    ``up`` is the world up direction (default +Z, Anny's up); it appears as -y in the image.
    """
    if up is None:
        up = torch.tensor([0.0, 0.0, 1.0], device=eye.device).expand_as(eye)
    z = torch.nn.functional.normalize(target - eye, dim=-1)
    x = torch.nn.functional.normalize(torch.cross(z, up, dim=-1), dim=-1)
    y = torch.cross(z, x, dim=-1)
    R = torch.stack([x, y, z], dim=1)
    t = -(R @ eye[..., None])[..., 0]
    return R, t


def orbit_cameras(
    num_views: int,
    radius: float = 3.0,
    elevation_deg: float = 0.0,
    target: tuple[float, float, float] = (0.0, 0.0, 0.0),
    fov_deg: float = 30.0,
    size: int = 512,
    start_azimuth_deg: float = 0.0,
) -> Camera:
    """A turntable of ``num_views`` cameras around +Z; azimuth 0 is the subject's front (-Y)."""
    az = torch.deg2rad(torch.tensor(start_azimuth_deg) + torch.arange(num_views) * 360.0 / num_views)
    el = math.radians(elevation_deg)
    tgt = torch.tensor(target, dtype=torch.float32).expand(num_views, 3)
    eye = tgt + radius * torch.stack(
        [-torch.sin(az) * math.cos(el), -torch.cos(az) * math.cos(el), torch.full_like(az, math.sin(el))], -1
    )
    R, t = look_at(eye, tgt)
    return Camera(K=intrinsics(focal_from_fov(fov_deg, size), size, size, num_views), R=R, t=t, width=size, height=size)


def smplifyx_camera(transl: Tensor, width: int, height: int, focal: float = 5000.0, rotation: Tensor | None = None) -> Camera:
    """The SMPLify-X convention: focal 5000, principal point at the centre, camera translation ``[B, 3]``.

    SMPLify-X fits in a camera frame whose axes are OpenCV's rotated 180 deg about x relative to
    the body; pass that rotation as ``rotation`` when the body lives in such a frame (identity by default).
    """
    b = transl.shape[0]
    R = torch.eye(3).expand(b, 3, 3) if rotation is None else rotation
    return Camera(K=intrinsics(focal, width, height, b), R=R.float(), t=transl.float(), width=width, height=height)
