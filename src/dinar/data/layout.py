"""The on-disk dataset layout: one folder per person, stems that match across three sub-folders.

Follows the official DINAR / StylePeople convention (``rgb/ segm/`` plus a parameter folder), with
parameters as JSON instead of pickles::

    DIR/
      README.md                    dataset card (synthetic data: command, counts, contact sheet)
      splits.json                  {"train": [person ids], "val": [...], "test": [...]}
      <person_id>/
        rgb/<stem>.png             RGB, uint8, H x W x 3
        segm/<stem>.png            person mask, uint8 grey, 0 = background, 255 = person
                                   (soft values on anti-aliased edges)
        params/<stem>.json         the body fit and camera of that image (:class:`ImageRecord`)

A stem is ``pose<P>_view<V>`` (:func:`image_stem`) for synthetic data; any stem works for the
readers as long as the three folders agree. ``params/<stem>.json`` holds::

    {"format": "dinar-params/1", "body_model": "anny", "person_id": ..., "pose_id": P, "view": V,
     "pose": [[x, y, z] * J] (axis-angle per bone, the body model's own convention),
     "shape": [S floats], "global_orient": [x, y, z], "transl": [x, y, z],
     "camera": {"K": [[3x3]], "R": [[3x3]], "t": [3], "width": W, "height": H},   (OpenCV, world -> camera)
     "exact": {same keys pose/shape/global_orient/transl/camera}   (optional: the ground truth when the
                                                                    top-level fit carries noise)}

Every reader raises :class:`DatasetError` naming the offending file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dinar import images
from dinar.geometry.camera import Camera
from dinar.images import write_png
from dinar.utils import atomic_path

PARAMS_FORMAT = "dinar-params/1"
MAX_ROTATION = 50.0  # radians: axis-angles beyond this are no rotation a fitter makes
MAX_SHAPE = 100.0
MAX_DISTANCE_M = 1000.0
MAX_IMAGE_SIDE = 16384
RGB_DIR, SEGM_DIR, PARAMS_DIR = "rgb", "segm", "params"
_STEM = re.compile(r"^pose(\d+)_view(\d+)$")


class DatasetError(ValueError):
    """Bad or inconsistent data on disk; the message names the file."""


@dataclass
class FitParams:
    """A body fit and the camera that sees it: what the avatar pipeline is given for one image."""

    pose: Tensor  # [J, 3] axis-angle per bone
    shape: Tensor  # [S] shape parameters
    global_orient: Tensor  # [3] axis-angle
    transl: Tensor  # [3] metres
    camera: Camera  # batch 1, OpenCV

    def to_json(self) -> dict[str, Any]:
        cam = self.camera.state()
        cam = {"K": cam["K"][0], "R": cam["R"][0], "t": cam["t"][0], "width": cam["width"], "height": cam["height"]}
        return {
            "pose": _rounded(self.pose),
            "shape": _rounded(self.shape),
            "global_orient": _rounded(self.global_orient),
            "transl": _rounded(self.transl),
            "camera": {k: (_rounded(torch.as_tensor(v)) if isinstance(v, list) else v) for k, v in cam.items()},
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], source: str | Path = "<params>") -> FitParams:
        try:
            cam = d["camera"]
            camera = Camera.from_state({"K": [cam["K"]], "R": [cam["R"]], "t": [cam["t"]], "width": cam["width"], "height": cam["height"]})
            pose = torch.tensor(d["pose"], dtype=torch.float32)
            shape = torch.tensor(d["shape"], dtype=torch.float32)
            orient = torch.tensor(d["global_orient"], dtype=torch.float32)
            transl = torch.tensor(d["transl"], dtype=torch.float32)
        except (KeyError, TypeError, ValueError) as err:
            raise DatasetError(f"{source}: malformed parameters ({type(err).__name__}: {err})") from err
        if pose.dim() != 2 or pose.shape[1] != 3 or shape.dim() != 1 or orient.shape != (3,) or transl.shape != (3,):
            raise DatasetError(
                f"{source}: expected pose [J, 3], shape [S], global_orient [3], transl [3]; got "
                f"{tuple(pose.shape)}, {tuple(shape.shape)}, {tuple(orient.shape)}, {tuple(transl.shape)}"
            )
        params = cls(pose=pose, shape=shape, global_orient=orient, transl=transl, camera=camera)
        check_fit(params, source)
        return params


def check_fit(fit: FitParams, source: str | Path = "<params>") -> None:
    """Refuse a fit no body or camera can have: NaN or infinite numbers, rotations beyond ±``MAX_ROTATION``
    radians, a body more than ``MAX_DISTANCE_M`` from the origin, a camera with no pixels, a non-positive
    focal length or a rotation matrix that is not one."""
    for name, value, bound in (("pose", fit.pose, MAX_ROTATION), ("global_orient", fit.global_orient, MAX_ROTATION),
                               ("shape", fit.shape, MAX_SHAPE), ("transl", fit.transl, MAX_DISTANCE_M)):
        if not torch.isfinite(value).all():
            raise DatasetError(f"{source}: {name} holds NaN or infinite numbers; fit the photo again (dinar fit)")
        if value.numel() and float(value.abs().max()) > bound:
            raise DatasetError(f"{source}: {name} has a value of {float(value.abs().max()):.3g}, beyond ±{bound:g}; fit the photo again")
    cam = fit.camera
    if not (0 < cam.width <= MAX_IMAGE_SIDE and 0 < cam.height <= MAX_IMAGE_SIDE):
        raise DatasetError(f"{source}: camera image size {cam.width}x{cam.height} is not 1..{MAX_IMAGE_SIDE} pixels a side")
    if not (torch.isfinite(cam.K).all() and torch.isfinite(cam.R).all() and torch.isfinite(cam.t).all()):
        raise DatasetError(f"{source}: the camera holds NaN or infinite numbers; fit the photo again")
    if float(cam.K[:, 0, 0].min()) <= 0 or float(cam.K[:, 1, 1].min()) <= 0:
        raise DatasetError(f"{source}: the camera's focal length must be positive")
    eye = cam.R @ cam.R.transpose(1, 2)
    if float((eye - torch.eye(3)).abs().max()) > 1e-3 or float(cam.t.abs().max()) > MAX_DISTANCE_M:
        raise DatasetError(f"{source}: the camera's R is not a rotation or its t is beyond ±{MAX_DISTANCE_M:g} m")


@dataclass
class ImageRecord:
    """Everything ``params/<stem>.json`` says about one image."""

    body_model: str  # body model name the parameters belong to ("anny", "smplx")
    person_id: str
    pose_id: int
    view: int
    fit: FitParams  # what the model sees (exact, or with a body fitter's noise)
    exact: FitParams | None = None  # ground truth, when it differs from ``fit``
    extra: dict[str, Any] = field(default_factory=dict)  # any other keys, kept as read

    def to_json(self) -> dict[str, Any]:
        d = {"format": PARAMS_FORMAT, "body_model": self.body_model, "person_id": self.person_id, "pose_id": self.pose_id, "view": self.view}
        d.update(self.fit.to_json())
        if self.exact is not None:
            d["exact"] = self.exact.to_json()
        d.update(self.extra)
        return d


def _rounded(t: Tensor, decimals: int = 7) -> list:
    """Nested lists of floats rounded so JSON files stay short and byte-stable."""
    return np.round(t.detach().cpu().double().numpy(), decimals).tolist()


def image_stem(pose_id: int, view: int) -> str:
    """The stem of a synthetic image: ``pose003_view007``."""
    return f"pose{pose_id:03d}_view{view:03d}"


def parse_stem(stem: str) -> tuple[int, int] | None:
    """``(pose_id, view)`` of a synthetic stem, ``None`` for any other name."""
    m = _STEM.match(stem)
    return (int(m.group(1)), int(m.group(2))) if m else None


# Writing --------------------------------------------------------------------------------------
def write_json(path: Path, data: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=None, separators=(",", ":")) + "\n")


def write_sample(person_dir: str | Path, stem: str, rgb: np.ndarray, mask: np.ndarray, record: ImageRecord) -> None:
    """Write one image, its mask and its parameters under ``person_dir``."""
    person_dir = Path(person_dir)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or mask.shape != rgb.shape[:2]:
        raise ValueError(f"rgb must be H x W x 3 and mask H x W, got {rgb.shape} and {mask.shape}")
    write_png(person_dir / RGB_DIR / f"{stem}.png", rgb)
    write_png(person_dir / SEGM_DIR / f"{stem}.png", mask)
    write_json(person_dir / PARAMS_DIR / f"{stem}.json", record.to_json())


# Reading --------------------------------------------------------------------------------------
def read_rgb(path: str | Path) -> np.ndarray:
    """A uint8 ``H x W x 3`` image (:func:`dinar.images.read_rgb`: the one image reader)."""
    try:
        return images.read_rgb(path)[0]
    except FileNotFoundError:
        raise DatasetError(f"{path}: image missing") from None
    except images.ImageError as err:
        raise DatasetError(f"{path}: unreadable image ({err.__cause__ or err})") from err


def read_mask(path: str | Path) -> np.ndarray:
    """A uint8 ``H x W`` mask (:func:`dinar.images.read_mask`; colour masks: any non-black pixel is the person)."""
    try:
        return images.read_mask(path)
    except FileNotFoundError:
        raise DatasetError(f"{path}: mask missing (every rgb/<stem>.png needs segm/<stem>.png)") from None
    except images.ImageError as err:
        raise DatasetError(f"{path}: unreadable mask ({err.__cause__ or err})") from err


def read_params(path: str | Path, body_model: str | None = None, num_joints: int | None = None) -> ImageRecord:
    """Read ``params/<stem>.json``; check the body model name (and joint count) when given."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(f"{path}: parameter file missing (every rgb/<stem>.png needs params/<stem>.json)") from None
    except (OSError, json.JSONDecodeError) as err:
        raise DatasetError(f"{path}: unreadable parameter file ({err})") from err
    if not isinstance(d, dict) or "body_model" not in d:
        raise DatasetError(f"{path}: not a dinar parameter file (no 'body_model' key)")
    if d.get("format", PARAMS_FORMAT) != PARAMS_FORMAT:
        raise DatasetError(f"{path}: format {d['format']!r}, this dinar reads {PARAMS_FORMAT!r}; use the dinar version that wrote it")
    if body_model is not None and d["body_model"] != body_model:
        raise DatasetError(f"{path}: parameters are for body model {d['body_model']!r}, but {body_model!r} is in use")
    fit = FitParams.from_json(d, path)
    if num_joints is not None and fit.pose.shape[0] != num_joints:
        raise DatasetError(f"{path}: pose has {fit.pose.shape[0]} joints, the {d['body_model']} body model has {num_joints}")
    exact = FitParams.from_json(d["exact"], f"{path} (exact)") if "exact" in d else None
    known = {"format", "body_model", "person_id", "pose_id", "view", "pose", "shape", "global_orient", "transl", "camera", "exact"}
    stem_ids = parse_stem(path.stem) or (0, 0)
    return ImageRecord(
        body_model=d["body_model"],
        person_id=str(d.get("person_id", path.parent.parent.name)),
        pose_id=int(d.get("pose_id", stem_ids[0])),
        view=int(d.get("view", stem_ids[1])),
        fit=fit,
        exact=exact,
        extra={k: v for k, v in d.items() if k not in known},
    )


