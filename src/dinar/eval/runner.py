"""The benchmark runner: held-out people → avatars → renders of every view → the paper's Tables 1 and 2.

For every person of a split (people the model never saw), the avatar is made from ONE image, the
input view (pose 0, view 0 = the front by default), with the avatar pipeline, and rendered with the
body fit and camera of every image of that person. Each render is compared with the ground-truth
image (:func:`dinar.eval.metrics.compute_metrics`, person region = union of the two masks, composited
over white) at the evaluation resolution, the stage-1 model's image size: ground truth is padded to a
square and area-resized exactly as the pipeline prepares its input photos, the camera following.

View kinds (per target image, relative to the input):

- ``same``: the input image itself (the paper's "same view": MS-SSIM, PSNR, LPIPS, DISTS);
- ``back``: of the input's pose, the view whose camera is most nearly opposite the input's around the
  body (azimuth offset ≥ 135°, measured in the body's own frame so a person turning in front of a
  fixed camera counts the same as a camera orbiting a person); synthetic data has its exact ground
  truth, which SnapshotPeople-style benchmarks only approximate;
- ``side``: the other views of the input's pose;
- ``other_pose``: images of the person's other poses (the avatar animated), any view.

``back``, ``side`` and ``other_pose`` together are the novel views (the paper's "novel view": DISTS,
KID, and an identity score). The paper's novel view is the back frame only; we report the back view
separately as well, with PSNR / LPIPS / DISTS, since synthetic people have its ground truth.

Settings (:data:`FULL`, :data:`TABLE2_SETTINGS`) are switch sets of the pipeline: Table 1 uses the full
method; ``--ablations`` adds the rows of the paper's Table 2, in its order.

Resumable: each (person, setting) is written to ``REPORT/people/<pid>/<setting>.json`` once done, with
a key (SHA-256 of the checkpoint files, the options, the input view, the metrics, the resolution and
the input files); a later run with the same key skips it. Inception features for KID are kept beside
it (``<setting>.features.safetensors``; ground truth in ``ground_truth.features.safetensors``), and the
same-view and back-view renders as PNG (``<setting>/<stem>.png``) for the report's image grid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch import Tensor

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
    write_png,
)
from dinar.geometry.camera import Camera
from dinar.pipeline.options import PipelineOptions
from dinar.pipeline.photos import (
    camera_for_image,
    image_tensor,
    mask_tensor,
    square_and_resize,
)
from dinar.utils import atomic_path, resolve_device

from .metrics import (
    ALL_METRICS,
    MetricFamily,
    compute_metrics,
    ms_ssim_name,
    person_region,
)

log = logging.getLogger(__name__)

EVAL_FORMAT = "dinar-eval/1"
PERSON_FORMAT = "dinar-eval-person/1"
PEOPLE_DIR = "people"
GT_FEATURES_FILE = "ground_truth.features.safetensors"

EvalFamily = Literal["psnr", "ms_ssim", "lpips", "dists", "identity", "kid"]
ALL_EVAL_METRICS: tuple[EvalFamily, ...] = (*ALL_METRICS, "kid")
"""Per-image families of :func:`compute_metrics` plus the set-level ``kid``."""

ViewKind = Literal["same", "back", "side", "other_pose"]
VIEW_KINDS: tuple[ViewKind, ...] = ("same", "back", "side", "other_pose")
NOVEL_KINDS: tuple[ViewKind, ...] = ("back", "side", "other_pose")
BACK_MIN_OFFSET_DEG = 135.0
"""A view counts as the back view when its azimuth is at least this far from the input's."""
RENDER_BATCH = 8


class EvalError(ValueError):
    """A benchmark that cannot run as asked (empty split, missing view, mismatched model); says why."""


