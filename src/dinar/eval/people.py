"""The people of a benchmark run: the input image and every target view of a held-out person, at the
evaluation resolution, with each view's kind (same, back, side, other pose) relative to the input."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dinar.data.layout import (
    PARAMS_DIR,
    RGB_DIR,
    SEGM_DIR,
    DatasetError,
    FitParams,
    list_stems,
    read_mask,
    read_params,
    read_rgb,
)
from dinar.eval.settings import BACK_MIN_OFFSET_DEG, EvalError, ViewKind
from dinar.nn.renderer import composite
from dinar.pipeline.photos import (
    camera_for_image,
    image_tensor,
    mask_tensor,
    square_and_resize,
)


# ---------------------------------------------------------------------------------------------------
# People: the input image and every target view, at the evaluation resolution
# ---------------------------------------------------------------------------------------------------
@dataclass
class TargetView:
    """One ground-truth image of a person, at the evaluation resolution N."""

    stem: str
    kind: ViewKind
    pose_id: int
    view: int
    azimuth_offset: float
    """Degrees from the input view around the body's up axis, in (-180, 180]."""
    rgb: Tensor  # [3, N, N] in [0, 1], padded with white
    mask: Tensor  # [1, N, N] in [0, 1]
    fit: FitParams  # the image's body fit, camera at N × N

    def over_white(self) -> Tensor:
        """[3, N, N] the person composited over white (what the metrics and the KID features see)."""
        return composite(self.rgb, self.mask, 1.0)


@dataclass
class PersonViews:
    """A held-out person: the input photo as stored (for the pipeline) and all targets at N × N."""

    person_id: str
    folder: Path
    input_stem: str
    input_image: np.ndarray  # [H, W, 3] uint8, as read
    input_mask: np.ndarray  # [H, W] uint8
    input_fit: FitParams
    targets: list[TargetView]
    input_sha256: str
    """SHA-256 of the input's rgb, segm and params files (part of the cache key)."""

    def of_kind(self, kind: ViewKind) -> list[TargetView]:
        return [t for t in self.targets if t.kind == kind]


def _rotvec_to_rotmat(v: Tensor) -> Tensor:
    import roma

    return roma.rotvec_to_rotmat(v.double())


def view_azimuth(fit: FitParams, up: Sequence[float], front: Sequence[float]) -> float:
    """Azimuth in degrees of the camera around the body, in the body's own frame: 0 = in front of the
    subject, +90 = at its right (along ``front × up``), ±180 = behind it. The camera's direction from the
    body, rotated back by the fit's ``global_orient`` and projected on the plane normal to ``up``."""
    up_v, front_v = torch.tensor(up, dtype=torch.float64), torch.tensor(front, dtype=torch.float64)
    side_v = torch.linalg.cross(front_v, up_v)
    forward = fit.camera.R[0].double().T @ torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)  # optical axis, world
    towards_camera = -(_rotvec_to_rotmat(fit.global_orient).T @ forward)
    return math.degrees(math.atan2(float(towards_camera @ side_v), float(towards_camera @ front_v)))


def _wrap_degrees(a: float) -> float:
    """``a`` in (-180, 180]."""
    a = (a + 180.0) % 360.0 - 180.0
    return 180.0 if a == -180.0 else a


def _file_digest(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


def _at_resolution(image: np.ndarray, mask: np.ndarray, fit: FitParams, size: int) -> tuple[Tensor, Tensor, FitParams]:
    """An image, its mask and fit → ``([3, N, N], [1, N, N], fit with the N × N camera)``, as the pipeline
    prepares its photos (pad to a centred white square, area filter when shrinking, K scaled)."""
    rgb, _ = image_tensor(image)
    _, h, w = rgb.shape
    person = mask_tensor(mask, h, w)
    camera = camera_for_image(fit.camera, w, h)
    rgb, person, camera = square_and_resize(rgb, person, camera, size)
    return rgb[0].clamp(0, 1), person[0].clamp(0, 1), dataclasses.replace(fit, camera=camera)


def load_person(
    folder: str | Path,
    size: int,
    input_pose: int = 0,
    input_view: int = 0,
    *,
    body_model: str | None = None,
    num_joints: int | None = None,
    up: Sequence[float] = (0.0, 0.0, 1.0),
    front: Sequence[float] = (0.0, -1.0, 0.0),
) -> PersonViews:
    """Read one person folder of the dataset layout: the input image (``input_pose``, ``input_view``) and
    every image as a :class:`TargetView` at ``size``² with its view kind (module docstring).

    ``body_model`` / ``num_joints``: what the checkpoint was trained on; parameters for another body
    model are refused, naming the file. ``up`` / ``front``: the body model's axes (azimuths).
    """
    folder = Path(folder)
    stems = list_stems(folder)
    records = {}
    for stem in stems:
        path = folder / PARAMS_DIR / f"{stem}.json"
        try:
            records[stem] = read_params(path, body_model=body_model, num_joints=num_joints)
        except DatasetError as err:
            if body_model is not None and "body model" in str(err):
                raise EvalError(f"{err} (the checkpoint was trained on {body_model!r}; evaluate it on data fitted "
                                f"with that body model)") from err
            raise
    inputs = [s for s, r in records.items() if (r.pose_id, r.view) == (input_pose, input_view)]
    if not inputs:
        have = ", ".join(f"pose {r.pose_id} view {r.view}" for r in list(records.values())[:8])
        raise EvalError(f"{folder}: no image of pose {input_pose} view {input_view} to make the avatar from "
                        f"(it has {have}{', ...' if len(records) > 8 else ''}); pick another with --input-pose / --input-view")
    if len(inputs) > 1:
        raise EvalError(f"{folder}: several images claim pose {input_pose} view {input_view}: {inputs}")
    input_stem = inputs[0]
    rec_in = records[input_stem]
    az_in = view_azimuth(rec_in.fit, up, front)
    offsets = {s: _wrap_degrees(view_azimuth(r.fit, up, front) - az_in) for s, r in records.items()}
    same_pose = [s for s, r in records.items() if r.pose_id == rec_in.pose_id and s != input_stem]
    back = max(same_pose, key=lambda s: (abs(offsets[s]), s), default=None)
    if back is not None and abs(offsets[back]) < BACK_MIN_OFFSET_DEG:
        back = None

    def kind_of(stem: str) -> ViewKind:
        if stem == input_stem:
            return "same"
        if stem == back:
            return "back"
        return "side" if records[stem].pose_id == rec_in.pose_id else "other_pose"

    targets = []
    for stem in stems:
        rgb, mask, fit = _at_resolution(read_rgb(folder / RGB_DIR / f"{stem}.png"), read_mask(folder / SEGM_DIR / f"{stem}.png"),
                                        records[stem].fit, size)
        r = records[stem]
        targets.append(TargetView(stem, kind_of(stem), r.pose_id, r.view, offsets[stem], rgb, mask, fit))
    files = [folder / RGB_DIR / f"{input_stem}.png", folder / SEGM_DIR / f"{input_stem}.png", folder / PARAMS_DIR / f"{input_stem}.json"]
    return PersonViews(
        person_id=folder.name, folder=folder, input_stem=input_stem,
        input_image=read_rgb(files[0]), input_mask=read_mask(files[1]), input_fit=rec_in.fit,
        targets=targets, input_sha256=_file_digest(files),
    )
