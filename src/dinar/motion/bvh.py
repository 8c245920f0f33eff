"""BVH motion capture files retargeted onto Anny: a small parser and two joint maps.

BVH (Biovision hierarchy) is text: ``HIERARCHY`` nests ``ROOT`` / ``JOINT`` / ``End Site`` blocks, each
with an ``OFFSET`` from its parent (the rest pose) and ``CHANNELS`` (positions and rotations, in
degrees, in any order); ``MOTION`` gives ``Frames:``, ``Frame Time:`` and one line of channel values
per frame. A joint's rotation is the product of its rotation channels in the order they are listed
(``Zrotation Yrotation Xrotation`` is ``Rz @ Ry @ Rx``), relative to its parent, with the rest frames
aligned with the file's axes. The root's position channels place it in the world; other joints'
position channels are ignored (their offsets hold).

Axes and units. The subject's left and up are read from the rest pose (the left and right hips, the
hips and the head), snapped to the file's axes, and turned onto Anny's (+X left, +Z up); CMU's and
Mixamo's files are Y up, facing +Z. Positions are scaled by ``scale``; by default it is the ratio of
Anny's hip height to the file's (the hips above the lowest rest joint), which converts centimetres
or inches and fits the root's path to Anny's legs at once.

Joint maps (BVH joint -> Anny default-rig bones; a chain shares the joint's rotation, siblings copy
it; names are matched after dropping a ``prefix:``), chosen by the better overlap with the file:

- :data:`CMU_TO_ANNY`, the CMU mocap skeleton as released in BVH by cgspeed (and followed by Anny's
  ``cmu_mb`` rig): legs, toes, ``LowerBack``/``Spine``/``Spine1``, ``Neck``/``Neck1``/``Head``,
  shoulders, arms, hands and thumbs (``LHipJoint``, ``LeftFingerBase`` and ``LeftHandIndex1`` drive
  no bone: Anny's fingers follow the hand);
- :data:`MIXAMO_TO_ANNY`, Mixamo's skeleton (Anny's ``mixamo`` rig): as above with
  ``Spine``/``Spine1``/``Spine2`` and every finger joint.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from dinar.body.base import BodyModel
from dinar.motion.core import Motion
from dinar.motion.retarget import SEGMENT_ENDS, SourceMotion, axes_to_anny, retarget
from dinar.motion.rig import anny_rig

_TOES = tuple(f"toe{i}-1" for i in range(1, 6))


def _limbs(left: str, s: str) -> dict[str, tuple[str, ...]]:
    return {
        f"{left}UpLeg": (f"upperleg01.{s}",),
        f"{left}Leg": (f"lowerleg01.{s}",),
        f"{left}Foot": (f"foot.{s}",),
        f"{left}ToeBase": tuple(f"{t}.{s}" for t in _TOES),
        f"{left}Shoulder": (f"clavicle.{s}",),
        f"{left}Arm": (f"upperarm01.{s}",),
        f"{left}ForeArm": (f"lowerarm01.{s}",),
        f"{left}Hand": (f"wrist.{s}",),
    }


CMU_TO_ANNY: dict[str, tuple[str, ...]] = {
    "LowerBack": ("spine04", "spine03"),
    "Spine": ("spine02",),
    "Spine1": ("spine01",),
    "Neck": ("neck01", "neck02"),
    "Neck1": ("neck03",),
    "Head": ("head",),
    "LThumb": ("finger1-1.L",),
    "RThumb": ("finger1-1.R",),
    **_limbs("Left", "L"),
    **_limbs("Right", "R"),
}
"""CMU (cgspeed BVH) joint -> Anny bones."""

MIXAMO_TO_ANNY: dict[str, tuple[str, ...]] = {
    "Spine": ("spine04", "spine03"),
    "Spine1": ("spine02",),
    "Spine2": ("spine01",),
    "Neck": ("neck01", "neck02"),
    "Head": ("neck03", "head"),
    **_limbs("Left", "L"),
    **_limbs("Right", "R"),
    **{
        f"{side}Hand{finger}{k}": (f"finger{n}-{k}.{s}",)
        for side, s in (("Left", "L"), ("Right", "R"))
        for finger, n in (("Thumb", 1), ("Index", 2), ("Middle", 3), ("Ring", 4), ("Pinky", 5))
        for k in (1, 2, 3)
    },
}
"""Mixamo joint -> Anny bones."""

JOINT_MAPS: dict[str, dict[str, tuple[str, ...]]] = {"cmu": CMU_TO_ANNY, "mixamo": MIXAMO_TO_ANNY}


@dataclass
class BVH:
    """A parsed BVH file: the skeleton (joints and end sites) and the channel values per frame."""

    names: list[str]  # J joint names ("<parent>_end" for end sites)
    parents: list[int]  # [J] parent index, -1 for the root
    offsets: Tensor  # [J, 3] offset from the parent, file units
    channels: list[list[str]]  # per joint, e.g. ["Xposition", ..., "Zrotation", "Yrotation", "Xrotation"]
    values: Tensor  # [T, C] channel values, joints in file order
    frame_time: float  # seconds

    @property
    def num_frames(self) -> int:
        return int(self.values.shape[0])

    def rest_positions(self) -> Tensor:
        """``[J, 3]`` joint positions of the rest pose (root at the origin), file units."""
        pos = self.offsets.clone()
        pos[0] = 0.0
        for j, p in enumerate(self.parents):
            if p >= 0:
                pos[j] = pos[p] + self.offsets[j]
        return pos

    def local_rotations(self) -> tuple[Tensor, Tensor]:
        """Joint rotations ``[T, J, 3, 3]`` (end sites: identity) and root positions ``[T, 3]``, file units."""
        frames = self.num_frames
        rot = torch.eye(3, dtype=torch.float64).repeat(frames, len(self.names), 1, 1)
        root = self.offsets[0].expand(frames, 3).clone()
        col = 0
        for j, chans in enumerate(self.channels):
            for name in chans:
                v = self.values[:, col]
                col += 1
                axis = "XYZ".index(name[0].upper())
                if name.lower().endswith("rotation"):
                    rot[:, j] = rot[:, j] @ _axis_rotation(axis, v * (math.pi / 180))
                elif j == 0:
                    root[:, axis] = v
        return rot, root


def _axis_rotation(axis: int, angle: Tensor) -> Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    out = torch.zeros(angle.shape[0], 3, 3, dtype=torch.float64)
    i, k = (axis + 1) % 3, (axis + 2) % 3
    out[:, axis, axis] = 1.0
    out[:, i, i], out[:, i, k], out[:, k, i], out[:, k, k] = c, -s, s, c
    return out


def parse_bvh(text: str) -> BVH:
    """Parse BVH text; raises ``ValueError`` saying where the file breaks the format."""
    split = re.search(r"^\s*MOTION\s*$", text, flags=re.MULTILINE)
    if "HIERARCHY" not in text or split is None:
        raise ValueError("not a BVH file: it needs a HIERARCHY section and a MOTION section")
    head, motion = text[: split.start()], text[split.end() :]
    tokens = head.split()
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    stack: list[int] = []
    i = tokens.index("HIERARCHY") + 1
    try:
        while i < len(tokens):
            tok = tokens[i]
            if tok in ("ROOT", "JOINT") or tok == "End":
                if tok == "End":
                    name = f"{names[stack[-1]]}_end"
                    i += 2  # "End Site"
                else:
                    name = tokens[i + 1]
                    i += 2
                if tokens[i] != "{":
                    raise ValueError(f"expected '{{' after {tok} {name}, got {tokens[i]!r}")
                parents.append(stack[-1] if stack else -1)
                names.append(name)
                offsets.append([0.0, 0.0, 0.0])
                channels.append([])
                stack.append(len(names) - 1)
                i += 1
            elif tok == "OFFSET":
                offsets[stack[-1]] = [float(x) for x in tokens[i + 1 : i + 4]]
                i += 4
            elif tok == "CHANNELS":
                n = int(tokens[i + 1])
                chans = tokens[i + 2 : i + 2 + n]
                bad = [c for c in chans if not re.fullmatch(r"[XYZxyz](position|rotation)", c)]
                if bad:
                    raise ValueError(f"unknown channel(s) {bad} in joint {names[stack[-1]]}")
                channels[stack[-1]] = chans
                i += 2 + n
            elif tok == "}":
                stack.pop()
                i += 1
            else:
                raise ValueError(f"unexpected token {tok!r} in HIERARCHY")
    except (IndexError, ValueError) as error:
        raise ValueError(f"malformed BVH HIERARCHY: {error}") from error
    if not names or stack:
        raise ValueError("malformed BVH HIERARCHY: no ROOT, or unbalanced braces")
    frames_match = re.search(r"Frames:\s*(\d+)", motion)
    time_match = re.search(r"Frame Time:\s*([-+0-9.eE]+)", motion)
    if not frames_match or not time_match:
        raise ValueError("malformed BVH MOTION: it needs 'Frames: N' and 'Frame Time: seconds'")
    count, frame_time = int(frames_match.group(1)), float(time_match.group(1))
    body = motion[time_match.end() :].split()
    width = sum(len(c) for c in channels)
    if count <= 0:
        raise ValueError("its MOTION section has 0 frames; a motion needs at least one")
    if not 0 < frame_time < 10:
        raise ValueError(f"its Frame Time is {frame_time} s; give the seconds between frames (e.g. 0.0333333 for 30 fps)")
    if len(body) < count * width:
        raise ValueError(f"malformed BVH MOTION: {count} frames of {width} channels need {count * width} values, found {len(body)}")
    try:
        values = torch.tensor([float(x) for x in body[: count * width]], dtype=torch.float64).view(count, width)
    except ValueError as error:
        raise ValueError(f"malformed BVH MOTION: {error}") from error
    if not (torch.isfinite(values).all() and all(math.isfinite(v) for o in offsets for v in o)):
        raise ValueError("it holds NaN or infinite numbers (in the MOTION values or the joint offsets)")
    return BVH(names, parents, torch.tensor(offsets, dtype=torch.float64), channels, values, frame_time)


def _short(name: str) -> str:
    return name.rsplit(":", 1)[-1]


def choose_joint_map(names: list[str]) -> tuple[str, dict[str, tuple[str, ...]]]:
    """The joint map (name, map) that covers most of the file's joints; ``ValueError`` if none fits."""
    short = {_short(n) for n in names}
    scores = {key: len(short & set(m)) for key, m in JOINT_MAPS.items()}
    best = max(scores, key=lambda k: scores[k])
    if scores[best] < 8:
        raise ValueError(
            f"BVH joints {sorted(short)[:12]}... match neither the CMU nor the Mixamo skeleton "
            f"(known names: {sorted(CMU_TO_ANNY)[:6]}...); rename the joints to one of them"
        )
    return best, JOINT_MAPS[best]


