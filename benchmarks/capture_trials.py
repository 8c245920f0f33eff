"""The real captures ``benchmarks/real_capture.py`` can score: the committed ones by name, anyone's by a trial file.

A trial file (``dinar-trial/1``, JSON) says where a calibrated multi-camera recording is and how its person is
benchmarked, so a capture of more real people needs no change to the code. Paths are relative to the file::

    {
      "format": "dinar-trial/1",
      "name": "my_person",               optional: the file's folder name; not a committed capture's
      "calibration": "Calib.toml",       any calibration `dinar data capture` reads (Pose2Sim TOML, Qualisys, OpenCV)
      "videos": "videos",                a folder with a video or a frame folder per camera
      "frame": 4,                        the instant the avatar is made from
      "input": "cam03",                  a camera that sees the person's front
      "frames": 13,                      optional: frames 0 .. frames - 1 may be imported (where the person stands still)
      "others": [0, 8],                  optional: the instants ``--frames`` with no numbers compares too
      "boxes": {"cam01": [x0, y0, x1, y1]},  optional: the person's region in a camera's frames (pixels), where
                                         several people are filmed
      "about": "..."                     optional: who, wearing what; not read
    }

The committed captures are such files (``tests/data/<capture>/trial.json``), read the same way. Anything that does not
fit raises :class:`TrialError` (a ValueError) naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
FORMAT = "dinar-trial/1"
KEYS = {"format", "name", "calibration", "videos", "frame", "input", "frames", "others", "boxes", "about"}
COMMITTED = {"static_trial": DATA / "pose2sim_static_trial" / "trial.json", "two_people": DATA / "pose2sim_two_people" / "trial.json"}
"""The committed captures by name: the man of Pose2Sim's static trial, the woman of its two-person demo."""


class TrialError(ValueError):
    """A trial file that cannot be used as written; the message names the file and what to change."""


@dataclasses.dataclass(frozen=True)
class Trial:
    """A real capture (its calibration and per-camera videos) and how its person is benchmarked."""

    name: str
    calibration: Path
    videos: Path
    frame: int  # the default frame
    input: str  # the default input: a camera that sees the person's front
    frames: int | None = None  # the person can be imported at frame indices 0 .. frames - 1 (None: as many as the videos hold)
    others: tuple[int, ...] = ()  # the other frames ``--frames`` with no numbers compares
    boxes: tuple[tuple[str, tuple[float, float, float, float]], ...] = ()  # per camera, the person's region (frame pixels)

    def files(self) -> dict[str, Path]:
        """The files an import reads, by name: the calibration's, then each file under ``videos`` by its relative path."""
        found = {self.calibration.name: self.calibration}
        found.update({p.relative_to(self.videos).as_posix(): p for p in sorted(self.videos.rglob("*")) if p.is_file()})
        return found


def _integer(path: Path, key: str, value: Any, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise TrialError(f"{path}: \"{key}\" must be a whole number >= {low}, got {value!r}")
    return value


def _existing(path: Path, key: str, value: Any, folder: bool) -> Path:
    if not isinstance(value, str) or not value:
        raise TrialError(f"{path}: \"{key}\" must be a path relative to the trial file, got {value!r}")
    found = (path.parent / value).resolve()
    if not (found.is_dir() if folder else found.is_file()):
        raise TrialError(f"{path}: \"{key}\" {value} is not a {'folder' if folder else 'file'} beside it ({found})")
    return found


def _boxes(path: Path, value: Any) -> tuple[tuple[str, tuple[float, float, float, float]], ...]:
    if not isinstance(value, dict):
        raise TrialError(f"{path}: \"boxes\" must map a camera name to [x0, y0, x1, y1], got {value!r}")
    boxes = []
    for camera, box in value.items():
        numbers = isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)
        if not numbers or not (box[0] < box[2] and box[1] < box[3]):
            raise TrialError(f"{path}: box of {camera} must be [x0, y0, x1, y1] with x0 < x1 and y0 < y1 (frame pixels), got {box!r}")
        boxes.append((camera, tuple(float(v) for v in box)))
    return tuple(boxes)


def load_trial(path: Path) -> Trial:
    """The trial file at ``path`` (module docstring), checked."""
    try:
        spec = json.loads(path.read_text())
    except FileNotFoundError:
        raise TrialError(f"{path}: no such trial file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise TrialError(f"{path}: not a readable JSON trial file ({err})") from None
    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        raise TrialError(f"{path}: not a trial file: its \"format\" must be \"{FORMAT}\"")
    unknown = sorted(set(spec) - KEYS)
    if unknown:
        raise TrialError(f"{path}: unknown key(s) {', '.join(unknown)}; a trial file has {', '.join(sorted(KEYS))}")
    missing = [key for key in ("calibration", "videos", "frame", "input") if key not in spec]
    if missing:
        raise TrialError(f"{path}: missing {', '.join(missing)}")
    name = spec.get("name", path.resolve().parent.name)
    if not isinstance(name, str) or not name or not name.replace("_", "").replace("-", "").isalnum():
        raise TrialError(f"{path}: \"name\" must be letters, digits, _ and -, got {name!r}")
    if not isinstance(spec["input"], str) or not spec["input"]:
        raise TrialError(f"{path}: \"input\" must be a camera name, got {spec['input']!r}")
    frames = None if spec.get("frames") is None else _integer(path, "frames", spec["frames"], low=1)
    frame = _integer(path, "frame", spec["frame"])
    others = spec.get("others", [])
    if not isinstance(others, list):
        raise TrialError(f"{path}: \"others\" must be a list of frame indices, got {others!r}")
    others = tuple(_integer(path, "others", f) for f in others)
    if frames is not None and any(f >= frames for f in (frame, *others)):
        raise TrialError(f"{path}: \"frame\" and \"others\" must be below \"frames\" ({frames})")
    return Trial(name=name, calibration=_existing(path, "calibration", spec["calibration"], folder=False),
                 videos=_existing(path, "videos", spec["videos"], folder=True), frame=frame, input=spec["input"], frames=frames,
                 others=others, boxes=_boxes(path, spec.get("boxes", {})))


def find_trial(capture: str) -> Trial:
    """``--capture``'s value: a committed capture's name, or the path of a trial file (``.json``)."""
    if capture in COMMITTED:
        return load_trial(COMMITTED[capture])
    if capture.endswith(".json"):
        trial = load_trial(Path(capture))
        if trial.name in COMMITTED and Path(capture).resolve() != COMMITTED[trial.name].resolve():
            raise TrialError(f"{capture}: {trial.name} is a committed capture's name (its import and sheet would be "
                             "overwritten); give the trial another \"name\"")
        return trial
    raise TrialError(f"--capture {capture}: neither a committed capture ({', '.join(COMMITTED)}) nor a trial file (.json)")
