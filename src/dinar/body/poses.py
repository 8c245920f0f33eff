"""A small library of natural standing and moving poses for Anny, and random perturbations of them.

Anny's pose is axis-angle per bone in its ``local-ref`` parameterization: each bone turns about its
head, with the rotation axes in the world-aligned rest frame (Z up, the subject faces -Y, +X is the
subject's left), relative to the A-pose. So, found by rendering each bone and looking:

- about +X: a limb pointing down swings backward (``upperarm01 +X`` = arm back, ``upperleg01 -X`` =
  hip flexion, ``lowerleg01 +X`` = knee bend, ``lowerarm01 -X`` = elbow bend, ``spine* +X`` = bend
  forward);
- about Y: ``upperarm01.L -Y`` raises the left arm sideways (about 0.85 rad from the A-pose to a
  T-pose), ``+Y`` brings it to the side;
- about the upper arm's own axis (:data:`ARM_AXIS_L`, down and out): ``+`` turns the left arm
  inwards, which carries a bent forearm across the body.

Poses are written for the left side and mirrored (``x -> -x`` maps a rotation vector
``(x, y, z)`` to ``(x, -y, -z)``).
"""

from __future__ import annotations

import math

import numpy as np
import roma
import torch
from torch import Tensor

# The left upper arm's direction in Anny's A-pose (shoulder -> elbow), for inward/outward turns.
ARM_AXIS_L = (0.66, -0.02, -0.75)


def _rv(*rotvecs: tuple[float, float, float]) -> tuple[float, float, float]:
    """One rotation vector for rotations applied in order (the first listed acts first)."""
    R = torch.eye(3, dtype=torch.float64)
    for v in rotvecs:
        R = roma.rotvec_to_rotmat(torch.tensor(v, dtype=torch.float64)) @ R
    return tuple(roma.rotmat_to_rotvec(R).tolist())


def _inward(angle: float) -> tuple[float, float, float]:
    """Turn the left upper arm about its own axis by ``angle`` (positive: inwards)."""
    n = math.sqrt(sum(a * a for a in ARM_AXIS_L))
    return tuple(a / n * angle for a in ARM_AXIS_L)


def mirror(v: tuple[float, float, float]) -> tuple[float, float, float]:
    """The rotation vector of the mirror-image joint (left <-> right)."""
    return (v[0], -v[1], -v[2])


def _sym(left: dict[str, tuple], **right: tuple) -> dict[str, tuple]:
    """Pose from left-side bones, mirrored onto the right unless the right is given (``name_R=``)."""
    out = dict(left)
    for name, v in left.items():
        if name.endswith(".L"):
            out[name[:-2] + ".R"] = mirror(v)
    for key, v in right.items():
        out[key.replace("_R", ".R")] = v
    return out


def _right(pose: dict[str, tuple]) -> dict[str, tuple]:
    """The mirror image of a whole pose."""
    out = {}
    for name, v in pose.items():
        side = {".L": ".R", ".R": ".L"}.get(name[-2:])
        out[name[:-2] + side if side else name] = mirror(v)
    return out


_ARM_DOWN_L = (0.0, 0.55, 0.0)  # from the A-pose to hanging by the side

