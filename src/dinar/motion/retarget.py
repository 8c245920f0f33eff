"""Retargeting another skeleton's motion onto Anny: each Anny bone takes the rest-relative world
rotation of the source joint that drives it, corrected for the two rest poses."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import roma
import torch
from torch import Tensor

from dinar.body.base import BodyModel
from dinar.motion.core import Motion
from dinar.motion.rig import (
    AnnyRig,
    _unit,
    anny_rig,
    ground_offsets,
    local_rotations,
    swing,
)

# ---------------------------------------------------------------------------------------------
# Retargeting another skeleton's motion onto Anny
# ---------------------------------------------------------------------------------------------

# Anny bones whose rest direction (head -> head of the bone named here) is matched to the source's
# rest pose, so that a source T-pose gives Anny a T-pose; every other bone keeps its parent's correction.
SEGMENT_ENDS: dict[str, str] = {
    f"{bone}.{side}": f"{end}.{side}"
    for side in ("L", "R")
    for bone, end in (("upperarm01", "lowerarm01"), ("lowerarm01", "wrist"), ("upperleg01", "lowerleg01"), ("lowerleg01", "foot"))
}

# Anny's canonical axes: the subject's left, up and front.
_ANNY_LEFT_UP_FRONT = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]], dtype=torch.float64).T


def axes_to_anny(left: Tensor, up: Tensor) -> Tensor:
    """The rotation ``[3, 3]`` taking a skeleton's axes (its subject's left and up) onto Anny's (+X, +Z)."""
    left = _unit(left.double())
    up = _unit(up.double() - (up.double() @ left) * left)
    src = torch.stack([left, up, torch.cross(left, up, dim=0)], dim=1)  # left x up = front, right-handed
    return _ANNY_LEFT_UP_FRONT @ src.T


@dataclass
class SourceMotion:
    """A motion on another skeleton, in that skeleton's own axes, ready to retarget onto Anny.

    Its rest pose has every joint frame aligned with the source's axes (SMPL-X and BVH both work so),
    and each joint's rotation is relative to its parent: ``G_j = G_parent @ rotations[:, j]``.
    """

    names: list[str]  # J joint names; joint 0 is the root (pelvis / hips)
    parents: list[int]  # [J] parent index, -1 for the root
    rotations: Tensor  # [T, J, 3, 3] local joint rotations, relative to the source's rest pose
    root_position: Tensor  # [T, 3] the root joint in the source's world, metres
    fps: float
    name: str
    rest_directions: dict[str, Tensor]  # Anny bone -> the source's rest direction of that segment, source axes


def retarget(
    source: SourceMotion,
    body: BodyModel,
    joint_map: dict[str, tuple[str, ...]],
    to_anny: Tensor,  # [3, 3] source axes -> Anny axes
    world: Tensor | None = None,  # [3, 3] source world -> Anny world; to_anny if None
    ground: bool = True,
    center: bool = True,
) -> Motion:
    """Anny's motion that copies ``source``: every Anny bone takes the world rotation of its source joint.

    ``joint_map`` sends a source joint to the Anny bones it drives: a chain of bones (each child of
    the one before) shares the joint's rotation in equal parts; unrelated bones (the toes) each copy it.
    Anny bones driven by no joint turn with their parents. Each driven bone's rotation is
    ``E = G_parent(source joint) @ R_joint^fraction @ A``, with ``A`` the rest-pose correction
    (:data:`SEGMENT_ENDS`). The source root's rotation becomes ``global_orient``, its position
    ``transl`` (Anny's root joint follows it); ``ground`` lifts the motion so that its lowest sole touches
    the rest floor, ``center`` starts it above the origin.
    """
    rig = anny_rig(body)
    world = to_anny if world is None else world
    c = to_anny.double()
    rot = source.rotations.double()
    frames = rot.shape[0]
    # 1. Source forward kinematics, relative to the root, in Anny's axes
    glob = rot.clone()
    for j, p in enumerate(source.parents):
        if p >= 0:
            glob[:, j] = glob[:, p] @ rot[:, j]
    root = glob[:, 0]
    rel = c @ root.transpose(-1, -2)[:, None] @ glob @ c.T  # [T, J, 3, 3]
    local = c @ rot @ c.T
    # 2. Rest-pose corrections A per Anny bone
    corrections = _rest_corrections(rig, {b: c @ d.double() for b, d in source.rest_directions.items()})
    # 3. World rotation of every Anny bone
    drivers = _drivers(rig, source.names, joint_map)
    eye = torch.eye(3, dtype=torch.float64).expand(frames, 3, 3)
    out = torch.empty(frames, len(rig.names), 3, 3, dtype=torch.float64)
    for j in rig.order:
        p = rig.parents[j]
        if j in drivers:
            s, fraction = drivers[j]
            ps = source.parents[s]
            turn = local[:, s] if fraction == 1.0 else roma.rotvec_to_rotmat(roma.rotmat_to_rotvec(local[:, s]) * fraction)
            out[:, j] = (rel[:, ps] if ps >= 0 else eye) @ turn @ corrections[j]
        else:
            out[:, j] = out[:, p] if p >= 0 else eye
    # 4. Root: global orientation and translation
    global_rot = world.double() @ root @ c.T
    root_world = source.root_position.double() @ world.double().T
    transl = root_world - (global_rot @ rig.rest[0])
    if center:
        transl[:, :2] -= root_world[0, :2]
    if ground:
        step = max(1, frames // 256)
        transl[:, 2] += ground_offsets(rig, out[::step], global_rot[::step], transl[::step]).amax()
    return Motion(
        pose=roma.rotmat_to_rotvec(local_rotations(rig, out)).float(),
        global_orient=roma.rotmat_to_rotvec(global_rot).float(),
        transl=transl.float(),
        fps=float(source.fps),
        name=source.name,
        body_model=body.name,
    )


def _rest_corrections(rig: AnnyRig, source_dirs: dict[str, Tensor]) -> Tensor:
    """Per Anny bone, the rotation ``[J, 3, 3]`` from its rest segment to the source's (inherited down the chain)."""
    out = torch.eye(3, dtype=torch.float64).repeat(len(rig.names), 1, 1)
    for j in rig.order:
        name, p = rig.names[j], rig.parents[j]
        if name in source_dirs and name in SEGMENT_ENDS:
            out[j] = swing(rig.vec(name, SEGMENT_ENDS[name]), source_dirs[name])
        elif p >= 0:
            out[j] = out[p]
    return out


def _drivers(rig: AnnyRig, source_names: list[str], joint_map: dict[str, tuple[str, ...]]) -> dict[int, tuple[int, float]]:
    """Anny bone index -> (source joint index, fraction of its rotation up to this bone)."""
    out: dict[int, tuple[int, float]] = {}
    src_index = {n: i for i, n in enumerate(source_names)}
    for joint, bones in joint_map.items():
        if joint not in src_index:
            continue
        idx = [rig.index[b] for b in bones]
        chain = all(rig.parents[b] == a for a, b in itertools.pairwise(idx))
        for k, b in enumerate(idx):
            out[b] = (src_index[joint], (k + 1) / len(idx) if chain else 1.0)
    return out
