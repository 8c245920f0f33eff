"""Motions: the built-in loops, AMASS / SMPL-X .npz and BVH retargeting onto Anny, load_motion's errors.

Anny's world: Z up, the subject faces -Y, +X is the subject's left. Checks read joint positions and
vertices from ``body(...)`` itself, not from the motion code's own kinematics.
"""

from __future__ import annotations

import math
import re
import types

import numpy as np
import pytest
import roma
import torch

from dinar.motion import (
    BUILTIN_MOTIONS,
    Motion,
    builtin_motion,
    load_motion,
    resample_motion,
)
from dinar.motion.amass import SMPLX_JOINTS
from dinar.motion.bvh import load_bvh, parse_bvh

pytestmark = pytest.mark.usefixtures("one_torch_thread")

X, Y, Z = torch.eye(3)


def _posed(body, motion: Motion, frames=None):
    idx = torch.arange(motion.num_frames) if frames is None else torch.as_tensor(frames)
    with torch.no_grad():
        return body(pose=motion.pose[idx], global_orient=motion.global_orient[idx], transl=motion.transl[idx])


def _floor(body) -> float:
    with torch.no_grad():
        return float(body().vertices[0, :, 2].min())


def _joint(body, out, name):
    return out.joints[:, body.skeleton.names.index(name)]


def _direction(body, out, a, b):
    return torch.nn.functional.normalize(_joint(body, out, b) - _joint(body, out, a), dim=-1)


def _foot_vertices(body):
    parts = body.parts.names
    return (body.parts.labels == parts.index("foot.L")) | (body.parts.labels == parts.index("foot.R"))


