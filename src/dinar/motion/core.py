"""The :class:`Motion`: a pose sequence in the body model's own parameterization, and resampling."""

from __future__ import annotations

import math
from dataclasses import dataclass

import roma
import torch
from torch import Tensor


@dataclass
class Motion:
    """A pose sequence for one body model."""

    pose: Tensor  # [T, J, 3] axis-angle per bone, the body model's convention (Anny: local-ref, rel. to the A-pose)
    global_orient: Tensor  # [T, 3] axis-angle about the world origin
    transl: Tensor  # [T, 3] metres, world
    fps: float
    name: str = "motion"
    body_model: str = "anny"

    def __post_init__(self) -> None:
        t = self.pose.shape[0]
        if self.pose.dim() != 3 or self.pose.shape[2] != 3:
            raise ValueError(f"Motion pose must be [T, J, 3], got {list(self.pose.shape)}")
        if self.global_orient.shape != (t, 3) or self.transl.shape != (t, 3):
            raise ValueError(
                f"Motion global_orient and transl must be [{t}, 3], got {list(self.global_orient.shape)}, {list(self.transl.shape)}"
            )
        if self.fps <= 0:
            raise ValueError(f"Motion fps must be > 0, got {self.fps}")

    @property
    def num_frames(self) -> int:
        return int(self.pose.shape[0])

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.num_frames / self.fps

    def to(self, device: torch.device | str) -> Motion:
        return Motion(self.pose.to(device), self.global_orient.to(device), self.transl.to(device), self.fps, self.name, self.body_model)


def resample_motion(motion: Motion, fps: float) -> Motion:
    """The same motion at another frame rate: rotations slerped, translations interpolated linearly."""
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    count = max(1, math.floor(motion.duration * fps + 1e-6))
    src = torch.arange(count, dtype=torch.float64) * (motion.fps / fps)
    lo = src.floor().long().clamp(max=motion.num_frames - 1)
    hi = (lo + 1).clamp(max=motion.num_frames - 1)
    w = (src - lo).clamp(0, 1)

    def rot(x: Tensor) -> Tensor:  # [T, ..., 3] axis-angle
        r0, r1 = roma.rotvec_to_rotmat(x[lo].double()), roma.rotvec_to_rotmat(x[hi].double())
        rel = roma.rotmat_to_rotvec(r0.transpose(-1, -2) @ r1)
        ww = w.view(-1, *([1] * (rel.dim() - 1)))
        return roma.rotmat_to_rotvec(r0 @ roma.rotvec_to_rotmat(rel * ww)).to(x.dtype)

    transl = motion.transl[lo] * (1 - w[:, None]).to(motion.transl) + motion.transl[hi] * w[:, None].to(motion.transl)
    return Motion(rot(motion.pose), rot(motion.global_orient), transl, float(fps), motion.name, motion.body_model)
