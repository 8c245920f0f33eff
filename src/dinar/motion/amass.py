"""AMASS / SMPL-X / SMPL+H motion files (``.npz``) retargeted onto Anny, without any SMPL model file.

What is read (``np.load(..., allow_pickle=False)``, only these keys):

- ``poses`` ``[T, 66 | 72 | 156 | 165]`` axis-angle: root, 21 body joints, then SMPL's two hand
  joints (72), SMPL+H's 2 x 15 finger joints (156) or SMPL-X's jaw, eyes and 2 x 15 finger joints
  (165); or the split keys of AMASS's SMPL-X release: ``root_orient``, ``pose_body``, ``pose_hand``,
  ``pose_eye``;
- ``trans`` ``[T, 3]`` metres, and ``mocap_framerate`` (or ``mocap_frame_rate``, ``fps``).

``betas`` and ``gender`` are not needed: the motion moves Anny's own body.

Frames. The SMPL family's joint frames are aligned with its canonical axes (Y up, the subject faces
+Z, +X is the subject's left) and its rest pose is a T-pose with flat hands. Rotations are carried
into Anny's axes (Z up, facing -Y) by the fixed rotation ``Rx(+90 deg)``; the arms are corrected for
the rest poses' difference (:data:`dinar.motion.core.SEGMENT_ENDS`), so an all-zero pose gives Anny
a T-pose with straight arms. AMASS's own world is Z up (its ``root_orient`` stands the body up); a
file written in SMPL-X's canonical world (Y up, e.g. a zero ``root_orient`` for a standing body) is
recognised from where the root turns the body's up axis (``up="auto"``) or chosen with ``up="y"``.
``trans`` moves Anny's root joint; the motion is then grounded (its lowest sole on Anny's rest floor)
and starts above the origin.

:data:`SMPLX_TO_ANNY` maps every SMPL-X body and finger joint except the jaw (Anny's default rig
has none): the 3-joint SMPL-X spine spreads over Anny's 5 spine bones, neck and head over its 3 neck
bones and head, the SMPL-X "foot" (ball of the foot) drives all five toes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import roma
import torch

from dinar.body.base import BodyModel
from dinar.motion.core import Motion
from dinar.motion.retarget import SourceMotion, retarget

SMPLX_JOINTS: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle", "right_ankle",
    "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)  # fmt: skip
_SMPLX_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
_FINGERS = ("index", "middle", "pinky", "ring", "thumb")  # SMPL-H / SMPL-X hand order
_ANNY_FINGER = {"thumb": 1, "index": 2, "middle": 3, "ring": 4, "pinky": 5}
_TOES = tuple(f"toe{i}-1" for i in range(1, 6))


def _side_map(side: str, s: str) -> dict[str, tuple[str, ...]]:
    out = {
        f"{side}_hip": (f"upperleg01.{s}",),
        f"{side}_knee": (f"lowerleg01.{s}",),
        f"{side}_ankle": (f"foot.{s}",),
        f"{side}_foot": tuple(f"{t}.{s}" for t in _TOES),
        f"{side}_collar": (f"clavicle.{s}",),
        f"{side}_shoulder": (f"upperarm01.{s}",),
        f"{side}_elbow": (f"lowerarm01.{s}",),
        f"{side}_wrist": (f"wrist.{s}",),
        f"{side}_eye": (f"eye.{s}",),
    }
    for finger in _FINGERS:
        for k in (1, 2, 3):
            out[f"{side}_{finger}{k}"] = (f"finger{_ANNY_FINGER[finger]}-{k}.{s}",)
    return out


SMPLX_TO_ANNY: dict[str, tuple[str, ...]] = {
    "spine1": ("spine04", "spine03"),
    "spine2": ("spine02",),
    "spine3": ("spine01",),
    "neck": ("neck01", "neck02"),
    "head": ("neck03", "head"),
    **_side_map("left", "L"),
    **_side_map("right", "R"),
}
"""SMPL-X joint -> the Anny default-rig bones it drives (a chain shares its rotation; siblings copy it)."""

# SMPL-X's rest (T-pose) directions of the segments Anny corrects, in SMPL-X axes: arms straight out.
_SMPLX_REST_DIRECTIONS = {
    "upperarm01.L": (1.0, 0.0, 0.0), "lowerarm01.L": (1.0, 0.0, 0.0),
    "upperarm01.R": (-1.0, 0.0, 0.0), "lowerarm01.R": (-1.0, 0.0, 0.0),
}  # fmt: skip

# SMPL-X canonical axes (left +X, up +Y) -> Anny's (left +X, up +Z): Rx(+90 deg).
SMPLX_TO_ANNY_AXES = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)


def _joint_names(width: int) -> list[str]:
    """Joint names of a ``poses`` array ``width`` wide."""
    hands = [f"{side}_{f}{k}" for side in ("left", "right") for f in _FINGERS for k in (1, 2, 3)]
    layouts = {
        66: list(SMPLX_JOINTS),
        72: list(SMPLX_JOINTS) + ["left_hand", "right_hand"],
        156: list(SMPLX_JOINTS) + hands,
        165: list(SMPLX_JOINTS) + ["jaw", "left_eye", "right_eye"] + hands,
    }
    if width not in layouts:
        raise ValueError(
            f"poses has {width} values per frame; expected 66 (body), 72 (SMPL), 156 (SMPL+H) or 165 (SMPL-X) axis-angle values"
        )
    return layouts[width]


def _parents(names: list[str]) -> list[int]:
    index = {n: i for i, n in enumerate(names)}
    parents = list(_SMPLX_PARENTS)
    for name in names[len(parents) :]:
        side = name.split("_")[0]
        if name in ("jaw", "left_eye", "right_eye"):
            parents.append(index["head"])
        elif name.endswith("_hand"):
            parents.append(index[f"{side}_wrist"])
        else:  # a finger joint: the previous one of its finger, or the wrist
            k = int(name[-1])
            parents.append(index[f"{side}_wrist"] if k == 1 else index[name[:-1] + str(k - 1)])
    return parents


def _read(path: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """``poses [T, D]``, ``trans [T, 3]`` and the frame rate from an AMASS-style ``.npz``."""
    import zipfile

    if not zipfile.is_zipfile(path):  # np.load would take any other file for a pickle
        raise ValueError(f"Cannot read {str(path)!r} as an .npz file: it is not a zip of numpy arrays; save the motion with numpy.savez")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as error:  # a damaged zip
        raise ValueError(f"Cannot read {str(path)!r} as an .npz file: {error}") from error
    with data:
        keys = set(data.files)
        try:
            if "poses" in keys:
                poses = np.asarray(data["poses"], dtype=np.float64)
            elif {"root_orient", "pose_body"} <= keys:
                parts = [data["root_orient"], data["pose_body"]]
                if "pose_hand" in keys:
                    t = parts[0].shape[0]
                    parts += [data["pose_jaw"] if "pose_jaw" in keys else np.zeros((t, 3)), data["pose_eye"] if "pose_eye" in keys else np.zeros((t, 6)), data["pose_hand"]]
                poses = np.concatenate([np.asarray(p, dtype=np.float64).reshape(len(p), -1) for p in parts], axis=1)
            else:
                raise ValueError(
                    f"{str(path)!r} holds no motion (keys: {sorted(keys)}); an AMASS / SMPL-X motion file has 'poses' "
                    "(or 'root_orient' + 'pose_body') and 'trans' (AMASS's shape.npz files hold only the body shape)"
                )
            if "trans" not in keys:
                raise ValueError(f"{str(path)!r} has no 'trans' (root translation per frame); keys: {sorted(keys)}")
            trans = np.asarray(data["trans"], dtype=np.float64)
            rate_key = next((k for k in ("mocap_framerate", "mocap_frame_rate", "fps") if k in keys), None)
            if rate_key is None:
                raise ValueError(f"{str(path)!r} has no frame rate ('mocap_framerate', 'mocap_frame_rate' or 'fps'); keys: {sorted(keys)}")
            fps = float(np.asarray(data[rate_key]).reshape(-1)[0])
        except ValueError as error:
            if "allow_pickle" in str(error):
                raise ValueError(f"{str(path)!r} stores Python objects (pickles), which are never loaded; save plain arrays") from error
            raise
    if poses.ndim != 2 or trans.shape != (poses.shape[0], 3) or poses.shape[0] == 0:
        raise ValueError(f"{str(path)!r}: poses must be [T, D] and trans [T, 3] with T > 0, got {poses.shape} and {trans.shape}")
    if not (np.isfinite(poses).all() and np.isfinite(trans).all() and fps > 0):
        raise ValueError(f"{str(path)!r} has non-finite poses / trans or a frame rate <= 0 ({fps})")
    return poses, trans, fps


def amass_source(poses: np.ndarray, trans: np.ndarray, fps: float, name: str = "amass") -> SourceMotion:
    """An SMPL-family motion (``poses [T, D]`` axis-angle, ``trans [T, 3]``) as a :class:`SourceMotion`."""
    names = _joint_names(poses.shape[1])
    rot = roma.rotvec_to_rotmat(torch.from_numpy(poses).reshape(poses.shape[0], -1, 3))
    return SourceMotion(
        names=names,
        parents=_parents(names),
        rotations=rot,
        root_position=torch.from_numpy(trans),
        fps=fps,
        name=name,
        rest_directions={b: torch.tensor(d, dtype=torch.float64) for b, d in _SMPLX_REST_DIRECTIONS.items()},
    )


def world_up(source: SourceMotion) -> str:
    """``"z"`` (AMASS's world) or ``"y"`` (SMPL-X's canonical world): where the root turns the body's up axis."""
    up = source.rotations[:, 0, :, 1].double().mean(0)  # the body's +Y in the world, on average
    return "z" if abs(float(up[2])) > abs(float(up[1])) else "y"


def load_amass(path: str | Path, body: BodyModel, up: str = "auto", ground: bool = True, center: bool = True) -> Motion:
    """Retarget an AMASS / SMPL-X / SMPL+H ``.npz`` motion onto Anny (see the module docstring).

    ``up``: the file's world up axis, ``"z"`` (AMASS), ``"y"`` (SMPL-X canonical) or ``"auto"``.
    """
    path = Path(path)
    poses, trans, fps = _read(path)
    source = amass_source(poses, trans, fps, name=path.stem)
    if up == "auto":
        up = world_up(source)
    if up not in ("y", "z"):
        raise ValueError(f"up must be 'y', 'z' or 'auto', got {up!r}")
    world = SMPLX_TO_ANNY_AXES if up == "y" else torch.eye(3, dtype=torch.float64)
    return retarget(source, body, SMPLX_TO_ANNY, SMPLX_TO_ANNY_AXES, world, ground=ground, center=center)