# ---------------------------------------------------------------------------------------------------
# Settings: which pipeline switches, which checkpoint
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    """One row of a table: a stage-1 checkpoint (the main one, or an ablation's) and the pipeline switches."""

    name: str
    """File-safe id (cache files, CSV)."""
    label: str
    """Row label, as the paper's Table 2 names it."""
    checkpoint: Literal["main", "rgb", "neural"] = "main"
    """Which checkpoint: ``main`` (``--checkpoint``) or an ``--ablation-checkpoint`` texture mode."""
    texture: Literal["both", "rgb", "neural"] = "both"
    """Texture mode the checkpoint must have been trained with."""
    occlusion: bool = True
    inpainting: bool = True
    rgb_tuning: bool = True
    color_adjust: bool = True

    def options(self, base: PipelineOptions) -> PipelineOptions:
        """``base`` with this setting's switches and texture mode."""
        return dataclasses.replace(base, occlusion=self.occlusion, inpainting=self.inpainting, rgb_tuning=self.rgb_tuning,
                                   color_adjust=self.color_adjust, texture=self.texture)


_BARE = {"occlusion": False, "inpainting": False, "rgb_tuning": False, "color_adjust": False}
FULL = Setting("full", "Both + Inpainting + Ocl. + RGB tuning")
"""The full method (paper 3.4 and appendix B: occlusion detector, inpainting, RGB tuning, colour adjustment)."""
TABLE2_SETTINGS: tuple[Setting, ...] = (
    Setting("rgb_texture", "RGB texture", checkpoint="rgb", texture="rgb", **_BARE),
    Setting("neural_texture", "Neural texture", checkpoint="neural", texture="neural", **_BARE),
    Setting("both", "Both textures", **_BARE),
    Setting("both_inpainting", "Both + Inpainting", occlusion=False, rgb_tuning=False, color_adjust=False),
    Setting("both_inpainting_occlusion", "Both + Inpainting + Occlusion detector", rgb_tuning=False, color_adjust=False),
    FULL,
)
"""The rows of the paper's Table 2, in its order, each adding one step to the one above (rows 1-2 swap the
texture). The paper does not list the colour adjustment of eq. 7 as a row; it belongs to appendix B's "RGB
texture refinement" with RGB tuning, so it is switched on with RGB tuning in the last row, which is the
full method of Table 1. Rows without inpainting let the renderer fill what the photo does not show."""


# ---------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvalConfig:
    """What ``dinar eval`` does (:func:`evaluate`)."""

    data_dir: Path
    output_dir: Path
    split: str | None = "test"
    """Split of ``splits.json``; None = every person folder."""
    checkpoint: Path | None = None
    """Model folder of the main checkpoint (stage1/, vq/, diffusion/); None = the shipped default weights."""
    ablations: bool = False
    """Also run the rows of Table 2."""
    ablation_checkpoints: tuple[tuple[str, Path], ...] = ()
    """``(("rgb", DIR), ("neural", DIR))``: stage-1 checkpoints trained with one kind of texture (Table 2 rows 1-2)."""
    input_pose: int = 0
    input_view: int = 0
    """The avatar is made from the image of this pose and view (view 0 = the front in synthetic data)."""
    people: int = 0
    """At most this many people of the split, in sorted order (0 = all)."""
    device: str = "auto"
    seed: int = 0
    """Diffusion noise of every avatar (replaces ``options.seed``; the other steps are deterministic) and the
    KID subsets."""
    options: PipelineOptions = field(default_factory=PipelineOptions)
    """Pipeline settings (steps, learning rates); each setting's switches are applied on top."""
    metrics: tuple[EvalFamily, ...] = ALL_EVAL_METRICS
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    grid_people: int = 2
    """Best and worst people shown in the image grid (each)."""
    progress: bool = True

    def __post_init__(self) -> None:
        unknown = set(self.metrics) - set(ALL_EVAL_METRICS)
        if unknown:
            raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {ALL_EVAL_METRICS}")
        kinds = [k for k, _ in self.ablation_checkpoints]
        bad = sorted(set(kinds) - {"rgb", "neural"})
        if bad:
            raise ValueError(f"ablation checkpoints are for the texture modes 'rgb' and 'neural', got {bad}")
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"one ablation checkpoint per texture mode, got {kinds}")
        if self.people < 0 or self.input_pose < 0 or self.input_view < 0:
            raise ValueError("people, input_pose and input_view must be >= 0")

    @property
    def settings(self) -> tuple[Setting, ...]:
        """What to run: the full method, or with ``ablations`` all rows of Table 2 (in the paper's order; the
        last is the full method)."""
        return TABLE2_SETTINGS if self.ablations else (FULL,)

    @property
    def pipeline_options(self) -> PipelineOptions:
        """``options`` with the run's seed."""
        return dataclasses.replace(self.options, seed=self.seed)

    def settings_json(self) -> dict[str, Any]:
        """The run's settings as written into metrics.json."""
        return {
            "data_dir": str(self.data_dir), "split": self.split, "checkpoint": str(self.checkpoint) if self.checkpoint else None,
            "ablations": self.ablations, "ablation_checkpoints": {k: str(v) for k, v in self.ablation_checkpoints},
            "input_pose": self.input_pose, "input_view": self.input_view, "people_limit": self.people,
            "device": self.device, "seed": self.seed, "options": self.pipeline_options.to_dict(), "metrics": list(self.metrics),
            "kid_subsets": self.kid_subsets, "kid_subset_size": self.kid_subset_size,
        }


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


