"""``load_motion``: one entry for built-in motions, AMASS / SMPL-X ``.npz`` and ``.bvh`` files."""

from __future__ import annotations

from pathlib import Path

from dinar.body.base import BodyModel
from dinar.motion.builtin import BUILTIN_MOTIONS, builtin_motion
from dinar.motion.core import Motion, resample_motion


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
