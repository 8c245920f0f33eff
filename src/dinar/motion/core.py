"""Motions: pose sequences for a body model, what avatars are animated and exported with.

A :class:`Motion` is the body model's own parameterization over time (pose ``[T, J, 3]`` axis-angle
per bone, ``global_orient`` and ``transl`` per frame, at ``fps``), so the renderer and the GLB
exporter take it unchanged. Motions come from three places, all through :func:`load_motion`:

- ``builtin:NAME`` -- :data:`BUILTIN_MOTIONS`, made here by code for the default body (Anny):
  ``turntable`` (the A-pose held still: the camera orbits), ``walk`` (a walk cycle, in place unless
  ``in_place=False``), ``wave`` (right arm raised, waving), ``squat`` and ``dance`` (a side-to-side
  groove). Each loops: the frame after the last equals the first, and the soles stay on the floor.
- ``*.npz`` -- AMASS / SMPL-X / SMPL+H sequences, retargeted onto Anny (:mod:`dinar.motion.amass`).
- ``*.bvh`` -- mocap (CMU as converted by cgspeed, Mixamo), retargeted onto Anny
  (:mod:`dinar.motion.bvh`).

Anny's pose, as used here: bone ``c`` turns by ``D_c`` (its axis-angle) about its head, with the axes
of the fixed, world-aligned reference frame, so its rotation relative to the rest pose is
``E_c = E_parent @ D_c`` (the same rule as SMPL-X's, with Anny's A-pose as the rest). Built-in motions
are written as such world rotations -- limb directions, two-bone inverse kinematics for planted feet
-- and turned into ``D_c`` at the end. Retargeting (:func:`retarget`) takes a source skeleton's
rotations through the same rule: each Anny bone gets the rest-relative world rotation of the source
joint that drives it, corrected for the rest poses' difference (a T-pose's arms vs. Anny's A-pose).

The floor is the rest pose's: Anny's origin is at its hips and its soles are at ``z = floor`` of the
rest mesh (-0.816 m for the average body; Anny keeps it within about a centimetre for other shapes).
Motions are made for the average body and keep its soles there.
"""

from __future__ import annotations

import itertools
import math
import weakref
from dataclasses import dataclass
from pathlib import Path

import roma
import torch
from torch import Tensor

from dinar.body.base import BodyModel

BUILTIN_MOTIONS: tuple[str, ...] = ("turntable", "walk", "wave", "squat", "dance")
_CYCLE_SECONDS = {"turntable": 4.0, "walk": 1.2, "wave": 0.8, "squat": 3.0, "dance": 2.0}  # one loop
_DEFAULT_SECONDS = {"turntable": 4.0, "walk": 2.4, "wave": 2.4, "squat": 3.0, "dance": 4.0}
_SOLE_BAND = 0.02  # metres above the rest floor: mesh vertices this low are the soles


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


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def load_motion(spec: str, body: BodyModel, fps: float | None = None) -> Motion:
    """A motion for ``body`` from ``builtin:NAME``, an AMASS/SMPL-X ``.npz`` or a ``.bvh`` file.

    ``fps`` resamples a file's motion (default: its own rate) or sets a built-in's rate (default 25).
    """
    spec = str(spec)
    if spec.startswith("builtin:"):
        return builtin_motion(spec[len("builtin:") :], body, fps=25.0 if fps is None else fps)
    path = Path(spec).expanduser()
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".bvh"):
        raise ValueError(
            f"Unknown motion {spec!r}: give builtin:NAME (one of {', '.join(BUILTIN_MOTIONS)}), "
            "an AMASS / SMPL-X .npz file or a .bvh file"
        )
    if not path.is_file():
        raise ValueError(f"Motion file {str(path)!r} does not exist; check the path")
    if suffix == ".npz":
        from dinar.motion.amass import load_amass

        motion = load_amass(path, body)
    else:
        from dinar.motion.bvh import load_bvh

        motion = load_bvh(path, body)
    return motion if fps is None else resample_motion(motion, fps)


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