POSES: dict[str, dict[str, tuple[float, float, float]]] = {
    "a_pose": {},
    "t_pose": _sym({"upperarm01.L": (0.0, -0.85, 0.0)}),
    "relaxed": _sym({"upperarm01.L": _ARM_DOWN_L, "lowerarm01.L": (-0.2, 0.0, 0.0)}),
    "contrapposto": _sym(
        {"upperarm01.L": (0.1, 0.5, 0.0), "lowerarm01.L": (-0.35, 0.0, 0.0), "upperleg01.L": (-0.15, 0.0, -0.1), "lowerleg01.L": (0.3, 0.0, 0.0), "spine03": (0.0, -0.06, 0.0), "neck01": (0.0, 0.1, 0.05)},
        upperleg01_R=(0.0, 0.05, 0.0),
    ),
    "walking": {
        "upperleg01.L": (-0.45, 0.0, 0.0), "lowerleg01.L": (0.25, 0.0, 0.0),
        "upperleg01.R": (0.3, 0.0, 0.0), "lowerleg01.R": (0.45, 0.0, 0.0), "foot.R": (-0.2, 0.0, 0.0),
        "upperarm01.L": (0.35, 0.45, 0.0), "lowerarm01.L": (-0.15, 0.0, 0.0),
        "upperarm01.R": (-0.25, -0.45, 0.0), "lowerarm01.R": (-0.35, 0.0, 0.0),
        "spine03": (0.0, 0.0, -0.08),
    },
    "arms_crossed": {
        "upperarm01.L": _rv(_inward(1.7), (-0.35, 0.55, 0.0)), "lowerarm01.L": (-1.5, 0.0, 0.0),
        "upperarm01.R": mirror(_rv(_inward(1.5), (-0.45, 0.5, 0.0))), "lowerarm01.R": mirror((-1.5, 0.0, 0.0)),
    },
    "hands_on_hips": _sym({"upperarm01.L": _rv(_inward(1.4), (0.3, -0.1, 0.0)), "lowerarm01.L": (-1.2, 0.0, 0.0)}),
    "arm_raised": {"upperarm01.R": (0.0, 2.3, 0.0), "lowerarm01.R": (-0.3, 0.0, 0.0), "upperarm01.L": _ARM_DOWN_L},
    "forearm_front": {
        "upperarm01.L": _rv(_inward(1.8), (-0.1, 0.5, 0.0)), "lowerarm01.L": (-1.3, 0.0, 0.0),
        "upperarm01.R": mirror(_ARM_DOWN_L),
    },
    "lunge": {
        "upperleg01.L": (-1.0, 0.0, 0.0), "lowerleg01.L": (1.0, 0.0, 0.0),
        "upperleg01.R": (0.5, 0.0, 0.0), "lowerleg01.R": (0.3, 0.0, 0.0),
        "upperarm01.L": (0.0, 0.4, 0.0), "upperarm01.R": (0.0, -0.4, 0.0),
    },
    "waving": {"upperarm01.L": (0.0, -0.9, 0.0), "lowerarm01.L": _rv((0.0, -1.3, 0.0)), "upperarm01.R": mirror(_ARM_DOWN_L)},
}
POSES["arm_raised_left"] = _right(POSES["arm_raised"])
POSES["walking_mirrored"] = _right(POSES["walking"])

# Bones that random perturbation moves, with a bound (radians) on each axis's change.
PERTURB_LIMITS: dict[str, float] = {
    "spine01": 0.06, "spine02": 0.06, "spine03": 0.06, "neck01": 0.1, "head": 0.2,
    "clavicle.L": 0.05, "clavicle.R": 0.05,
    "upperarm01.L": 0.2, "upperarm01.R": 0.2, "lowerarm01.L": 0.2, "lowerarm01.R": 0.2,
    "wrist.L": 0.2, "wrist.R": 0.2,
    "upperleg01.L": 0.1, "upperleg01.R": 0.1, "lowerleg01.L": 0.1, "lowerleg01.R": 0.1,
    "foot.L": 0.1, "foot.R": 0.1,
}


def pose_names() -> list[str]:
    return list(POSES)


def pose_tensor(name: str, bone_names: list[str]) -> Tensor:
    """A library pose as ``[J, 3]`` axis-angle for a rig with these bone names."""
    if name not in POSES:
        raise ValueError(f"unknown pose {name!r}; the library has {pose_names()}")
    pose = torch.zeros(len(bone_names), 3)
    for bone, v in POSES[name].items():
        pose[bone_names.index(bone)] = torch.tensor(v, dtype=torch.float32)
    return pose


def perturb_pose(pose: Tensor, bone_names: list[str], rng: np.random.Generator, scale: float = 1.0) -> Tensor:
    """Add a uniform random turn within :data:`PERTURB_LIMITS` (times ``scale``) to the listed bones.

    The change is composed with the bone's rotation, so it stays small whatever the base pose.
    """
    out = pose.clone()
    for bone, limit in PERTURB_LIMITS.items():
        j = bone_names.index(bone)
        delta = torch.tensor(rng.uniform(-limit * scale, limit * scale, 3), dtype=torch.float32)
        out[j] = roma.rotmat_to_rotvec(roma.rotvec_to_rotmat(delta) @ roma.rotvec_to_rotmat(out[j]))
    return out


def sample_poses(count: int, bone_names: list[str], rng: np.random.Generator, perturb: float = 1.0) -> tuple[list[str], Tensor]:
    """``count`` distinct library poses (cycling if more are asked for), perturbed: names and ``[P, J, 3]``."""
    names = pose_names()
    order = list(rng.permutation(len(names)))
    picked = [names[order[i % len(names)]] for i in range(count)]
    poses = torch.stack([perturb_pose(pose_tensor(n, bone_names), bone_names, rng, perturb) for n in picked])
    return picked, poses