# ---------------------------------------------------------------------------------------------
# Built-in motions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILTIN_MOTIONS)
def test_builtin_shapes_loop_and_floor(body, name):
    motion = builtin_motion(name, body, fps=25.0)
    T = motion.num_frames
    assert 50 <= T <= 100 and motion.fps == 25.0 and motion.name == name and motion.body_model == "anny"
    assert motion.pose.shape == (T, body.num_joints, 3) and motion.global_orient.shape == (T, 3) and motion.transl.shape == (T, 3)
    assert all(torch.isfinite(x).all() for x in (motion.pose, motion.global_orient, motion.transl))
    assert (motion.pose.abs().amax() == 0) == (name == "turntable")
    assert motion.pose[:, 0].abs().amax() == 0  # the root bone stays zero: global_orient turns the body
    # periodic: twice the length repeats the loop, so the frame after the last equals the first
    twice = builtin_motion(name, body, fps=25.0, seconds=2 * motion.duration)
    assert twice.num_frames == 2 * T
    for a, b in ((motion.pose, twice.pose[T:]), (motion.global_orient, twice.global_orient[T:]), (motion.transl, twice.transl[T:])):
        assert torch.allclose(a, b, atol=1e-5)
    step = (motion.pose[1:] - motion.pose[:-1]).abs().amax()
    assert (motion.pose[0] - motion.pose[-1]).abs().amax() <= step + 1e-6  # no jump at the wrap
    # the lowest sole point touches the rest floor in every frame
    out = _posed(body, motion, range(0, T, max(1, T // 8)))
    lowest = out.vertices[:, _foot_vertices(body), 2].amin(1)
    assert (lowest - _floor(body)).abs().amax() < 0.012


def test_walk_alternates_legs_and_counter_swings_arms(body):
    motion = builtin_motion("walk", body)
    out = _posed(body, motion, range(0, 30, 2))  # one cycle (1.2 s)

    def fwd(name):  # how far forward (-Y) a joint is
        return -_joint(body, out, name)[:, 1]

    left_foot, right_foot = fwd("foot.L"), fwd("foot.R")
    assert (left_foot - right_foot).amax() > 0.2 and (right_foot - left_foot).amax() > 0.2  # each leads in turn
    assert np.corrcoef(left_foot, right_foot)[0, 1] < -0.8
    assert np.corrcoef(fwd("wrist.L"), right_foot)[0, 1] > 0.8  # the left arm swings with the right leg
    assert np.corrcoef(fwd("wrist.R"), left_foot)[0, 1] > 0.8
    assert motion.transl[:, :2].abs().amax() < 0.05  # in place


def test_walk_forward_moves_towards_minus_y(body):
    motion = builtin_motion("walk", body, in_place=False)
    walked = float(motion.transl[0, 1] - motion.transl[-1, 1])
    assert 0.7 < walked / motion.duration < 1.8  # metres per second of a walk
    stance = _joint(body, _posed(body, motion, range(4, 13)), "foot.L")  # left single support, phase 0.15-0.45
    assert (stance - stance[0]).norm(dim=-1).amax() < 0.06  # the foot on the floor stays (nearly) put


def test_wave_raises_the_right_arm(body):
    out = _posed(body, builtin_motion("wave", body))
    head = _joint(body, out, "head")
    right, left = _joint(body, out, "wrist.R"), _joint(body, out, "wrist.L")
    assert (right[:, 2] > head[:, 2]).all() and (right[:, 0] < -0.2).all()  # up, on the subject's right (-X)
    assert (left[:, 2] < _joint(body, out, "spine01")[:, 2]).all()
    assert right[:, 0].amax() - right[:, 0].amin() > 0.1  # the hand waves side to side


def test_squat_bends_knees_and_hips_with_feet_planted(body):
    motion = builtin_motion("squat", body)
    out = _posed(body, motion, [0, motion.num_frames // 2])
    thigh = _direction(body, out, "upperleg01.L", "lowerleg01.L")
    shin = _direction(body, out, "lowerleg01.L", "foot.L")
    knee_bend = torch.rad2deg(torch.acos((thigh * shin).sum(-1)))
    assert knee_bend[0] < 15 and knee_bend[1] > 80
    assert thigh[1, 2] > -0.6  # the hip flexes: the thigh comes up towards horizontal
    assert _joint(body, out, "root")[0, 2] - _joint(body, out, "root")[1, 2] > 0.25
    for foot in ("foot.L", "foot.R"):
        assert (_joint(body, out, foot)[1] - _joint(body, out, foot)[0]).norm() < 0.02


def test_dance_sways_with_feet_planted(body):
    motion = builtin_motion("dance", body)
    out = _posed(body, motion, range(0, motion.num_frames, 5))
    hips = _joint(body, out, "root")
    assert hips[:, 0].amax() - hips[:, 0].amin() > 0.12
    for foot in ("foot.L", "foot.R"):
        assert (_joint(body, out, foot) - _joint(body, out, foot)[0]).norm(dim=-1).amax() < 0.02


# ---------------------------------------------------------------------------------------------
# load_motion and resampling
# ---------------------------------------------------------------------------------------------


def test_load_motion_builtin_and_fps(body):
    motion = load_motion("builtin:wave", body, fps=10)
    assert motion.name == "wave" and motion.fps == 10 and motion.num_frames == 24


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("builtin:moonwalk", "choose one of turntable, walk"),
        ("motion.fbx", "give builtin:NAME"),
        ("missing.npz", "does not exist"),
        ("missing.bvh", "does not exist"),
    ],
)
def test_load_motion_errors_say_what_to_do(body, spec, message):
    with pytest.raises(ValueError, match=message):
        load_motion(spec, body)


def test_bad_files_are_refused_clearly(body, tmp_path):
    np.savez(tmp_path / "shape.npz", betas=np.zeros(16))
    np.savez(tmp_path / "width.npz", poses=np.zeros((2, 50)), trans=np.zeros((2, 3)), mocap_framerate=30.0)
    np.savez(tmp_path / "pickle.npz", poses=np.array([None, 1], dtype=object), trans=np.zeros((2, 3)), mocap_framerate=30.0)
    (tmp_path / "junk.npz").write_text("not a zip")
    (tmp_path / "junk.bvh").write_text("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0\n")
    (tmp_path / "names.bvh").write_text(_bvh_text(rename={"LeftUpLeg": "thigh_l"}).replace("Left", "Lf").replace("Right", "Rt"))
    cases = {
        "shape.npz": "holds no motion",
        "width.npz": "expected 66 .body., 72",
        "pickle.npz": "pickles",
        "junk.npz": "Cannot read",
        "junk.bvh": "MOTION",
        "names.bvh": "match neither the CMU nor the Mixamo",
    }
    for file, message in cases.items():
        with pytest.raises(ValueError, match=message):
            load_motion(str(tmp_path / file), body)
    with pytest.raises(ValueError, match="Anny default rig"):
        builtin_motion("walk", types.SimpleNamespace(name="smplx"))


def test_resample_slerps_rotations_and_lerps_translation():
    angle = torch.tensor([0.0, 0.4, 0.8, 1.2])
    pose = torch.zeros(4, 2, 3)
    pose[:, 1, 2] = angle
    motion = Motion(pose, torch.zeros(4, 3), torch.stack([angle, 0 * angle, 0 * angle], -1), fps=10.0)
    fine = resample_motion(motion, 20.0)
    assert fine.num_frames == 8 and fine.fps == 20.0
    assert torch.allclose(fine.pose[:7, 1, 2], torch.arange(7) * 0.2, atol=1e-5)
    assert torch.allclose(fine.transl[:7, 0], torch.arange(7) * 0.2, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# AMASS / SMPL-X
# ---------------------------------------------------------------------------------------------


def _amass_poses(width: int = 165) -> np.ndarray:
    """Frame 0: zero pose (a T-pose); 1: left elbow bent 90 deg forward; 2: root turned 90 deg about up."""
    poses = np.zeros((3, width))
    elbow = SMPLX_JOINTS.index("left_elbow")
    poses[1, 3 * elbow : 3 * elbow + 3] = [0.0, -math.pi / 2, 0.0]  # SMPL-X axes: forearm +X -> front (+Z)
    poses[2, 0:3] = [0.0, math.pi / 2, 0.0]  # about SMPL-X's up (+Y)
    return poses


def _amass_z_up(poses: np.ndarray, trans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same motion in AMASS's Z-up world: the root stands the body up, Rx(+90 deg)."""
    stand = roma.rotvec_to_rotmat(torch.tensor([math.pi / 2, 0.0, 0.0], dtype=torch.float64))
    out = poses.copy()
    root = roma.rotvec_to_rotmat(torch.from_numpy(poses[:, :3]))
    out[:, :3] = roma.rotmat_to_rotvec(stand @ root).numpy()
    return out, trans @ stand.numpy().T


def test_amass_zero_pose_elbow_and_root_turn(body, tmp_path):
    trans = np.array([[0.0, 0.9, 0.0], [0.0, 0.9, 0.0], [0.0, 0.9, 0.0]])
    np.savez(tmp_path / "seq.npz", poses=_amass_poses(), trans=trans, mocap_framerate=np.array(30.0), betas=np.zeros(16), gender=np.array("neutral"))
    motion = load_motion(str(tmp_path / "seq.npz"), body)
    assert motion.num_frames == 3 and motion.fps == 30.0 and motion.name == "seq"
    out = _posed(body, motion)
    # frame 0: SMPL-X's zero pose is a T-pose: Anny's arms straight out to the sides
    assert (_direction(body, out, "upperarm01.L", "lowerarm01.L")[0] @ X) > 0.99
    assert (_direction(body, out, "lowerarm01.L", "wrist.L")[0] @ X) > 0.99
    assert (_direction(body, out, "lowerarm01.R", "wrist.R")[0] @ -X) > 0.99
    assert (_direction(body, out, "upperleg01.L", "foot.L")[0] @ -Z) > 0.98
    # frame 1: the left forearm points forward (-Y), the wrist moved there by one forearm length
    elbow, wrist = _joint(body, out, "lowerarm01.L"), _joint(body, out, "wrist.L")
    forearm = (wrist[0] - elbow[0]).norm()
    assert torch.allclose(wrist[1], elbow[1] - forearm * Y, atol=0.02)
    assert torch.allclose(_joint(body, out, "wrist.R")[1], _joint(body, out, "wrist.R")[0], atol=1e-4)
    # frame 2: turned 90 deg left about up: the subject faces +X, so its left (+X at rest) is +Y
    left = _direction(body, out, "upperleg01.R", "upperleg01.L")
    assert (left[0] @ X) > 0.99 and (left[2] @ Y) > 0.99
    assert (_direction(body, out, "neck01", "head")[2] @ Z) > 0.9
    # grounded, centred
    assert abs(float(out.vertices[0, :, 2].min()) - _floor(body)) < 0.01
    assert _joint(body, out, "root")[0, :2].abs().amax() < 1e-4


def test_amass_layouts_and_worlds_agree(body, tmp_path):
    poses, trans = _amass_poses(), np.full((3, 3), 0.9)
    np.savez(tmp_path / "y.npz", poses=poses, trans=trans, mocap_framerate=30.0)
    z_poses, z_trans = _amass_z_up(poses, trans)
    np.savez(tmp_path / "z.npz", poses=z_poses, trans=z_trans, mocap_frame_rate=30.0)
    smplh = np.concatenate([poses[:, :66], poses[:, 75:]], axis=1)  # SMPL+H: no jaw, no eyes
    np.savez(tmp_path / "h.npz", poses=smplh, trans=trans, mocap_framerate=30.0)
    np.savez(tmp_path / "split.npz", root_orient=poses[:, :3], pose_body=poses[:, 3:66], pose_hand=poses[:, 75:], trans=trans, mocap_frame_rate=30.0)
    ref = _posed(body, load_motion(str(tmp_path / "y.npz"), body))
    for file in ("z.npz", "h.npz", "split.npz"):
        out = _posed(body, load_motion(str(tmp_path / file), body))
        assert torch.allclose(out.joints, ref.joints, atol=2e-3), file


def test_amass_follows_trans_and_resamples(body, tmp_path):
    frames = 12
    poses = np.zeros((frames, 156))
    trans = np.zeros((frames, 3))
    trans[:, 2] = np.linspace(0.0, 1.1, frames)  # walking towards SMPL-X's front (+Z)
    np.savez(tmp_path / "fwd.npz", poses=poses, trans=trans, mocap_framerate=60.0)
    motion = load_motion(str(tmp_path / "fwd.npz"), body)
    root = _joint(body, _posed(body, motion), "root")
    assert torch.allclose(root[-1] - root[0], torch.tensor([0.0, -1.1, 0.0]), atol=1e-4)  # Anny's front: -Y
    slow = load_motion(str(tmp_path / "fwd.npz"), body, fps=30.0)
    assert slow.num_frames == 6 and slow.fps == 30.0
    assert torch.allclose(slow.transl, motion.transl[::2], atol=1e-5)


# ---------------------------------------------------------------------------------------------
# BVH
# ---------------------------------------------------------------------------------------------

_ROT = "Zrotation Yrotation Xrotation"


def _bvh_joint(name: str, offset, children: list[str], channels: str = _ROT, kind: str = "JOINT") -> str:
    inner = "\n".join(children) if children else "End Site\n{\n  OFFSET 0 0 0\n}"
    return f"{kind} {name}\n{{\n  OFFSET {offset[0]} {offset[1]} {offset[2]}\n  CHANNELS {len(channels.split())} {channels}\n{inner}\n}}"


def _bvh_side(side: str, x: int) -> list[str]:
    leg = _bvh_joint(f"{side}UpLeg", (9 * x, -5, 0), [_bvh_joint(f"{side}Leg", (0, -42, 0), [_bvh_joint(f"{side}Foot", (0, -40, 0), [_bvh_joint(f"{side}ToeBase", (0, -5, 12), [])])])])
    arm = _bvh_joint(f"{side}Shoulder", (3 * x, 12, 0), [_bvh_joint(f"{side}Arm", (14 * x, 0, 0), [_bvh_joint(f"{side}ForeArm", (28 * x, 0, 0), [_bvh_joint(f"{side}Hand", (25 * x, 0, 0), [])])])])
    return [leg, arm]


def _bvh_text(frames: list[dict[str, list[float]]] | None = None, rename: dict[str, str] | None = None) -> str:
    """A CMU-style skeleton in centimetres, Y up, facing +Z, T-pose; hips 92 cm above the toes."""
    (lleg, larm), (rleg, rarm) = _bvh_side("Left", 1), _bvh_side("Right", -1)
    neck = _bvh_joint("Neck", (0, 16, 0), [_bvh_joint("Head", (0, 8, 0), [])])
    spine = _bvh_joint("LowerBack", (0, 10, 0), [_bvh_joint("Spine", (0, 12, 0), [_bvh_joint("Spine1", (0, 14, 0), [neck, larm, rarm])])])
    root = _bvh_joint("Hips", (0, 0, 0), [lleg, rleg, spine], "Xposition Yposition Zposition " + _ROT, "ROOT")
    names = re.findall(r"(?:ROOT|JOINT) (\w+)", root)
    frames = frames or [{}]
    rows = [" ".join(str(v) for n in names for v in (f.get("position", [0, 92, 0]) if n == "Hips" else []) + f.get(n, [0, 0, 0])) for f in frames]
    text = f"HIERARCHY\n{root}\nMOTION\nFrames: {len(frames)}\nFrame Time: 0.04\n" + "\n".join(rows) + "\n"
    rename = rename or {}
    return re.sub(r"(ROOT|JOINT) (\w+)", lambda m: f"{m.group(1)} {rename.get(m.group(2), m.group(2))}", text)


def test_bvh_parser_reads_hierarchy_channels_and_frames():
    bvh = parse_bvh(_bvh_text([{}, {"LeftLeg": [0, 0, 90]}]))
    assert bvh.names[0] == "Hips" and "LeftToeBase_end" in bvh.names and bvh.num_frames == 2
    assert bvh.channels[0] == ["Xposition", "Yposition", "Zposition", "Zrotation", "Yrotation", "Xrotation"]
    assert bvh.values.shape == (2, 6 + 3 * (len([n for n in bvh.names if not n.endswith("_end")]) - 1))
    assert abs(bvh.frame_time - 0.04) < 1e-12
    toe = bvh.rest_positions()[bvh.names.index("LeftToeBase_end")]
    assert torch.allclose(toe, torch.tensor([9.0, -92.0, 12.0], dtype=torch.float64))


def test_bvh_retargets_rotations_order_and_units(body, tmp_path):
    z, y, x = 30.0, 45.0, 10.0
    frames = [{}, {"LeftForeArm": [0, -90, 0], "LeftLeg": [0, 0, 90]}, {"position": [10, 92, 20], "Hips": [z, y, x]}]
    (tmp_path / "cmu.bvh").write_text(_bvh_text(frames))
    motion = load_motion(str(tmp_path / "cmu.bvh"), body)
    assert motion.fps == 25.0 and motion.num_frames == 3 and motion.name == "cmu"
    out = _posed(body, motion)
    # frame 0: the file's T-pose is Anny's T-pose, legs straight down
    assert (_direction(body, out, "lowerarm01.L", "wrist.L")[0] @ X) > 0.99
    assert (_direction(body, out, "upperarm01.R", "lowerarm01.R")[0] @ -X) > 0.99
    assert (_direction(body, out, "lowerleg01.L", "foot.L")[0] @ -Z) > 0.99
    # frame 1: elbow bent forward (Anny's -Y), knee bent backward (+Y)
    assert (_direction(body, out, "lowerarm01.L", "wrist.L")[1] @ -Y) > 0.99
    assert (_direction(body, out, "lowerleg01.L", "foot.L")[1] @ Y) > 0.99
    # frame 2: Zrotation Yrotation Xrotation is Rz @ Ry @ Rx, carried from Y-up into Anny's Z-up axes
    rad = torch.deg2rad(torch.tensor([z, y, x], dtype=torch.float64))
    file_rot = roma.rotvec_to_rotmat(rad[0] * Z.double()) @ roma.rotvec_to_rotmat(rad[1] * Y.double()) @ roma.rotvec_to_rotmat(rad[2] * X.double())
    y_up_to_z_up = roma.rotvec_to_rotmat(torch.tensor([math.pi / 2, 0.0, 0.0], dtype=torch.float64))
    expected = y_up_to_z_up @ file_rot @ y_up_to_z_up.T
    assert torch.allclose(roma.rotvec_to_rotmat(motion.global_orient[2].double()), expected, atol=1e-5)
    # units: the hips are 92 cm up in the file; by default the path is scaled to Anny's hip height
    hip_height = float(body.skeleton.rest_joints[0, 2]) - _floor(body)
    root = _joint(body, out, "root")
    moved = torch.tensor([0.10, -0.20, 0.0]) * (hip_height / 0.92)  # file +X -> Anny +X, file +Z (front) -> -Y
    assert torch.allclose(root[2] - root[0], moved, atol=1e-4)
    metres = load_bvh(tmp_path / "cmu.bvh", body, scale=0.01)  # the same file read as centimetres
    root = _joint(body, _posed(body, metres), "root")
    assert torch.allclose(root[2] - root[0], torch.tensor([0.10, -0.20, 0.0]), atol=1e-4)


def test_bvh_mixamo_names_with_prefix(body, tmp_path):
    text = _bvh_text([{}, {"LeftForeArm": [0, -90, 0]}], rename={"LowerBack": "Spine", "Spine": "Spine1", "Spine1": "Spine2"})
    text = re.sub(r"(ROOT|JOINT) (\w+)", r"\1 mixamorig:\2", text)
    (tmp_path / "mixamo.bvh").write_text(text)
    out = _posed(body, load_motion(str(tmp_path / "mixamo.bvh"), body))
    assert (_direction(body, out, "lowerarm01.L", "wrist.L")[1] @ -Y) > 0.99