def _find(short: dict[str, int], *candidates: str) -> int:
    for name in candidates:
        if name in short:
            return short[name]
    raise ValueError(f"the BVH skeleton has none of the joints {candidates}, needed to find its axes and size")


def bvh_source(bvh: BVH, joint_map: dict[str, tuple[str, ...]], scale: float, name: str) -> tuple[SourceMotion, Tensor]:
    """A BVH as a :class:`SourceMotion` (positions scaled to metres) and its axes-to-Anny rotation."""
    short = {_short(n): i for i, n in enumerate(bvh.names)}
    rest = bvh.rest_positions()
    left = rest[_find(short, "LeftUpLeg", "LHipJoint")] - rest[_find(short, "RightUpLeg", "RHipJoint")]
    up = rest[_find(short, "Head", "Neck")] - rest[0]
    to_anny = axes_to_anny(_snap(left), _snap(up))
    # the rest direction of each corrected segment, from the joints that drive its two ends
    drives = {bones[0]: short[j] for j, bones in joint_map.items() if j in short}
    rest_dirs = {b: rest[drives[e]] - rest[drives[b]] for b, e in SEGMENT_ENDS.items() if b in drives and e in drives}
    rot, root = bvh.local_rotations()
    source = SourceMotion(
        names=[_short(n) for n in bvh.names],
        parents=bvh.parents,
        rotations=rot,
        root_position=root * scale,
        fps=1.0 / bvh.frame_time,
        name=name,
        rest_directions=rest_dirs,
    )
    return source, to_anny