# ---------------------------------------------------------------------------------------------------
# Predictors: what renders each target view (the avatar pipeline; ground truth as a sanity check)
# ---------------------------------------------------------------------------------------------------
@dataclass
class Renders:
    """Predicted views of a person, in the order of :attr:`PersonViews.targets`."""

    image: Tensor  # [B, 3, N, N] in [0, 1], composited over white
    mask: Tensor  # [B, 1, N, N] in [0, 1]
    seconds_avatar: float = 0.0
    """Time to make the avatar (0 when nothing was made)."""


class Predictor(Protocol):
    """Makes an avatar for a person under a setting and renders every target view."""

    image_size: int
    body_model: str
    num_joints: int
    up_axis: Sequence[float]
    front_axis: Sequence[float]

    def unavailable(self, setting: Setting) -> str | None:
        """None when ``setting`` can run, else why not (shown in the table: "not run: ...")."""

    def fingerprint(self, setting: Setting) -> dict[str, Any]:
        """JSON identifying what ``setting`` runs (checkpoint digests, options): part of the cache key."""

    def describe(self) -> dict[str, Any]:
        """Checkpoints and identity for metrics.json."""

    def predict(self, setting: Setting, person: PersonViews) -> Renders:
        """Renders of every target of ``person``."""


def model_fingerprint(model_dir: Path) -> dict[str, str]:
    """SHA-256 of every weight and config file of a model folder (relative path → digest)."""
    from dinar.digests import sha256_file as file_sha256
    from dinar.weights.networks import stage1_dir

    s1 = stage1_dir(model_dir)
    files = [s1 / "model.safetensors", s1 / "config.json", s1 / "atlas.safetensors", s1 / "discriminator" / "model.safetensors",
             model_dir / "vq" / "model.safetensors", model_dir / "diffusion" / "model.safetensors"]

    return {p.relative_to(model_dir).as_posix() if p.is_relative_to(model_dir) else p.name: file_sha256(p)
            for p in files if p.is_file()}