# ---------------------------------------------------------------------------------------------
# The rig: rest skeleton, forward kinematics, the soles
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnyRig:
    """What motion code needs of a body: its bones in rest pose and the points of its soles."""

    names: list[str]
    index: dict[str, int]
    parents: list[int]
    order: list[int]  # bones with every parent before its children
    rest: Tensor  # [J, 3] float64 rest bone heads
    sole_points: Tensor  # [P, 3] rest mesh vertices within _SOLE_BAND of the floor
    sole_bones: Tensor  # [P] the bone each sole point rides with (its largest skin weight)
    floor: float  # rest floor height: the lowest rest vertex

    def vec(self, a: str, b: str) -> Tensor:
        """Rest vector from bone ``a``'s head to bone ``b``'s, ``[3]``."""
        return self.rest[self.index[b]] - self.rest[self.index[a]]


_RIGS: weakref.WeakKeyDictionary[BodyModel, AnnyRig] = weakref.WeakKeyDictionary()


def anny_rig(body: BodyModel) -> AnnyRig:
    """The rig of an Anny body (built once per body model: one rest-pose evaluation)."""
    if body.name != "anny":
        raise ValueError(
            f"Built-in and retargeted motions are made for the Anny default rig; got body model {body.name!r}. "
            "Load the motion with load_body_model('anny')."
        )
    if body not in _RIGS:
        sk = body.skeleton
        parents = [int(p) for p in sk.parents.tolist()]
        depth = [0] * len(parents)
        for j in range(len(parents)):
            p, d = parents[j], 0
            while p >= 0:
                p, d = parents[p], d + 1
            depth[j] = d
        with torch.no_grad():
            verts = body().vertices[0].double().cpu()
        floor = float(verts[:, 2].min())
        sole = verts[:, 2] < floor + _SOLE_BAND
        bones = sk.skin_indices.cpu().gather(1, sk.skin_weights.cpu().argmax(1, keepdim=True))[:, 0]
        _RIGS[body] = AnnyRig(
            names=list(sk.names),
            index={n: i for i, n in enumerate(sk.names)},
            parents=parents,
            order=sorted(range(len(parents)), key=lambda j: depth[j]),
            rest=sk.rest_joints.detach().double().cpu(),
            sole_points=verts[sole],
            sole_bones=bones[sole],
            floor=floor,
        )
    return _RIGS[body]


def world_rotations(rig: AnnyRig, local: Tensor) -> Tensor:
    """Rest-relative rotations ``E_c = E_parent @ D_c`` of every bone, ``[T, J, 3, 3]``, from ``D`` ``[T, J, 3, 3]``."""
    out = local.clone()
    for j in rig.order:
        p = rig.parents[j]
        if p >= 0:
            out[:, j] = out[:, p] @ local[:, j]
    return out


def local_rotations(rig: AnnyRig, world: Tensor) -> Tensor:
    """The inverse of :func:`world_rotations`: ``D_c = E_parent^T @ E_c``, ``[T, J, 3, 3]``."""
    eye = torch.eye(3, dtype=world.dtype).expand(world.shape[0], 1, 3, 3)
    parent_world = torch.cat([eye, world], dim=1)[:, [p + 1 for p in rig.parents]]  # the root's parent: identity
    return parent_world.transpose(-1, -2) @ world


def joint_positions(rig: AnnyRig, world: Tensor) -> Tensor:
    """Posed bone heads ``[T, J, 3]`` in the body frame (before ``global_orient``/``transl``)."""
    out = rig.rest.to(world).expand(world.shape[0], -1, -1).clone()
    for j in rig.order:
        p = rig.parents[j]
        if p >= 0:
            out[:, j] = out[:, p] + world[:, p] @ (rig.rest[j] - rig.rest[p]).to(world)
    return out


def sole_positions(rig: AnnyRig, world: Tensor, global_rot: Tensor, transl: Tensor) -> Tensor:
    """World positions ``[T, P, 3]`` of the sole points, riding rigidly with their bones."""
    heads = joint_positions(rig, world)
    b = rig.sole_bones
    local = (rig.sole_points - rig.rest[b]).to(world)
    pts = (world[:, b] @ local[None, :, :, None])[..., 0] + heads[:, b]
    return pts @ global_rot.transpose(-1, -2) + transl[:, None]