def _snap(v: Tensor) -> Tensor:
    """The file axis (+-X, +-Y, +-Z) nearest to ``v``."""
    out = torch.zeros(3, dtype=torch.float64)
    k = int(v.abs().argmax())
    out[k] = 1.0 if v[k] > 0 else -1.0
    return out


def hip_height(bvh: BVH) -> float:
    """The root's height above the lowest rest joint, along the rest pose's up axis, file units."""
    short = {_short(n): i for i, n in enumerate(bvh.names)}
    rest = bvh.rest_positions()
    up = _snap(rest[_find(short, "Head", "Neck")] - rest[0])
    return float(-(rest @ up).min())


def load_bvh(path: str | Path, body: BodyModel, scale: float | None = None, ground: bool = True, center: bool = True) -> Motion:
    """Retarget a ``.bvh`` motion onto Anny (see the module docstring).

    ``scale``: metres per file unit for the root's path; ``None`` fits the file's hip height to Anny's.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        bvh = parse_bvh(text)
    except ValueError as error:
        raise ValueError(f"{str(path)!r}: {error}") from error
    _, joint_map = choose_joint_map(bvh.names)
    if scale is None:
        rig = anny_rig(body)
        height = hip_height(bvh)
        if height <= 0:
            raise ValueError(f"{str(path)!r}: cannot measure the hip height of its rest pose; pass scale=")
        scale = (float(rig.rest[0, 2]) - rig.floor) / height
    source, to_anny = bvh_source(bvh, joint_map, scale, name=path.stem)
    return retarget(source, body, joint_map, to_anny, ground=ground, center=center)