class PipelinePredictor:
    """The avatar pipeline (:class:`~dinar.pipeline.AvatarPipeline`) of the main checkpoint and of the
    ablation checkpoints; every avatar is rendered with each target's body fit and camera."""

    def __init__(
        self,
        checkpoint: Path | None,
        ablation_checkpoints: Mapping[str, Path] | None = None,
        options: PipelineOptions | None = None,
        device: str = "auto",
        body=None,
    ):
        from dinar.avatar import default_model_dir
        from dinar.pipeline import AvatarPipeline

        self.device = resolve_device(device)
        self.options = options or PipelineOptions()
        self.dirs: dict[str, Path] = {"main": Path(checkpoint) if checkpoint is not None else default_model_dir()}
        self.dirs.update({k: Path(v) for k, v in (ablation_checkpoints or {}).items()})
        self.pipes: dict[str, Any] = {}
        self.fingerprints: dict[str, dict[str, str]] = {}
        for key, folder in self.dirs.items():
            if not folder.is_dir():
                raise EvalError(f"{'--checkpoint' if key == 'main' else f'--ablation-checkpoint {key}='}{folder}: no such model folder")
            pipe = AvatarPipeline.from_pretrained(folder, self.device, body=body)
            body = pipe.body  # one body model for all
            self.pipes[key] = pipe
            self.fingerprints[key] = model_fingerprint(folder)
        main = self.pipes["main"].stage1.config
        for key, pipe in self.pipes.items():
            cfg = pipe.stage1.config
            if key != "main" and cfg.texture != key:
                raise EvalError(f"--ablation-checkpoint {key}={self.dirs[key]}: that checkpoint was trained with "
                                f"texture={cfg.texture!r}, not {key!r} (dinar train avatar --texture {key})")
            if cfg.image_size != main.image_size:
                raise EvalError(f"--ablation-checkpoint {key}={self.dirs[key]}: renders {cfg.image_size}² images, the main "
                                f"checkpoint {main.image_size}²; metrics at different resolutions are not comparable")
            if cfg.body_model != main.body_model:
                raise EvalError(f"--ablation-checkpoint {key}={self.dirs[key]}: body model {cfg.body_model!r}, the main "
                                f"checkpoint's is {main.body_model!r}")
        self.image_size = main.image_size
        self.body_model = main.body_model
        self.num_joints = int(body.num_joints)
        self.up_axis = tuple(body.up_axis)
        self.front_axis = tuple(body.front_axis)

    def unavailable(self, setting: Setting) -> str | None:
        pipe = self.pipes.get(setting.checkpoint)
        if pipe is None:
            return "no checkpoint" if setting.checkpoint != "main" else "no main checkpoint"
        mode = pipe.stage1.config.texture
        if mode != setting.texture:
            return f"the checkpoint is {mode}-textured"
        if setting.inpainting and not pipe.can_inpaint:
            return "the checkpoint has no vq/ and diffusion/ (inpainting)"
        return None

    def fingerprint(self, setting: Setting) -> dict[str, Any]:
        options = setting.options(self.options)
        files = dict(self.fingerprints[setting.checkpoint])
        if not setting.inpainting:  # vq / diffusion weights are not used
            files = {k: v for k, v in files.items() if not k.startswith(("vq/", "diffusion/"))}
        return {"files": files, "options": options.to_dict()}

    def describe(self) -> dict[str, Any]:
        out = {}
        for key, pipe in self.pipes.items():
            ident = pipe.identity
            out[key] = {"model_dir": str(self.dirs[key].resolve()), "stage1": ident.to_json(), "short": ident.short,
                        "texture": pipe.stage1.config.texture, "image_size": pipe.stage1.config.image_size,
                        "texture_size": pipe.stage1.config.texture_size, "body_model": pipe.stage1.config.body_model,
                        "can_inpaint": pipe.can_inpaint, "files": self.fingerprints[key]}
        return out

    def predict(self, setting: Setting, person: PersonViews) -> Renders:
        pipe = self.pipes[setting.checkpoint]
        start = time.perf_counter()
        avatar = pipe(person.input_image, person.input_mask, person.input_fit, setting.options(self.options), progress=False)
        seconds = time.perf_counter() - start
        images, masks = [], []
        for chunk in _chunks(person.targets, RENDER_BATCH):
            fits = [t.fit for t in chunk]
            camera = Camera(K=torch.cat([f.camera.K for f in fits]), R=torch.cat([f.camera.R for f in fits]),
                            t=torch.cat([f.camera.t for f in fits]), width=self.image_size, height=self.image_size)
            frames = avatar.render(torch.stack([f.pose for f in fits]), camera, torch.stack([f.global_orient for f in fits]),
                                   torch.stack([f.transl for f in fits]))
            images.append(frames.image.float().cpu())
            masks.append(frames.mask.float().cpu())
        return Renders(torch.cat(images).clamp(0, 1), torch.cat(masks).clamp(0, 1), seconds)