def ground_offsets(rig: AnnyRig, world: Tensor, global_rot: Tensor, transl: Tensor) -> Tensor:
    """Per-frame lift ``[T]`` that puts the lowest sole point on the rest floor."""
    return rig.floor - sole_positions(rig, world, global_rot, transl)[..., 2].amin(1)


# ---------------------------------------------------------------------------------------------
# Rotation helpers (float64, batched over frames)
# ---------------------------------------------------------------------------------------------


def _unit(v: Tensor) -> Tensor:
    return torch.nn.functional.normalize(v, dim=-1)


def _axis_angle(axis: tuple[float, float, float] | Tensor, angle: Tensor) -> Tensor:
    """Rotation matrices ``[T, 3, 3]`` about a fixed or per-frame axis by ``angle`` ``[T]`` radians."""
    axis = _unit(torch.as_tensor(axis, dtype=torch.float64)).expand(angle.shape[0], 3)
    return roma.rotvec_to_rotmat(axis * angle[:, None])


def _rx(a: Tensor) -> Tensor:
    return _axis_angle((1.0, 0.0, 0.0), a)


def _ry(a: Tensor) -> Tensor:
    return _axis_angle((0.0, 1.0, 0.0), a)


def _rz(a: Tensor) -> Tensor:
    return _axis_angle((0.0, 0.0, 1.0), a)


def _frame(direction: Tensor, hinge: Tensor) -> Tensor:
    """Orthonormal frames ``[..., 3, 3]`` with columns: ``direction``, ``hinge`` made orthogonal to it, their cross."""
    d = _unit(direction)
    h = _unit(hinge - (hinge * d).sum(-1, keepdim=True) * d)
    return torch.stack([d, h, torch.cross(d, h, dim=-1)], dim=-1)


def swing(a: Tensor, b: Tensor) -> Tensor:
    """The smallest rotation ``[..., 3, 3]`` turning direction ``a`` onto direction ``b``."""
    a, b = _unit(a), _unit(b)
    axis = torch.cross(a, b, dim=-1)
    angle = torch.atan2(axis.norm(dim=-1), (a * b).sum(-1))
    return roma.rotvec_to_rotmat(_unit(axis) * angle[..., None])


def _mirror_dir(v: Tensor) -> Tensor:
    """A direction (polar vector) on the other side of the body: ``x -> -x``."""
    return v * torch.tensor([-1.0, 1.0, 1.0], dtype=v.dtype)


def _curve(keys: list[tuple[float, float]], phase: Tensor) -> Tensor:
    """A smooth periodic curve through ``(phase, value)`` keys (phase in [0, 1)): cubic Hermite, wraps at 1.

    Tangents are the centred differences over each key's neighbours (Catmull-Rom for unequal spacing),
    so the curve and its slope are continuous, also across phase 1 -> 0.
    """
    ph = torch.tensor([k[0] for k in keys], dtype=torch.float64)
    val = torch.tensor([k[1] for k in keys], dtype=torch.float64)
    n = len(keys)
    gap = (ph.roll(-1) - ph) % 1.0  # phase from each key to the next
    gap[gap == 0] = 1.0  # a single key: a constant
    slope = (val.roll(-1) - val.roll(1)) / (gap + gap.roll(1))
    x = phase.double() % 1.0
    i = (torch.searchsorted(ph, x, right=True) - 1) % n
    i1 = (i + 1) % n
    t = ((x - ph[i]) % 1.0) / gap[i]
    h00, h10, h01, h11 = 2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t, -2 * t**3 + 3 * t**2, t**3 - t**2
    return h00 * val[i] + h10 * gap[i] * slope[i] + h01 * val[i1] + h11 * gap[i] * slope[i1]


# ---------------------------------------------------------------------------------------------
# Limbs: directions -> rotations
# ---------------------------------------------------------------------------------------------


