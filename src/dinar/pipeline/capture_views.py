"""Several calibrated views of one time instant of a capture -> the inputs of a multi-shot avatar (paper eq. 5).

``dinar data capture`` (:mod:`dinar.data.capture`) writes every view of an instant with the SAME body fit
and that view's own exact camera, so the views need no fitting of their own and agree in 3D: exactly
what :meth:`AvatarPipeline.__call__ <dinar.pipeline.AvatarPipeline.__call__>` merges when given several
``(image, mask, fit)``. :func:`capture_views` reads them from a person folder of the dataset layout,
picking the views by camera name (or view index) and the instant by frame index (``pose_id``), and checks
that they do share one body.

::

    views = capture_views("DATA/pose2sim_static_trial", ["cam_03", "cam_01"], frame=5)
    avatar = pipe(*pipeline_inputs(views), PipelineOptions(seed=0))

The same works on the command line: ``dinar avatar DATA/<p>/rgb/f0005_cam_03.png DATA/<p>/rgb/f0005_cam_01.png
--fit DATA/<p>/params/f0005_cam_03.json DATA/<p>/params/f0005_cam_01.json`` (the masks are found in segm/).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dinar.data.layout import (
    PARAMS_DIR,
    RGB_DIR,
    SEGM_DIR,
    DatasetError,
    FitParams,
    ImageRecord,
    list_stems,
    read_mask,
    read_params,
    read_rgb,
)

SHARED_FIT_TOLERANCE = 1e-5
"""Body parameters of views of one instant may differ by rounding only (they are written from one fit)."""


@dataclass
class CaptureView:
    """One view of a capture instant, as the avatar pipeline takes it."""

    stem: str
    camera: str  # the calibrated camera's name ("" when the file does not say)
    image: np.ndarray  # [S, S, 3] uint8, the undistorted person crop
    mask: np.ndarray  # [S, S] uint8 person mask
    fit: FitParams  # the instant's shared body fit with this view's crop camera


def _camera_name(record: ImageRecord) -> str:
    source = record.extra.get("source") or {}
    return str(source.get("camera", "")) if isinstance(source, dict) else ""


def capture_views(person_dir: str | Path, views: Sequence[str | int], frame: int | None = None) -> list[CaptureView]:
    """The ``views`` (camera names, or view indices) of one instant (``frame``; default: the person's only or first
    instant) of a person folder written by ``dinar data capture``, in the order asked; the first is the main input.

    Raises :class:`~dinar.data.layout.DatasetError` naming the folder when a view is missing or when the views
    do not share one body fit.
    """
    person_dir = Path(person_dir)
    if not views:
        raise ValueError("give at least one view (camera name or view index)")
    records = {s: read_params(person_dir / PARAMS_DIR / f"{s}.json") for s in list_stems(person_dir)}
    frames = sorted({r.pose_id for r in records.values()})
    if frame is None:
        frame = frames[0]
    at_frame = {s: r for s, r in records.items() if r.pose_id == frame}
    if not at_frame:
        raise DatasetError(f"{person_dir}: no images of frame {frame} (it has frames {frames})")
    chosen = []
    for want in views:
        match = [s for s, r in at_frame.items() if (r.view == want if isinstance(want, int) else _camera_name(r) == want)]
        if not match and isinstance(want, str) and want.isdigit():
            match = [s for s, r in at_frame.items() if r.view == int(want)]
        if len(match) != 1:
            have = ", ".join(f"{_camera_name(r) or '?'} (view {r.view})" for r in at_frame.values())
            raise DatasetError(f"{person_dir}: frame {frame} has {'no' if not match else 'several'} view {want!r} (it has {have})")
        chosen.append(match[0])
    out = [CaptureView(s, _camera_name(at_frame[s]), read_rgb(person_dir / RGB_DIR / f"{s}.png"),
                       read_mask(person_dir / SEGM_DIR / f"{s}.png"), at_frame[s].fit) for s in chosen]
    check_shared_fit(out, person_dir)
    return out


def capture_files(person_dir: str | Path, views: Sequence[str | int], frame: int | None = None) -> tuple[list[Path], list[Path]]:
    """``(rgb paths, params paths)`` of :func:`capture_views`' views: what ``dinar avatar PHOTO... --fit FIT...`` takes."""
    person_dir = Path(person_dir)
    stems = [v.stem for v in capture_views(person_dir, views, frame)]
    return [person_dir / RGB_DIR / f"{s}.png" for s in stems], [person_dir / PARAMS_DIR / f"{s}.json" for s in stems]


def check_shared_fit(views: Sequence[CaptureView], where: str | Path = "<views>") -> None:
    """Refuse views whose body parameters differ: they are not one body at one instant."""
    first = views[0].fit
    for v in views[1:]:
        for name in ("pose", "shape", "global_orient", "transl"):
            a, b = getattr(first, name), getattr(v.fit, name)
            if a.shape != b.shape or not torch.allclose(a, b, atol=SHARED_FIT_TOLERANCE, rtol=0):
                raise DatasetError(f"{where}: {views[0].stem} and {v.stem} have different body fits ({name}); several views "
                                   "of one capture instant share one fit (dinar data capture writes them so)")


def pipeline_inputs(views: Sequence[CaptureView]) -> tuple[list[np.ndarray], list[np.ndarray], list[FitParams]]:
    """``(images, masks, fits)`` for :class:`~dinar.pipeline.AvatarPipeline`'s call."""
    return [v.image for v in views], [v.mask for v in views], [v.fit for v in views]


__all__ = ["CaptureView", "capture_files", "capture_views", "check_shared_fit", "pipeline_inputs"]
