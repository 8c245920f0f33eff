"""Import a calibrated multi-camera capture into the dataset layout, with one body fit per time instant.

``dinar data capture CALIB --videos DIR -o DATA`` (:mod:`dinar.commands.data_capture`) calls
:func:`import_capture`. For each chosen time instant (frame index) and each camera:

1. the frame is undistorted with the camera's calibrated lens distortion (same size, same ``K``:
   :func:`dinar.geometry.calibration.undistort_image`), so from here on the camera is an exact pinhole
   camera, :meth:`~dinar.geometry.calibration.CalibratedCamera.to_camera`;
2. the person is found in it (BlazePose keypoints and person mask, :mod:`dinar.fitting.observe`; with several
   people, the one inside the camera's ``boxes`` entry, else the largest), and cut out as ``dinar fit`` does: a
   square around the keypoints and mask with 10% margin, resized to ``crop_size`` (512, the paper's framing). The crop's camera is exact:
   ``K_crop = A @ K_frame`` with ``A`` the crop's scale and shift (:meth:`CropBox.crop_intrinsics`),
   same ``R, t``. A 1088 x 1920 portrait frame thus becomes a 512² image of the person whose camera still
   maps every world point to the right crop pixel, which is what the avatar pipeline and ``dinar eval``
   read (they pad and resize that square to the model's size, the camera following);
3. ONE body is fitted to all views of the instant (:class:`dinar.fitting.multiview.MultiViewFitter`:
   keypoints triangulated for the start, then every view's keypoints and mask reprojected through the
   calibrated cameras, which stay fixed). The next instant starts from this fit.

Written, per person (``name``, default the calibration's folder name)::

    DATA/splits.json                    the person under "test" (a capture is for evaluation)
    DATA/<name>/rgb/f<frame>_<camera>.png     the undistorted crop, uint8
    DATA/<name>/segm/f<frame>_<camera>.png    the person mask in the crop
    DATA/<name>/params/f<frame>_<camera>.json the shared fit + this view's crop camera (``dinar-params/1``),
                                        pose_id = frame index, view = camera index in the calibration;
                                        extra keys: ``crop`` (the square of the frame), ``photo_camera``
                                        (the whole undistorted frame's camera), ``calibration`` (the camera
                                        as read, OpenCV convention, with distortion), ``source``,
                                        ``keypoints`` (detected, frame pixels), ``fit_agreement``
                                        (reprojection error in frame and crop pixels, silhouette IoU)
    DATA/<name>/capture.json            cameras, sources, frames, person boxes, reprojection error per camera
    DATA/<name>/fit_overlay.png         the first instant: each view's crop with the fitted body over it

Errors (:class:`~dinar.data.capture_sources.CaptureError`, a ValueError): a camera with no video,
frames of another size than calibrated, unsynchronised frame counts, a person not found in a view.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from dinar.body.base import BodyModel
from dinar.data.capture_sources import (
    CameraSource,
    CaptureError,
    frames_in_lockstep,
    match_sources,
    name_key,
)
from dinar.data.layout import FitParams, ImageRecord, write_json, write_sample
from dinar.fitting.multiview import (
    MultiViewFitter,
    MultiViewResult,
    ViewTarget,
    multiview_config,
)
from dinar.fitting.photo import CropBox, square_crop
from dinar.fitting.points import COCO_KEYPOINTS
from dinar.geometry.calibration import read_calibration, undistort_image
from dinar.geometry.camera import Camera
from dinar.images import write_png
from dinar.utils import atomic_path

logger = logging.getLogger(__name__)

CAPTURE_FORMAT = "dinar-capture/1"


@dataclass
class ViewDetection:
    """The person in one undistorted frame: keypoints, confidences and mask in frame pixels (dinar's convention)."""

    keypoints: np.ndarray  # [K, 2] COCO_KEYPOINTS order
    confidence: np.ndarray  # [K] in [0, 1], 0 where missing
    mask: np.ndarray  # [H, W] float32 person mask in [0, 1]
    crop: CropBox | None = None  # the square around the person (None: computed from keypoints and mask)


PersonDetector = Callable[[np.ndarray, str], ViewDetection]
"""``(undistorted frame [H, W, 3] uint8, camera name) -> ViewDetection``."""


Box = tuple[float, float, float, float]
"""A person's region in a frame: x0, y0, x1, y1, undistorted frame pixels."""


def blazepose_detector(crop_size: int = 512, boxes: dict[str, Box] | None = None) -> PersonDetector:
    """The photo machinery's detector (:func:`dinar.fitting.observe.observe_person`: BlazePose keypoints and mask, the
    ``photo`` extra). The person inside ``boxes[camera]`` where the camera has a box (a frame with several people:
    say which one, per camera), else the only one, else the largest."""
    from dinar.fitting.observe import observe_person
    from dinar.fitting.photo import PhotoError, SeveralPeopleError, load_photo

    by_key = {name_key(c): b for c, b in (boxes or {}).items()}

    def detect(frame: np.ndarray, camera: str) -> ViewDetection:
        photo = load_photo(frame)
        box = by_key.get(name_key(camera))
        try:
            try:
                obs = observe_person(photo, box=box, crop_size=crop_size)
            except SeveralPeopleError as err:
                largest = max(err.boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
                obs = observe_person(photo, box=largest, crop_size=crop_size)
        except PhotoError as err:
            raise CaptureError(f"camera {camera!r}: {err}; leave this camera out with --cameras, or choose other frames") from None
        kp, conf = obs.coco_keypoints()
        return ViewDetection(kp, conf, obs.mask, obs.crop)

    return detect


@dataclass(frozen=True)
class CaptureConfig:
    """What :func:`import_capture` does (module docstring)."""

    calibration: Path
    sources: Path | tuple[Path, ...]  # a folder of videos / frame folders, or one per camera
    output_dir: Path
    name: str | None = None  # person id (default: the calibration's folder name, or the sources')
    frames: tuple[int, ...] | None = None  # frame indices (default: all)
    cameras: tuple[str, ...] | None = None  # camera names to use (default: all of the calibration)
    crop_size: int = 512
    fit_preset: str = "default"  # the fitter's iterations: default | fast
    binning: int = 1  # Qualisys pixel binning (540p filming on a 1080p sensor: 2)
    extrinsics: Path | None = None  # OpenCV extrinsics beside OpenCV intrinsics
    size_tolerance: int = 16  # frames less than this many pixels off the calibrated size are the same grid, cut or padded
    min_confidence: float = 0.2  # detections below this confidence do not count in the fit
    boxes: tuple[tuple[str, Box], ...] = ()  # (camera, its person's region): which person, where a frame shows several
    progress: bool = True


@dataclass
class InstantFit:
    """One time instant: the shared fit and, per camera, its stem and reprojection error."""

    frame: int
    fit: MultiViewResult
    stems: dict[str, str]  # camera -> stem
    reprojection_px: dict[str, float]  # camera -> mean keypoint distance, frame pixels
    silhouette_iou: dict[str, float]  # camera -> IoU of the fitted body and the person mask (crop)


@dataclass
class CaptureImport:
    """What :func:`import_capture` wrote."""

    person_dir: Path
    cameras: list[str]
    instants: list[InstantFit] = field(default_factory=list)

    def mean_reprojection_px(self) -> dict[str, float]:
        """Per camera: the reprojection error averaged over instants (frame pixels)."""
        return {c: float(np.nanmean([i.reprojection_px[c] for i in self.instants])) for c in self.cameras}


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "camera"


def frame_stem(frame: int, camera: str) -> str:
    """``f0005_cam03``: the stem of one camera's image of one instant."""
    return f"f{frame:04d}_{_safe(camera)}"


def _crop_of(det: ViewDetection, crop_size: int) -> CropBox:
    if det.crop is not None:
        return det.crop
    points = [det.keypoints[det.confidence >= 0.5]]
    rows, cols = np.nonzero(det.mask >= 0.5)
    if len(rows):
        points.append(np.array([[cols.min(), rows.min()], [cols.max() + 1, rows.max() + 1]], dtype=np.float64))
    points = np.concatenate(points)
    if len(points) == 0:
        raise CaptureError("no keypoint or mask pixel to frame the person")
    return square_crop(points, crop_size)


def view_target(name: str, det: ViewDetection, frame_camera: Camera, crop: CropBox, min_confidence: float) -> ViewTarget:
    """The multi-view fitter's target of one view, in its crop: keypoints, crop camera, crop mask and valid pixels."""
    conf = np.where(det.confidence >= min_confidence, det.confidence, 0.0)
    s = crop.out_size
    camera = Camera(K=crop.crop_intrinsics(frame_camera.K.double()).float(), R=frame_camera.R, t=frame_camera.t, width=s, height=s)
    valid = crop.apply(np.ones(det.mask.shape, np.float32)) >= 0.5
    return ViewTarget(name, torch.from_numpy(crop.photo_to_crop(det.keypoints)).float(), torch.from_numpy(conf).float(), camera,
                      torch.from_numpy(np.array(crop.apply(det.mask.astype(np.float32)))), torch.from_numpy(valid).float())


def _camera_json(camera: Camera) -> dict[str, Any]:
    s = camera.state()
    return {"K": s["K"][0], "R": s["R"][0], "t": s["t"][0], "width": s["width"], "height": s["height"]}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def import_capture(config: CaptureConfig, body: BodyModel | None = None, detector: PersonDetector | None = None) -> CaptureImport:
    """Import the capture of ``config`` (module docstring); ``detector`` replaces BlazePose (tests, other detectors)."""
    from tqdm import tqdm

    calib_path = Path(config.calibration)
    cameras = read_calibration(calib_path, extrinsics=config.extrinsics, binning=config.binning)
    sources, count = match_sources(cameras, config.sources, config.cameras, config.size_tolerance, str(calib_path))
    if len(sources) < 2:
        raise CaptureError(f"{calib_path}: a shared fit needs at least 2 cameras, {len(sources)} selected")
    _check_boxes(config.boxes, sources, str(calib_path))
    frames = tuple(range(count)) if config.frames is None else tuple(sorted(set(config.frames)))
    bad = [f for f in frames if not 0 <= f < count]
    if bad or not frames:
        raise CaptureError(f"frames {bad or list(frames)} are out of range: the recordings have {count} frames (0..{count - 1})")
    name = config.name or _safe(calib_path.resolve().parent.name)
    person_dir = Path(config.output_dir) / name
    if body is None:
        from dinar.body import load_body_model

        body = load_body_model()
    if detector is None:
        detector = blazepose_detector(config.crop_size, dict(config.boxes))
    from dinar.fitting.photo_fit import library_prior

    fitter = MultiViewFitter(body, multiview_config(config.fit_preset, len(sources)), library_prior(body))
    result = CaptureImport(person_dir, [s.camera.name for s in sources])
    previous: MultiViewResult | None = None
    bar = tqdm(total=len(frames), desc="capture", unit="instant", disable=not config.progress)
    for index, images in frames_in_lockstep(sources, frames):
        instant = _import_instant(config, body, fitter, detector, sources, index, images, person_dir, previous, calib_path,
                                  overlay=not result.instants)
        result.instants.append(instant)
        previous = instant.fit
        bar.update(1)
        bar.set_postfix_str(" ".join(f"{c} {e:.1f}px" for c, e in instant.reprojection_px.items()))
    bar.close()
    _write_splits(Path(config.output_dir), name)
    _write_summary(config, result, sources, count, calib_path)
    return result


def _check_boxes(boxes: Sequence[tuple[str, Box]], sources: Sequence[CameraSource], calibration_name: str) -> None:
    """Each box names a selected camera once and is a finite region of positive size that overlaps its frame."""
    cams = {name_key(s.camera.name): s.camera for s in sources}
    seen: set[str] = set()
    for camera, box in boxes:
        key = name_key(camera)
        if key not in cams:
            raise CaptureError(f"--box {camera}: not a selected camera of {calibration_name} (have {[c.name for c in cams.values()]})")
        if key in seen:
            raise CaptureError(f"--box {camera}: given twice; one box per camera")
        seen.add(key)
        x0, y0, x1, y1 = box
        w, h = cams[key].width, cams[key].height
        if not (all(np.isfinite(box)) and x1 > x0 and y1 > y0 and x0 < w and y0 < h and x1 > 0 and y1 > 0):
            raise CaptureError(f"--box {camera} {x0:g} {y0:g} {x1:g} {y1:g}: must be X0 Y0 X1 Y1 with X1 > X0, Y1 > Y0, inside the "
                               f"camera's {w}x{h} frame (pixels)")


def _import_instant(config: CaptureConfig, body: BodyModel, fitter: MultiViewFitter, detector: PersonDetector,
                    sources: Sequence[CameraSource], index: int, images: list[np.ndarray], person_dir: Path,
                    previous: MultiViewResult | None, calib_path: Path, overlay: bool) -> InstantFit:
    """Undistort, detect, crop, fit and write one time instant (module docstring, steps 1-3)."""
    undistorted, detections, crops, targets, frame_cams = [], [], [], [], []
    for src, image in zip(sources, images):
        cam = src.camera
        frame = undistort_image(image, cam)
        try:
            det = detector(frame, cam.name)
        except CaptureError as err:
            raise CaptureError(f"frame {index}: {err}") from None
        if det.keypoints.shape != (len(COCO_KEYPOINTS), 2) or det.mask.shape != frame.shape[:2]:
            raise ValueError(f"the detector returned keypoints {det.keypoints.shape} and mask {det.mask.shape} for a "
                             f"{frame.shape[1]}x{frame.shape[0]} frame of {cam.name!r}")
        crop = _crop_of(det, config.crop_size)
        frame_cam = cam.to_camera()
        undistorted.append(frame)
        detections.append(det)
        crops.append(crop)
        frame_cams.append(frame_cam)
        targets.append(view_target(cam.name, det, frame_cam, crop, config.min_confidence))
    try:
        fit = fitter.fit(targets, init=previous)
    except ValueError as err:
        raise CaptureError(f"frame {index}: {err}") from None
    agreement = fit.agreement(body, targets)
    stems, reproj, ious = {}, {}, {}
    for src, frame, det, crop, frame_cam, target in zip(sources, undistorted, detections, crops, frame_cams, targets):
        name = src.camera.name
        a = agreement[name]
        stem = frame_stem(index, name)
        stems[name], reproj[name], ious[name] = stem, a.keypoints_px / crop.scale, a.silhouette_iou
        params = FitParams(pose=fit.pose[0], shape=fit.shape[0], global_orient=fit.global_orient[0], transl=fit.transl[0],
                           camera=target.camera)
        extra = {
            "source": {"capture": str(calib_path), "camera": name, "frame": index, "path": str(src.source.path),
                       "width": src.camera.width, "height": src.camera.height},
            "crop": crop.state(),
            "photo_camera": _camera_json(frame_cam),
            "calibration": src.camera.to_json(),
            "keypoints": {"names": COCO_KEYPOINTS, "photo_px": np.round(det.keypoints, 2).tolist(),
                          "confidence": np.round(det.confidence, 3).tolist()},
            "fit_agreement": {"keypoints_frame_px": round(reproj[name], 3), "keypoints_crop_px": round(a.keypoints_px, 3),
                              "keypoints_rel": round(a.keypoints_rel, 5), "silhouette_iou": round(a.silhouette_iou, 4)},
            "fit_losses": fit.losses,
            "fit_views": fit.view_names,
        }
        record = ImageRecord(body_model=body.name, person_id=person_dir.name, pose_id=index, view=src.index, fit=params, extra=extra)
        mask = (np.clip(crop.apply(det.mask.astype(np.float32)), 0, 1) * 255).round().astype(np.uint8)
        write_sample(person_dir, stem, crop.apply(frame), mask, record)
    if overlay:
        write_png(person_dir / "fit_overlay.png", overlay_views(body, fit, targets, [c.apply(f) for c, f in zip(crops, undistorted)]))
    logger.info("frame %d: reprojection %s px", index, {k: round(v, 2) for k, v in reproj.items()})
    return InstantFit(index, fit, stems, reproj, ious)


def overlay_views(body: BodyModel, fit: MultiViewResult, targets: Sequence[ViewTarget], crops: Sequence[np.ndarray], size: int = 256) -> np.ndarray:
    """One panel per view: its crop with the fitted body blended over it, the detected keypoints (green) and
    the fit's (red); every panel ``size`` pixels."""
    from dinar.fitting.photo_fit import render_shaded

    panels = []
    for target, crop, kp_fit in zip(targets, crops, fit.keypoints_2d):
        rgb, mask = render_shaded(body, fit.in_view(target.camera))
        img = crop.astype(np.float32) / 255
        img = np.where(mask[..., None], 0.45 * img + 0.55 * rgb, img)
        pil = Image.fromarray((img * 255).round().astype(np.uint8)).resize((size, size), Image.Resampling.BILINEAR)
        draw = ImageDraw.Draw(pil)
        s = size / target.camera.width
        for points, colour, conf in ((target.keypoints, (40, 220, 60), target.confidence), (kp_fit, (230, 40, 40), None)):
            for j, (x, y) in enumerate(points.tolist()):
                if conf is not None and float(conf[j]) <= 0:
                    continue
                draw.ellipse([x * s - 2.5, y * s - 2.5, x * s + 2.5, y * s + 2.5], fill=colour)
        draw.text((4, 4), target.name, fill=(255, 255, 0))
        panels.append(np.asarray(pil))
    return np.concatenate(panels, axis=1)


def _write_splits(root: Path, person: str) -> None:
    """Add ``person`` to the test split of ``root/splits.json`` (kept when several captures share a folder)."""
    path = root / "splits.json"
    splits = {"train": [], "val": [], "test": []}
    if path.is_file():
        try:
            splits.update(json.loads(path.read_text()))
        except json.JSONDecodeError as err:
            raise CaptureError(f"{path}: unreadable ({err}); remove it or fix it") from None
    splits = {k: [p for p in members if p != person] for k, members in splits.items()}
    splits["test"] = sorted([*splits["test"], person])
    write_json(path, splits)


def _write_summary(config: CaptureConfig, result: CaptureImport, sources: Sequence[CameraSource], count: int, calib_path: Path) -> None:
    doc = {
        "format": CAPTURE_FORMAT,
        "calibration": {"path": str(calib_path), "sha256": _sha256(calib_path)},
        "cameras": [{"name": s.camera.name, "view": s.index, "source": str(s.source.path), "size": [s.camera.width, s.camera.height],
                     "calibrated_size": list(s.calibrated_size), "distortion": s.camera.dist.tolist()} for s in sources],
        "frames_in_recording": count,
        "frames": [i.frame for i in result.instants],
        "crop_size": config.crop_size,
        "fit_preset": config.fit_preset,
        "boxes": {camera: list(box) for camera, box in config.boxes},
        "reprojection_px": {"mean": {k: round(v, 3) for k, v in result.mean_reprojection_px().items()},
                            "per_frame": {str(i.frame): {k: round(v, 3) for k, v in i.reprojection_px.items()} for i in result.instants}},
        "silhouette_iou": {str(i.frame): {k: round(v, 4) for k, v in i.silhouette_iou.items()} for i in result.instants},
    }
    with atomic_path(result.person_dir / "capture.json") as tmp:
        tmp.write_text(json.dumps(doc, indent=1) + "\n")


def capture_config(**kwargs: Any) -> CaptureConfig:
    """A :class:`CaptureConfig` from keyword options, with paths and sequences normalised (the command's helper)."""
    sources = kwargs.get("sources")
    if isinstance(sources, (list, tuple)):
        kwargs["sources"] = Path(sources[0]) if len(sources) == 1 else tuple(Path(p) for p in sources)
    for key in ("frames", "cameras"):
        if kwargs.get(key) is not None:
            kwargs[key] = tuple(kwargs[key])
    if kwargs.get("boxes") is not None:  # {camera: box} or (camera, box) pairs
        boxes = kwargs["boxes"].items() if isinstance(kwargs["boxes"], dict) else kwargs["boxes"]
        kwargs["boxes"] = tuple((str(camera), tuple(float(v) for v in box)) for camera, box in boxes)
    return dataclasses.replace(CaptureConfig(calibration=Path(kwargs.pop("calibration")), sources=kwargs.pop("sources"),
                                             output_dir=Path(kwargs.pop("output_dir"))), **kwargs)


__all__ = ["Box", "CaptureConfig", "CaptureError", "CaptureImport", "InstantFit", "PersonDetector", "ViewDetection",
           "blazepose_detector", "capture_config", "frame_stem", "import_capture", "overlay_views", "view_target"]