def _two_bone(rest_a: Tensor, rest_b: Tensor, rest_hinge: Tensor, dir_a: Tensor, dir_b: Tensor, hinge: Tensor) -> tuple[Tensor, Tensor]:
    """Rotations ``[T, 3, 3]`` turning a two-bone limb's rest segments onto ``dir_a``, ``dir_b``.

    Each segment's frame (its direction, the joint's hinge axis) goes onto the target frame, so the
    hinge -- and with it the palm or the kneecap -- turns with the limb instead of twisting.
    """
    rest_a, rest_b, rest_hinge = (x.expand_as(dir_a) for x in (rest_a, rest_b, rest_hinge))
    ra = _frame(dir_a, hinge) @ _frame(rest_a, rest_hinge).transpose(-1, -2)
    rb = _frame(dir_b, hinge) @ _frame(rest_b, rest_hinge).transpose(-1, -2)
    return ra, rb


def _arm(rig: AnnyRig, side: str, upper: Tensor, fore: Tensor) -> tuple[Tensor, Tensor]:
    """Upper arm and forearm rotations ``[T, 3, 3]`` (relative to the chest) for target directions ``[T, 3]``.

    The directions are the chest-frame shoulder->elbow and elbow->wrist directions; they must make an
    elbow bend of a few degrees at least (the hinge is their cross product).
    """
    a = rig.vec(f"upperarm01.{side}", f"lowerarm01.{side}")
    b = rig.vec(f"lowerarm01.{side}", f"wrist.{side}")
    return _two_bone(a, b, torch.cross(a, b, dim=0), upper, fore, torch.cross(upper, fore, dim=-1))


def _leg_ik(rig: AnnyRig, side: str, ankle: Tensor, pole: Tensor) -> tuple[Tensor, Tensor]:
    """Thigh and shin rotations ``[T, 3, 3]`` (body frame) that put the ankle at ``ankle`` ``[T, 3]``.

    Two-bone inverse kinematics with the knee bending towards ``pole`` ``[T, 3]``.
    """
    hip = rig.rest[rig.index[f"upperleg01.{side}"]]
    a = rig.vec(f"upperleg01.{side}", f"lowerleg01.{side}")
    b = rig.vec(f"lowerleg01.{side}", f"foot.{side}")
    l1, l2 = float(a.norm()), float(b.norm())
    r = ankle - hip
    d = r.norm(dim=-1).clamp(abs(l1 - l2) + 1e-4, l1 + l2 - 1e-4)
    rd = _unit(r)
    q = _unit(pole - (pole * rd).sum(-1, keepdim=True) * rd)
    cos_hip = ((l1**2 + d**2 - l2**2) / (2 * l1 * d)).clamp(-1, 1)
    thigh = cos_hip[:, None] * rd + torch.sqrt(1 - cos_hip**2)[:, None] * q
    shin = _unit(hip + d[:, None] * rd - (hip + l1 * thigh))
    rest_r = a + b
    rest_pole = torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64)
    rest_q = _unit(rest_pole - (rest_pole @ _unit(rest_r)) * _unit(rest_r))
    return _two_bone(a, b, torch.cross(rest_q, _unit(rest_r), dim=0), thigh, shin, torch.cross(q, rd, dim=-1))


class _Pose:
    """Anny's pose being written, as rotation matrices ``D_c`` ``[T, J, 3, 3]`` (axis-angle at the end)."""

    def __init__(self, rig: AnnyRig, frames: int) -> None:
        self.rig = rig
        self.local = torch.eye(3, dtype=torch.float64).repeat(frames, len(rig.names), 1, 1)

    def set(self, bone: str, rot: Tensor) -> None:
        """Set bone ``D_c`` (``[T, 3, 3]``), the rotation relative to its parent in the reference axes."""
        self.local[:, self.rig.index[bone]] = rot

    def chain(self, bones: tuple[str, ...], rot: Tensor) -> None:
        """Spread one rotation evenly over a chain of bones (each gets the same fraction of its angle)."""
        part = roma.rotvec_to_rotmat(roma.rotmat_to_rotvec(rot) / len(bones))
        for bone in bones:
            self.set(bone, part)

    def world(self, bone: str) -> Tensor:
        return world_rotations(self.rig, self.local)[:, self.rig.index[bone]]

    def set_arm(self, side: str, upper: Tensor, fore: Tensor, body_frame: bool = False) -> None:
        """Arm from chest-frame directions (or body-frame ones, ``body_frame=True``, given the spine so far)."""
        if body_frame:
            chest = self.world(f"shoulder01.{side}").transpose(-1, -2)
            upper, fore = ((chest @ v[..., None])[..., 0] for v in (upper, fore))
        ru, rf = _arm(self.rig, side, upper, fore)
        self.set(f"upperarm01.{side}", ru)
        self.set(f"lowerarm01.{side}", ru.transpose(-1, -2) @ rf)

    def set_leg(self, side: str, ankle: Tensor, pole: Tensor, foot: Tensor) -> None:
        """Leg by inverse kinematics in the body frame, the foot turned to ``foot`` ``[T, 3, 3]`` (body frame)."""
        thigh, shin = _leg_ik(self.rig, side, ankle, pole)
        self.set(f"upperleg01.{side}", thigh)
        self.set(f"lowerleg01.{side}", thigh.transpose(-1, -2) @ shin)
        self.set(f"foot.{side}", shin.transpose(-1, -2) @ foot)


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