def list_stems(person_dir: str | Path, params_dir: str = PARAMS_DIR, params_ext: str = ".json") -> list[str]:
    """Sorted stems of one person folder, after checking that rgb/, segm/ and params agree."""
    person_dir = Path(person_dir)
    folders = {RGB_DIR: ".png", SEGM_DIR: ".png", params_dir: params_ext}
    stems: dict[str, set[str]] = {}
    for name, ext in folders.items():
        folder = person_dir / name
        if not folder.is_dir():
            raise DatasetError(f"{folder}: folder missing (a person folder holds {', '.join(f'{n}/' for n in folders)})")
        stems[name] = {p.stem for p in folder.iterdir() if p.suffix.lower() == ext and not p.name.startswith(".")}
    rgb = stems[RGB_DIR]
    if not rgb:
        raise DatasetError(f"{person_dir / RGB_DIR}: no images")
    for name, ext in folders.items():
        if name == RGB_DIR:
            continue
        missing = sorted(rgb - stems[name])
        extra = sorted(stems[name] - rgb)
        if missing:
            raise DatasetError(f"{person_dir / name / (missing[0] + ext)}: missing ({len(missing)} stem(s) of rgb/ have no {name}/ file)")
        if extra:
            raise DatasetError(f"{person_dir / name / (extra[0] + ext)}: no matching rgb/{extra[0]}.png (stems must match across folders)")
    return sorted(rgb)


def list_people(root: str | Path, split: str | None = None) -> list[Path]:
    """Person folders under ``root``, sorted; ``split`` picks those listed in ``splits.json``."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder missing")
    if split is not None:
        splits_file = root / "splits.json"
        try:
            splits = json.loads(splits_file.read_text())
        except FileNotFoundError:
            raise DatasetError(f"{splits_file}: missing (needed to pick split {split!r}); pass split=None for all people") from None
        if split not in splits:
            raise DatasetError(f"{splits_file}: no split {split!r} (has {sorted(splits)})")
        people = [root / pid for pid in splits[split]]
        for p in people:
            if not p.is_dir():
                raise DatasetError(f"{p}: listed in {splits_file} but missing")
        return sorted(people)
    people = sorted(p for p in root.iterdir() if p.is_dir() and (p / RGB_DIR).is_dir())
    if not people:
        raise DatasetError(f"{root}: no person folders (expected <person>/rgb, segm, params)")
    return people
