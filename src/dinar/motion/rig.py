"""Anny's rig for motions: rest skeleton, forward kinematics, soles, rotation helpers and the two-bone
limb solver that turn limb directions into bone rotations (module docstring of :mod:`dinar.motion`)."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import roma
import torch
from torch import Tensor

from dinar.body.base import BodyModel

_SOLE_BAND = 0.02  # metres above the rest floor: mesh vertices this low are the soles


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