# ---------------------------------------------------------------------------------------------
# Built-in motions
# ---------------------------------------------------------------------------------------------


@dataclass
class _Frames:
    """A built-in motion before grounding: local rotations, global rotation and translation."""

    pose: _Pose
    global_rot: Tensor  # [T, 3, 3]
    transl: Tensor  # [T, 3]


def _still(rig: AnnyRig, phase: Tensor) -> _Frames:
    frames = phase.shape[0]
    eye = torch.eye(3, dtype=torch.float64).repeat(frames, 1, 1)
    return _Frames(_Pose(rig, frames), eye, torch.zeros(frames, 3, dtype=torch.float64))


def _dirs(*vectors: tuple[float, float, float]) -> Tensor:
    return _unit(torch.tensor(vectors, dtype=torch.float64))


def _hanging_arm(swing_fwd: Tensor, elbow: Tensor) -> tuple[Tensor, Tensor]:
    """Left arm hanging by the side, swung forward by ``swing_fwd`` and bent by ``elbow`` (radians, ``[T]``)."""
    down, hinge = _dirs((0.17, 0.0, -1.0), (-1.0, 0.0, -0.17))
    upper = (_rx(-swing_fwd) @ down)  # -X turns a hanging limb forward
    hinge = _rx(-swing_fwd) @ hinge
    fore = (_axis_angle(hinge, elbow) @ upper[..., None])[..., 0]
    return upper, fore


def _walk(rig: AnnyRig, phase: Tensor) -> _Frames:
    """A walk cycle from normal-gait joint angles (degrees), phase 0 = left heel strike.

    Hip angles are the thigh's to the vertical (clinical hip angles less the pelvis's ~8 deg forward tilt).
    """
    out = _still(rig, phase)
    deg = math.pi / 180
    hip = [(0.0, 20), (0.1, 17), (0.3, 0), (0.5, -16), (0.6, -10), (0.7, 6), (0.85, 20)]
    knee = [(0.0, 4), (0.12, 17), (0.35, 6), (0.5, 14), (0.6, 38), (0.72, 62), (0.85, 28), (0.95, 6)]
    ankle = [(0.0, 0), (0.07, -5), (0.3, 7), (0.45, 9), (0.6, -15), (0.68, -2), (0.76, 8), (0.9, 4)]  # + toes up
    turn = 2 * math.pi * phase
    yaw = -4 * deg * torch.cos(turn)  # left hip forward at left heel strike
    tilt = -3 * deg * torch.sin(turn)  # the swing side's hip drops
    sway = 0.02 * torch.sin(turn)  # weight over the stance foot
    out.global_rot = _rz(yaw) @ _ry(tilt)
    out.transl[:, 0] = sway
    frontal = _ry(torch.asin(sway / 0.8) - tilt)  # legs keep the feet under the hips despite tilt and sway
    for side, ph in (("L", phase), ("R", phase + 0.5)):
        h, k, a = (_curve(c, ph) * deg for c in (hip, knee, ankle))
        out.pose.set(f"upperleg01.{side}", frontal @ _rx(-h))
        out.pose.set(f"lowerleg01.{side}", _rx(k))
        out.pose.set(f"foot.{side}", _rx(-a))
        swing_fwd = _curve([(0.0, -12), (0.5, 15)], ph) * deg  # the arm swings against its leg
        elbow = (22 + 10 * torch.cos(2 * math.pi * (ph + 0.5))) * deg
        upper, fore = _hanging_arm(swing_fwd, elbow)
        if side == "R":
            upper, fore = _mirror_dir(upper), _mirror_dir(fore)
        out.pose.set_arm(side, upper, fore)
    out.pose.set("spine05", _rx(torch.full_like(phase, 4 * deg)))
    out.pose.chain(("spine02", "spine01"), _rz(-2.2 * yaw) @ _ry(-tilt))  # shoulders counter-rotate
    out.pose.chain(("neck01", "neck02"), _rz(1.2 * yaw))  # the head keeps looking ahead
    return out