class GroundTruthPredictor:
    """Returns the ground truth itself: the metrics' and the aggregation's perfect case (PSNR 100 dB,
    MS-SSIM 1, LPIPS / DISTS 0, identity 1, KID ≈ 0) — a check of the evaluation protocol, not a method."""

    def __init__(self, image_size: int, body=None, body_model: str = "anny", num_joints: int | None = None):
        self.image_size = image_size
        self.body_model = getattr(body, "name", body_model)
        self.num_joints = int(body.num_joints) if body is not None else num_joints  # type: ignore[assignment]
        self.up_axis = tuple(getattr(body, "up_axis", (0.0, 0.0, 1.0)))
        self.front_axis = tuple(getattr(body, "front_axis", (0.0, -1.0, 0.0)))

    def unavailable(self, setting: Setting) -> str | None:
        return None

    def fingerprint(self, setting: Setting) -> dict[str, Any]:
        return {"ground_truth": True, "setting": setting.name}

    def describe(self) -> dict[str, Any]:
        return {"main": {"ground_truth": True, "short": "ground-truth"}}

    def predict(self, setting: Setting, person: PersonViews) -> Renders:
        return Renders(torch.stack([t.rgb for t in person.targets]), torch.stack([t.mask for t in person.targets]))


@dataclass
class GridViews:
    """What the report's image grid shows of a person besides the renders (kept instead of all views)."""

    input_stem: str
    back_stem: str | None
    input_image: Tensor  # [3, N, N] the input photo at the evaluation resolution, as given (its background)
    same: Tensor  # [3, N, N] ground truth of the same view, person over white (what the metrics see)
    back: Tensor | None  # [3, N, N] ground truth of the back view, person over white

    @classmethod
    def of(cls, person: PersonViews) -> GridViews:
        def white(t: TargetView) -> Tensor:
            return t.rgb * t.mask + (1 - t.mask)

        same = person.of_kind("same")[0]
        back = person.of_kind("back")
        return cls(person.input_stem, back[0].stem if back else None, same.rgb.clone(), white(same),
                   white(back[0]) if back else None)


def _chunks(items: Sequence, n: int) -> list[Sequence]:
    return [items[i : i + n] for i in range(0, len(items), n)]


# ---------------------------------------------------------------------------------------------------
# Scoring one person
# ---------------------------------------------------------------------------------------------------
def score_views(
    renders: Renders,
    person: PersonViews,
    families: Sequence[EvalFamily],
    device: torch.device,
    batch_size: int = RENDER_BATCH,
) -> list[dict[str, Any]]:
    """Per-view records ``{stem, kind, pose_id, view, azimuth_offset, <metric>: float}`` of the renders
    against the ground truth (:func:`compute_metrics`, person region = union of both masks)."""
    which: list[MetricFamily] = [f for f in families if f != "kid"]  # type: ignore[misc]
    records = [{"stem": t.stem, "kind": t.kind, "pose_id": t.pose_id, "view": t.view,
                "azimuth_offset": round(t.azimuth_offset, 3)} for t in person.targets]
    if not which:
        return records
    for start in range(0, len(person.targets), batch_size):
        sl = slice(start, start + batch_size)
        chunk = person.targets[sl]
        gt = torch.stack([t.rgb for t in chunk]).to(device)
        gt_mask = torch.stack([t.mask for t in chunk]).to(device)
        pred, pred_mask = renders.image[sl].to(device), renders.mask[sl].to(device)
        values = compute_metrics(pred, gt, person_region(pred_mask, gt_mask), which)
        for i, rec in enumerate(records[sl]):
            for key, v in values.items():
                x = float(v[i])
                rec[key] = x if math.isfinite(x) else None
    return records


