"""Torch datasets over the folder layout of :mod:`dinar.data.layout` (ours and the official DINAR one).

- :class:`SingleImageDataset` — one image at a time (inference, evaluation);
- :class:`FramePairDataset` — (input, target) frames of one person with another pose or camera
  (stage 1 training, DESIGN.md);
- :class:`PersonViewsDataset` — all views of one person in one pose (texture merging, stages 2-3);
- :class:`OfficialDinarDataset` — the official DINAR inference layout ``rgb/ segm/ smplx/`` with
  SMPL-X parameters as JSON or NPZ (never pickles: convert ``.pkl`` files first).

Every item is a dict of tensors and strings that the default collate batches: ``rgb [3, H, W]`` in
[-1, 1], ``mask [1, H, W]`` in [0, 1], ``pose [J, 3]``, ``shape [S]``, ``global_orient [3]``,
``transl [3]``, ``K [3, 3]``, ``R [3, 3]``, ``t [3]``, ``person_id``, ``stem``, ``pose_id``, ``view``.
All folders are checked when a dataset is built, so bad data fails at once with a
:class:`~dinar.data.layout.DatasetError` naming the file, not later inside a loader worker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from dinar.data.layout import (
    PARAMS_DIR,
    RGB_DIR,
    SEGM_DIR,
    DatasetError,
    FitParams,
    list_people,
    list_stems,
    read_mask,
    read_params,
    read_rgb,
)
from dinar.geometry.camera import smplifyx_camera


@dataclass(frozen=True)
class FrameRef:
    """Where one frame lives."""

    person_dir: Path
    stem: str
    pose_id: int
    view: int


def _image_tensors(rgb_path: Path, mask_path: Path) -> tuple[Tensor, Tensor]:
    rgb = read_rgb(rgb_path)
    mask = read_mask(mask_path)
    if mask.shape != rgb.shape[:2]:
        raise DatasetError(f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} but {rgb_path.name} is {rgb.shape[1]}x{rgb.shape[0]}")
    rgb_t = torch.from_numpy(np.array(rgb)).permute(2, 0, 1).float() / 127.5 - 1.0
    mask_t = torch.from_numpy(np.array(mask))[None].float() / 255.0
    return rgb_t, mask_t


def _fit_tensors(fit: FitParams) -> dict[str, Tensor]:
    return {
        "pose": fit.pose, "shape": fit.shape, "global_orient": fit.global_orient, "transl": fit.transl,
        "K": fit.camera.K[0], "R": fit.camera.R[0], "t": fit.camera.t[0],
    }


class _LayoutDataset(Dataset):
    """Scans and checks the person folders once; loads frames by reference."""

    def __init__(self, root: str | Path, split: str | None = None, body_model: str | None = "anny", num_joints: int | None = None, use_exact: bool = False):
        self.root = Path(root)
        self.body_model = body_model
        self.num_joints = num_joints
        self.use_exact = use_exact
        self.frames: list[FrameRef] = []
        self.people: dict[str, list[int]] = {}  # person id -> indices into frames
        for person_dir in list_people(self.root, split):
            for stem in list_stems(person_dir):
                rec = read_params(person_dir / PARAMS_DIR / f"{stem}.json", body_model, num_joints)
                self.people.setdefault(person_dir.name, []).append(len(self.frames))
                self.frames.append(FrameRef(person_dir, stem, rec.pose_id, rec.view))

    def load(self, ref: FrameRef) -> dict[str, Any]:
        """One frame as a dict of tensors (see the module docstring)."""
        rec = read_params(ref.person_dir / PARAMS_DIR / f"{ref.stem}.json", self.body_model, self.num_joints)
        rgb, mask = _image_tensors(ref.person_dir / RGB_DIR / f"{ref.stem}.png", ref.person_dir / SEGM_DIR / f"{ref.stem}.png")
        fit = rec.exact if (self.use_exact and rec.exact is not None) else rec.fit
        item = {"rgb": rgb, "mask": mask, "person_id": ref.person_dir.name, "stem": ref.stem, "pose_id": rec.pose_id, "view": rec.view}
        item.update(_fit_tensors(fit))
        return item


class SingleImageDataset(_LayoutDataset):
    """Every image of every person (inference and evaluation)."""

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.load(self.frames[index])


class FramePairDataset(_LayoutDataset):
    """Ordered pairs (input, target) of frames of one person (stage 1).

    By default the target has another pose than the input (when the person has several poses, as
    the paper's training pairs do); ``different_pose=False`` pairs any two distinct frames.
    Items are ``{"input": frame, "target": frame}``.
    """

    def __init__(self, root: str | Path, split: str | None = None, different_pose: bool = True, **kwargs):
        super().__init__(root, split, **kwargs)
        self.pairs: list[tuple[int, int]] = []
        for indices in self.people.values():
            poses = {self.frames[i].pose_id for i in indices}
            need_other_pose = different_pose and len(poses) > 1
            for i in indices:
                for j in indices:
                    if i != j and (not need_other_pose or self.frames[i].pose_id != self.frames[j].pose_id):
                        self.pairs.append((i, j))
        if not self.pairs:
            raise DatasetError(f"{self.root}: no pairs (every person needs at least two frames)")

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        i, j = self.pairs[index]
        return {"input": self.load(self.frames[i]), "target": self.load(self.frames[j])}


class PersonViewsDataset(_LayoutDataset):
    """All views of one person in one pose, stacked (texture merging, paper 3.2; stages 2 and 3).

    Items have the frame keys with a leading view axis (``rgb [V, 3, H, W]``, ``K [V, 3, 3]``, ...),
    views sorted by view index; ``stem`` is the list of stems.
    """

    def __init__(self, root: str | Path, split: str | None = None, **kwargs):
        super().__init__(root, split, **kwargs)
        groups: dict[tuple[str, int], list[int]] = {}
        for pid, indices in self.people.items():
            for i in indices:
                groups.setdefault((pid, self.frames[i].pose_id), []).append(i)
        self.groups = [sorted(g, key=lambda i: self.frames[i].view) for _, g in sorted(groups.items())]

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, index: int) -> dict[str, Any]:
        frames = [self.load(self.frames[i]) for i in self.groups[index]]
        out: dict[str, Any] = {"person_id": frames[0]["person_id"], "pose_id": frames[0]["pose_id"], "stem": [f["stem"] for f in frames]}
        out["view"] = torch.tensor([f["view"] for f in frames])
        for key in ("rgb", "mask", "pose", "shape", "global_orient", "transl", "K", "R", "t"):
            try:
                out[key] = torch.stack([f[key] for f in frames])
            except RuntimeError as err:
                raise DatasetError(f"{self.frames[self.groups[index][0]].person_dir}: views of pose {out['pose_id']} disagree in {key} size ({err})") from err
        return out


# The official DINAR layout ----------------------------------------------------------------------
SMPLX_BODY_JOINTS = 21
SMPLX_POSE_KEYS = (("body_pose", 21), ("jaw_pose", 1), ("leye_pose", 1), ("reye_pose", 1), ("left_hand_pose", 15), ("right_hand_pose", 15))


def _read_smplx_params(path: Path) -> dict[str, np.ndarray]:
    if path.suffix == ".pkl":
        raise DatasetError(
            f"{path}: dinar never unpickles files; convert it once to JSON or NPZ with the same keys "
            "(global_orient, body_pose, betas, transl, ..., camera_translation, focal_length)"
        )
    try:
        if path.suffix == ".json":
            raw = json.loads(path.read_text())
        else:
            with np.load(path, allow_pickle=False) as z:
                raw = {k: z[k] for k in z.files}
    except (OSError, ValueError, json.JSONDecodeError) as err:
        raise DatasetError(f"{path}: unreadable SMPL-X parameters ({err})") from err
    return {k: np.asarray(v, dtype=np.float32) for k, v in raw.items() if not isinstance(v, str)}


def smplx_fit(params: dict[str, np.ndarray], width: int, height: int, source: Path) -> FitParams:
    """SMPL-X parameters (SMPLify-X keys) -> :class:`FitParams` (pose ``[55, 3]`` incl. the root slot as zero)."""
    try:
        parts = [np.zeros((1, 3), np.float32)]  # joint 0 is the root: global_orient carries it
        for key, joints in SMPLX_POSE_KEYS:
            value = params.get(key)
            parts.append(np.zeros((joints, 3), np.float32) if value is None else value.reshape(joints, 3))
        pose = torch.from_numpy(np.concatenate(parts))
        shape = torch.from_numpy(params["betas"].reshape(-1))
        orient = torch.from_numpy(params.get("global_orient", np.zeros(3, np.float32)).reshape(3))
        transl = torch.from_numpy(params.get("transl", np.zeros(3, np.float32)).reshape(3))
        cam_t = torch.from_numpy(params.get("camera_translation", np.zeros(3, np.float32)).reshape(1, 3))
        focal = float(params.get("focal_length", np.float32(5000.0)).reshape(-1)[0])
    except (KeyError, ValueError) as err:
        raise DatasetError(f"{source}: malformed SMPL-X parameters ({type(err).__name__}: {err})") from err
    return FitParams(pose=pose, shape=shape, global_orient=orient, transl=transl, camera=smplifyx_camera(cam_t, width, height, focal=focal))


class OfficialDinarDataset(Dataset):
    """The official DINAR inference folder: ``rgb/<stem>.png|jpg``, ``segm/<stem>.png``, ``smplx/<stem>.json|npz``.

    A thin reader for users who have SMPL-X fits (the body model itself is the user's, see
    ``dinar.body``); items follow the frame format with ``pose [55, 3]`` and ``shape`` = betas.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        for name in ("rgb", "segm", "smplx"):
            if not (self.root / name).is_dir():
                raise DatasetError(f"{self.root / name}: folder missing (the official DINAR layout is rgb/, segm/, smplx/)")
        images = {p.stem: p for p in sorted((self.root / "rgb").iterdir()) if p.suffix.lower() in (".png", ".jpg", ".jpeg")}
        if not images:
            raise DatasetError(f"{self.root / 'rgb'}: no images")
        params = {p.stem: p for p in sorted((self.root / "smplx").iterdir()) if p.suffix in (".json", ".npz", ".pkl")}
        self.items = []
        for stem, img in images.items():
            mask = self.root / "segm" / f"{stem}.png"
            if not mask.exists():
                raise DatasetError(f"{mask}: mask missing for {img}")
            if stem not in params:
                raise DatasetError(f"{self.root / 'smplx' / (stem + '.json')}: SMPL-X parameters missing for {img}")
            if params[stem].suffix == ".pkl":
                _read_smplx_params(params[stem])  # raises the conversion hint
            self.items.append((stem, img, mask, params[stem]))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        stem, img, mask, param_path = self.items[index]
        rgb, m = _image_tensors(img, mask)
        fit = smplx_fit(_read_smplx_params(param_path), rgb.shape[2], rgb.shape[1], param_path)
        item = {"rgb": rgb, "mask": m, "person_id": self.root.name, "stem": stem, "pose_id": 0, "view": index}
        item.update(_fit_tensors(fit))
        return item
