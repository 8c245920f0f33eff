"""Built-in motions made by code for Anny: turntable, walk, wave, squat, dance (each loops, soles on
the floor)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import roma
import torch
from torch import Tensor

from dinar.body.base import BodyModel
from dinar.motion.core import Motion
from dinar.motion.rig import (
    AnnyRig,
    _axis_angle,
    _curve,
    _mirror_dir,
    _Pose,
    _rx,
    _ry,
    _rz,
    _unit,
    anny_rig,
    ground_offsets,
    sole_positions,
    world_rotations,
)

BUILTIN_MOTIONS: tuple[str, ...] = ("turntable", "walk", "wave", "squat", "dance")
_CYCLE_SECONDS = {"turntable": 4.0, "walk": 1.2, "wave": 0.8, "squat": 3.0, "dance": 2.0}  # one loop
_DEFAULT_SECONDS = {"turntable": 4.0, "walk": 2.4, "wave": 2.4, "squat": 3.0, "dance": 4.0}


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