def inception_features(images: Tensor, device: torch.device) -> Tensor:
    """[B, 2048] float64 TF-FID Inception features (cached network) of images [B, 3, H, W] in [0, 1]."""
    from .kid import extract_features
    from .metrics import cached_network

    return extract_features(images, cached_network("inception", str(device)), batch_size=RENDER_BATCH).cpu()


def _save_features(path: Path, features: Tensor, stems: Sequence[str], extra: Mapping[str, str] | None = None) -> None:
    from safetensors.torch import save_file

    meta = {"stems": json.dumps(list(stems)), **(extra or {})}
    with atomic_path(path) as tmp:
        save_file({"features": features.double().contiguous()}, str(tmp), metadata=meta)


def load_features(path: Path) -> tuple[Tensor, list[str], dict[str, str]]:
    """``(features [N, D] float64, stems, metadata)`` of a features file written by the runner."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        features = f.get_tensor("features")
    return features, json.loads(meta.get("stems", "[]")), meta


def ground_truth_features(person: PersonViews, person_dir: Path, size: int, device: torch.device) -> Path:
    """The Inception features of every ground-truth view of ``person``, written once per resolution."""
    path = person_dir / GT_FEATURES_FILE
    stems = [t.stem for t in person.targets]
    if path.is_file():
        _, have, meta = load_features(path)
        if have == stems and meta.get("size") == str(size):
            return path
    images = torch.stack([t.rgb * t.mask + (1 - t.mask) for t in person.targets])  # the person over white
    _save_features(path, inception_features(images, device), stems, {"size": str(size)})
    return path


# ---------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------
@dataclass
class EvalResult:
    """What :func:`evaluate` did and wrote."""

    output_dir: Path
    summary: dict[str, Any]
    """The content of metrics.json."""
    files: dict[str, Path]
    """Report files by name (metrics, table1, table2, people_csv, grid)."""
    computed: int = 0
    """(person, setting) pairs evaluated in this run."""
    skipped: int = 0
    """(person, setting) pairs found finished in the report folder (same key) and reused."""


def cache_key(doc: Mapping[str, Any]) -> str:
    """SHA-256 of a JSON document in canonical form."""
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def person_result_path(output_dir: Path, person_id: str, setting: Setting) -> Path:
    return output_dir / PEOPLE_DIR / person_id / f"{setting.name}.json"


def _read_cached(path: Path, key: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if doc.get("format") != PERSON_FORMAT or doc.get("key") != key:
        return None
    features = doc.get("features")
    if features and not (path.parent / features).is_file():
        return None
    return doc


def _uint8(image: Tensor) -> np.ndarray:
    return (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def evaluate_person(
    predictor: Predictor,
    setting: Setting,
    person: PersonViews,
    config: EvalConfig,
    key: str,
    key_doc: Mapping[str, Any],
    device: torch.device,
) -> dict[str, Any]:
    """Make the avatar, render, score; write the person's renders, features and result JSON (last, so a
    killed run leaves no finished-looking result)."""
    start = time.perf_counter()
    renders = predictor.predict(setting, person)
    n = len(person.targets)
    if renders.image.shape != (n, 3, predictor.image_size, predictor.image_size) or renders.mask.shape[0] != n:
        raise RuntimeError(f"the predictor returned {list(renders.image.shape)} for {n} views at {predictor.image_size}²")
    records = score_views(renders, person, config.metrics, device)
    person_dir = config.output_dir / PEOPLE_DIR / person.person_id
    render_dir = person_dir / setting.name
    saved = []
    for i, t in enumerate(person.targets):
        if t.kind in ("same", "back"):
            write_png(render_dir / f"{t.stem}.png", _uint8(renders.image[i]))
            saved.append(f"{setting.name}/{t.stem}.png")
    features = None
    if "kid" in config.metrics:
        feats = inception_features(renders.image, device)  # renders are already composited over white
        features = f"{setting.name}.features.safetensors"
        _save_features(person_dir / features, feats, [t.stem for t in person.targets])
    doc = {
        "format": PERSON_FORMAT, "key": key, "key_doc": key_doc, "person": person.person_id, "setting": setting.name,
        "input": person.input_stem, "views": records, "renders": saved, "features": features,
        "seconds_avatar": round(renders.seconds_avatar, 3), "seconds": round(time.perf_counter() - start, 3),
    }
    path = person_result_path(config.output_dir, person.person_id, setting)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def select_people(config: EvalConfig) -> list[Path]:
    """The person folders of the split (first ``config.people``); a clear error when there are none."""
    try:
        people = list_people(config.data_dir, config.split)
    except DatasetError as err:
        raise EvalError(str(err)) from err
    if not people:
        splits = config.data_dir / "splits.json"
        have = ""
        if splits.is_file():
            have = "; " + ", ".join(f"{k}: {len(v)}" for k, v in json.loads(splits.read_text()).items())
        raise EvalError(f"{config.data_dir}: split {config.split!r} has no people{have}; choose another split "
                        "(--split all evaluates every person folder)")
    return people[: config.people] if config.people else people


def evaluate(config: EvalConfig, predictor: Predictor | None = None, body=None) -> EvalResult:
    """Run the benchmark of ``config`` (module docstring) and write the report (:mod:`dinar.eval.report`).

    ``predictor``: what makes and renders avatars (default: :class:`PipelinePredictor` of the config's
    checkpoints); ``body``: a loaded body model to share (loaded from the checkpoint's config if None).
    """
    from tqdm import tqdm

    from .report import write_report

    people = select_people(config)
    device = resolve_device(config.device)
    if predictor is None:
        ablation = dict(config.ablation_checkpoints) if config.ablations else {}
        predictor = PipelinePredictor(config.checkpoint, ablation, config.pipeline_options, config.device, body)
    size = predictor.image_size
    if "ms_ssim" in config.metrics:
        ms_ssim_name(size, size)  # refuses sizes MS-SSIM cannot take before any work
    settings = config.settings
    not_run = {s.name: reason for s in settings if (reason := predictor.unavailable(s)) is not None}
    if FULL.name in not_run:
        raise EvalError(f"the full method cannot run: {not_run[FULL.name]}; pass a complete model folder with --checkpoint")
    runnable = [s for s in settings if s.name not in not_run]
    results: dict[str, dict[str, dict[str, Any]]] = {s.name: {} for s in runnable}
    grid_views: dict[str, GridViews] = {}
    computed = skipped = 0
    torch.manual_seed(config.seed)
    with tqdm(total=len(people) * len(runnable), desc="eval", unit="avatar", disable=not config.progress) as bar:
        for folder in people:
            person = load_person(folder, size, config.input_pose, config.input_view, body_model=predictor.body_model,
                                 num_joints=predictor.num_joints, up=predictor.up_axis, front=predictor.front_axis)
            grid_views[person.person_id] = GridViews.of(person)
            if "kid" in config.metrics:
                ground_truth_features(person, config.output_dir / PEOPLE_DIR / person.person_id, size, device)
            for setting in runnable:
                bar.set_postfix_str(f"{person.person_id} {setting.name}")
                key_doc = {
                    "format": PERSON_FORMAT, "setting": dataclasses.asdict(setting), "model": predictor.fingerprint(setting),
                    "seed": config.seed, "input": [config.input_pose, config.input_view], "input_sha256": person.input_sha256,
                    "targets": [t.stem for t in person.targets], "size": size, "metrics": sorted(config.metrics),
                }
                key = cache_key(key_doc)
                path = person_result_path(config.output_dir, person.person_id, setting)
                doc = _read_cached(path, key)
                if doc is None:
                    doc = evaluate_person(predictor, setting, person, config, key, key_doc, device)
                    computed += 1
                else:
                    skipped += 1
                results[setting.name][person.person_id] = doc
                bar.update(1)
    summary, files = write_report(config, settings, not_run, results, grid_views, predictor.describe(), size)
    log.info("eval: %d avatar(s) made, %d reused; report in %s", computed, skipped, config.output_dir)
    return EvalResult(config.output_dir, summary, files, computed, skipped)