def _wave(rig: AnnyRig, phase: Tensor) -> _Frames:
    """Right arm raised, the forearm waving side to side; a little sway in the body."""
    out = _still(rig, phase)
    deg = math.pi / 180
    turn = 2 * math.pi * phase
    wave = 22 * deg * torch.sin(turn)
    upper = _dirs((-0.82, -0.2, 0.45)).expand(len(phase), 3)
    fore = _unit(torch.stack([-torch.sin(wave) - 0.05, torch.full_like(wave, -0.3), torch.cos(wave)], -1))
    out.pose.set_arm("R", upper, fore)
    out.pose.set("wrist.R", _ry(0.5 * wave))
    u, f = _hanging_arm(torch.full_like(phase, 3 * deg), torch.full_like(phase, 15 * deg))
    out.pose.set_arm("L", u, f)
    out.pose.chain(("spine03", "spine02", "spine01"), _ry(-3 * deg - 1.0 * deg * torch.sin(turn)))
    out.pose.chain(("neck01", "neck02"), _ry(torch.full_like(phase, 5 * deg)) @ _rz(torch.full_like(phase, -8 * deg)))  # head tilted, turned to the hand
    return out


def _planted_legs(rig: AnnyRig, out: _Frames, knees_out: float, stance: float = 0.0) -> None:
    """Both feet flat and fixed on the floor at their rest place (``stance`` m further out), knees by IK."""
    g_inv = out.global_rot.transpose(-1, -2)
    for side, sign in (("L", 1.0), ("R", -1.0)):
        ankle = rig.rest[rig.index[f"foot.{side}"]] + torch.tensor([sign * stance, 0.0, 0.0], dtype=torch.float64)
        ankle_body = (g_inv @ (ankle - out.transl)[..., None])[..., 0]
        pole = (g_inv @ _dirs((sign * knees_out, -1.0, 0.0))[0])  # knees over the toes
        out.pose.set_leg(side, ankle_body, pole, g_inv)


def _squat(rig: AnnyRig, phase: Tensor) -> _Frames:
    """Down and up once: hips back and down, knees over the toes, torso leaning, arms reaching forward."""
    out = _still(rig, phase)
    s = 0.5 - 0.5 * torch.cos(2 * math.pi * phase)  # 0 standing .. 1 at the bottom
    out.transl = torch.stack([torch.zeros_like(s), 0.10 * s, -0.34 * s], -1)
    out.global_rot = _rx(0.25 * s)  # the pelvis tips forward
    _planted_legs(rig, out, knees_out=0.2)
    out.pose.chain(("spine05", "spine04", "spine03"), _rx(0.25 * s))
    out.pose.chain(("neck01", "neck02"), _rx(-0.35 * s))  # eyes ahead
    g_inv = out.global_rot.transpose(-1, -2)
    for side in ("L", "R"):
        upper, fore = _hanging_arm(0.05 + 1.35 * s, 10 * math.pi / 180 + 0.2 * s)  # world frame
        if side == "R":
            upper, fore = _mirror_dir(upper), _mirror_dir(fore)
        out.pose.set_arm(side, (g_inv @ upper[..., None])[..., 0], (g_inv @ fore[..., None])[..., 0], body_frame=True)
    return out


def _dance(rig: AnnyRig, phase: Tensor) -> _Frames:
    """A four-beat groove: hips sway side to side, knees bounce on every beat, arms pump, head nods."""
    out = _still(rig, phase)
    deg = math.pi / 180
    turn = 2 * math.pi * phase
    beat = 2 * math.pi * 4 * phase
    sway = torch.sin(turn)
    bounce = 0.5 - 0.5 * torch.cos(beat)
    out.transl = torch.stack([0.09 * sway, 0.01 * bounce, -0.03 - 0.04 * bounce], -1)
    out.global_rot = _rz(10 * deg * torch.sin(2 * turn)) @ _ry(-9 * deg * sway)  # hip twist and hip pop
    _planted_legs(rig, out, knees_out=0.25, stance=0.05)
    out.pose.chain(("spine04", "spine03", "spine02"), _ry(11 * deg * sway) @ _rz(-12 * deg * torch.sin(2 * turn)))
    out.pose.chain(("neck01", "neck02"), _rx(6 * deg * torch.sin(beat)) @ _ry(-4 * deg * sway))
    for side, sign in (("L", 1.0), ("R", -1.0)):
        pump = torch.sin(2 * turn + (0 if side == "L" else math.pi))
        upper, fore = _hanging_arm((30 + 25 * pump) * deg, (85 + 10 * pump) * deg)
        upper = _ry(-sign * (12 + 8 * bounce) * deg) @ upper[..., None]  # elbows out a little
        fore = _ry(-sign * (12 + 8 * bounce) * deg) @ fore[..., None]
        upper, fore = upper[..., 0], fore[..., 0]
        if side == "R":
            upper, fore = _mirror_dir(upper), _mirror_dir(fore)
        out.pose.set_arm(side, upper, fore)
    return out


_GENERATORS = {"turntable": _still, "walk": _walk, "wave": _wave, "squat": _squat, "dance": _dance}


def builtin_motion(name: str, body: BodyModel, fps: float = 25.0, seconds: float | None = None, *, in_place: bool = True) -> Motion:
    """A built-in motion (:data:`BUILTIN_MOTIONS`) for the Anny body, looping over ``seconds``.

    The loop holds a whole number of cycles, so the frame after the last equals the first.
    ``in_place=False`` makes ``walk`` move forward (towards -Y) at the speed its steps carry it.
    """
    if name not in _GENERATORS:
        raise ValueError(f"Unknown built-in motion {name!r}; choose one of {', '.join(BUILTIN_MOTIONS)} (as builtin:NAME)")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    seconds = _DEFAULT_SECONDS[name] if seconds is None else float(seconds)
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    rig = anny_rig(body)
    frames = max(1, round(seconds * fps))
    cycles = max(1, round(seconds / _CYCLE_SECONDS[name]))
    phase = torch.arange(frames, dtype=torch.float64) * cycles / frames
    out = _GENERATORS[name](rig, phase % 1.0)
    world = world_rotations(rig, out.pose.local)
    out.transl[:, 2] += ground_offsets(rig, world, out.global_rot, out.transl)
    if name == "walk" and not in_place:
        out.transl[:, 1] -= _walk_forward(rig, world, out, phase % 1.0)
    dtype = torch.float32
    return Motion(
        pose=roma.rotmat_to_rotvec(out.pose.local).to(dtype),
        global_orient=roma.rotmat_to_rotvec(out.global_rot).to(dtype),
        transl=out.transl.to(dtype),
        fps=float(fps),
        name=name,
        body_model=body.name,
    )


def _walk_forward(rig: AnnyRig, world: Tensor, out: _Frames, phase: Tensor) -> Tensor:
    """Forward (-Y) displacement ``[T]`` that keeps the foot on the floor in place, frame by frame.

    The in-place cycle slides the supporting foot backwards (the left one for phase 0.05-0.55, the
    right one for the rest); the body moves forward by as much.
    """
    pts = sole_positions(rig, world, out.global_rot, out.transl)
    left = torch.tensor([rig.names[b].endswith(".L") for b in rig.sole_bones.tolist()])
    y_left, y_right = pts[:, left, 1].mean(1), pts[:, ~left, 1].mean(1)
    on_left = (phase >= 0.05) & (phase < 0.55)
    slide = torch.where(on_left, y_left.roll(-1) - y_left, y_right.roll(-1) - y_right)  # backwards, frame t -> t + 1
    return torch.cat([slide.new_zeros(1), slide.cumsum(0)[:-1]])
