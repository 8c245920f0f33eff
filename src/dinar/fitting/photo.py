"""A plain photo -> one person's mask, 33 BlazePose landmarks and a square crop (paper 4.2 inputs).

The paper prepares photos with Graphonomy (mask), OpenPose (keypoints) and SMPLify-X (fit). Here the
mask and keypoints come from MediaPipe BlazePose, whose models ship inside the ``mediapipe``
0.10.21 wheel (``pose_detection.tflite``, ``pose_landmark_full.tflite``; no download, later
releases ship none): the optional extra ``pip install 'dinar[photo]'``. The body fit is
:mod:`dinar.fitting.fitter`; :mod:`dinar.fitting.photo_fit` joins the two.

Coordinates: pixels of the photo after its EXIF orientation is applied, ``(x, y)`` with the centre
of pixel ``(col, row)`` at ``(col + 0.5, row + 0.5)`` (as the cameras). The crop is a square of the
photo (it may reach past the photo's edges, padded black) resized to ``out_size`` (512 by default,
the paper's framing); :class:`CropBox` maps points and cameras between the two.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from dinar.fitting.fitter import FitTarget
from dinar.fitting.points import COCO_KEYPOINTS
from dinar.geometry.camera import intrinsics
from dinar.images import ImageError, open_image, rgb_of, to_uint8
from dinar.utils import quiet_native_stderr

logger = logging.getLogger(__name__)

PHOTO_EXTRA_HINT = "pip install 'dinar[photo]'"

BLAZEPOSE_LANDMARKS = [
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
]  # fmt: skip
"""The 33 BlazePose landmarks; ``left`` is the subject's left."""

_COCO_FROM_BLAZEPOSE = {
    "nose": "nose", "left_eye": "left_eye", "right_eye": "right_eye", "left_ear": "left_ear", "right_ear": "right_ear",
    "left_shoulder": "left_shoulder", "right_shoulder": "right_shoulder", "left_elbow": "left_elbow",
    "right_elbow": "right_elbow", "left_wrist": "left_wrist", "right_wrist": "right_wrist", "left_hip": "left_hip",
    "right_hip": "right_hip", "left_knee": "left_knee", "right_knee": "right_knee", "left_ankle": "left_ankle",
    "right_ankle": "right_ankle", "left_big_toe": "left_foot_index", "right_big_toe": "right_foot_index",
    "left_heel": "left_heel", "right_heel": "right_heel",
}  # fmt: skip
BLAZEPOSE_TO_COCO = [BLAZEPOSE_LANDMARKS.index(_COCO_FROM_BLAZEPOSE[n]) if n in _COCO_FROM_BLAZEPOSE else -1 for n in COCO_KEYPOINTS]
"""For each of :data:`~dinar.fitting.points.COCO_KEYPOINTS`, its BlazePose landmark (-1: none; the small toes)."""

_REQUIRED = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
_KNEES = ("left_knee", "right_knee")


class PhotoError(ValueError):
    """A photo that cannot become a body fit; the message says why and what to do."""


class NoPersonError(PhotoError):
    pass


class SeveralPeopleError(PhotoError):
    def __init__(self, boxes: list[tuple[float, float, float, float]]) -> None:
        self.count = len(boxes)
        self.boxes = boxes
        listing = "; ".join(f"{i}: x {b[0]:.0f}-{b[2]:.0f}, y {b[1]:.0f}-{b[3]:.0f}" for i, b in enumerate(boxes))
        super().__init__(
            f"found {self.count} people in the photo ({listing}, numbered left to right); "
            f"choose one with --person-index 0..{self.count - 1} or --box X0 Y0 X1 Y1 (pixels)"
        )


class BodyCutOffError(PhotoError):
    pass


class MissingPhotoExtraError(RuntimeError):
    """mediapipe (the person detector) is not installed."""

    def __init__(self) -> None:
        super().__init__(f"finding the person in a photo needs mediapipe 0.10.21 (its BlazePose models ship in the wheel): {PHOTO_EXTRA_HINT}")


# Loading -------------------------------------------------------------------------------------


@dataclass
class Photo:
    """An RGB photo at full resolution, upright."""

    image: np.ndarray  # [H, W, 3] uint8 RGB with the EXIF orientation applied
    alpha: np.ndarray | None = None  # [H, W] float32 in [0, 1] where the file had transparency
    path: str | None = None

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


def load_photo(source: str | Path | Image.Image | np.ndarray) -> Photo:
    """Read a photo through :mod:`dinar.images` (EXIF orientation applied; RGBA, LA, palette, grayscale,
    16-bit and float -> RGB uint8; transparent images over white, their alpha kept)."""
    path = None
    if isinstance(source, np.ndarray):
        array = source
        if array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4)):
            array = to_uint8(array)
            img = Image.fromarray(array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array)
        else:
            raise ValueError(f"an image array must be [H, W], [H, W, 3] or [H, W, 4], got {array.shape}")
    elif isinstance(source, Image.Image):
        img = ImageOps.exif_transpose(source)
    else:
        path = str(source)
        try:
            img = open_image(path, "photo")
        except ImageError as err:
            raise PhotoError(str(err)) from err
    rgb, alpha = rgb_of(img)
    return Photo(rgb, alpha, path)


# The crop ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CropBox:
    """A square of the photo resized to ``out_size`` pixels: ``crop = (photo - (x0, y0)) * out_size / size``."""

    x0: float  # left edge in photo pixels (may be negative)
    y0: float  # top edge in photo pixels
    size: float  # side in photo pixels
    out_size: int  # side of the crop image in pixels

    @property
    def scale(self) -> float:
        return self.out_size / self.size

    def photo_to_crop(self, points: np.ndarray) -> np.ndarray:
        """``[..., 2]`` photo pixel coordinates -> crop pixel coordinates."""
        return (np.asarray(points, dtype=np.float64) - [self.x0, self.y0]) * self.scale

    def crop_to_photo(self, points: np.ndarray) -> np.ndarray:
        """``[..., 2]`` crop pixel coordinates -> photo pixel coordinates."""
        return np.asarray(points, dtype=np.float64) / self.scale + [self.x0, self.y0]

    def crop_intrinsics(self, K: torch.Tensor) -> torch.Tensor:
        """Photo intrinsics ``[..., 3, 3]`` -> the crop image's (same rays, same extrinsics)."""
        A = torch.tensor([[self.scale, 0.0, -self.x0 * self.scale], [0.0, self.scale, -self.y0 * self.scale], [0.0, 0.0, 1.0]], dtype=K.dtype)
        return A @ K

    def photo_intrinsics(self, K: torch.Tensor) -> torch.Tensor:
        """The crop image's intrinsics ``[..., 3, 3]`` -> the photo's."""
        A = torch.tensor([[1 / self.scale, 0.0, self.x0], [0.0, 1 / self.scale, self.y0], [0.0, 0.0, 1.0]], dtype=K.dtype)
        return A @ K

    def apply(self, image: np.ndarray, resample: int = Image.Resampling.BILINEAR) -> np.ndarray:
        """Cut this square out of ``image`` (``[H, W, 3]`` uint8 or ``[H, W]`` float), zero outside the photo."""
        box = (self.x0, self.y0, self.x0 + self.size, self.y0 + self.size)
        if image.ndim == 2:
            img = Image.fromarray(image.astype(np.float32), mode="F")
            out = img.transform((self.out_size, self.out_size), Image.Transform.EXTENT, box, resample=resample, fillcolor=0.0)
            return np.asarray(out, dtype=np.float32)
        img = Image.fromarray(image)
        out = img.transform((self.out_size, self.out_size), Image.Transform.EXTENT, box, resample=resample, fillcolor=(0, 0, 0))
        return np.asarray(out)

    def state(self) -> dict:
        return {"x0": self.x0, "y0": self.y0, "size": self.size, "out_size": self.out_size}

    @classmethod
    def from_state(cls, state: dict) -> CropBox:
        return cls(float(state["x0"]), float(state["y0"]), float(state["size"]), int(state["out_size"]))


def square_crop(points: np.ndarray, out_size: int = 512, margin: float = 0.1) -> CropBox:
    """The square around ``points [N, 2]`` (photo pixels) with ``margin`` of its side on every edge."""
    lo, hi = points.min(0), points.max(0)
    centre = (lo + hi) / 2
    side = float(max(hi - lo)) * (1 + 2 * margin)
    side = max(side, 16.0)
    return CropBox(float(centre[0] - side / 2), float(centre[1] - side / 2), side, out_size)


# Detection -------------------------------------------------------------------------------------


@dataclass
class PersonDetection:
    """One person found by BlazePose's detector, in photo pixels."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1 around the whole body (from the body circle)
    score: float
    hip_centre: tuple[float, float]
    extent: tuple[float, float, float, float] | None = None  # around the visible landmarks, when several people were checked


@dataclass
class PhotoObservation:
    """What a photo shows of one person: landmarks, a mask and the crop the fit works in."""

    photo: Photo
    landmarks: np.ndarray  # [33, 2] BlazePose landmarks, photo pixels (BLAZEPOSE_LANDMARKS order)
    visibility: np.ndarray  # [33] landmark confidence in [0, 1] (0 outside the photo)
    mask: np.ndarray  # [H, W] float32 person mask in [0, 1], full resolution
    crop: CropBox
    num_people: int  # people the detector found in the photo
    person_index: int | None = None  # which of them (numbered left to right), None when alone or boxed

    def coco_keypoints(self) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints ``[23, 2]`` (photo pixels) and confidences ``[23]`` in COCO_KEYPOINTS order."""
        idx = np.array(BLAZEPOSE_TO_COCO)
        kp = self.landmarks[np.maximum(idx, 0)].copy()
        conf = np.where(idx >= 0, self.visibility[np.maximum(idx, 0)], 0.0)
        kp[idx < 0] = 0.0
        return kp, conf

    def crop_image(self) -> np.ndarray:
        """The person's square crop, ``[S, S, 3]`` uint8."""
        return self.crop.apply(self.photo.image)

    def crop_mask(self) -> np.ndarray:
        """The person mask in the crop, ``[S, S]`` float32."""
        return self.crop.apply(self.mask)

    def photo_intrinsics(self, focal: float | None = None) -> torch.Tensor:
        """The photo's ``[3, 3]`` intrinsics: ``focal`` pixels (default 1.2 * the longer side), centred."""
        f = 1.2 * max(self.photo.width, self.photo.height) if focal is None else focal
        return intrinsics(f, self.photo.width, self.photo.height)[0]

    def fit_target(self, focal: float | None = None, min_confidence: float = 0.2) -> FitTarget:
        """The fitter's target in the crop: keypoints, confidences, mask and the crop's intrinsics."""
        kp, conf = self.coco_keypoints()
        conf = np.where(conf >= min_confidence, conf, 0.0)
        s = self.crop.out_size
        return FitTarget(
            keypoints=torch.from_numpy(self.crop.photo_to_crop(kp)).float(),
            confidence=torch.from_numpy(conf).float(),
            width=s,
            height=s,
            mask=torch.from_numpy(self.crop_mask().copy()),
            K=self.crop.crop_intrinsics(self.photo_intrinsics(focal)),
            valid=torch.from_numpy(self.crop.apply(np.ones((self.photo.height, self.photo.width), np.float32)) >= 0.5).float(),
        )


def _import_mediapipe():
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        with quiet_native_stderr():
            import mediapipe
    except ImportError as err:
        raise MissingPhotoExtraError() from err
    return mediapipe


def mediapipe_available() -> bool:
    """Whether the optional person detector (the ``photo`` extra) is installed."""
    try:
        _import_mediapipe()
    except MissingPhotoExtraError:
        return False
    return True


_LOCK = threading.Lock()  # mediapipe graphs are not re-entrant


@functools.lru_cache(maxsize=1)
def _pose_landmarker():
    """BlazePose (detector + full landmark model + segmentation) for single images.

    The graph of ``mediapipe.solutions.pose.Pose``, built without its calculator-option overrides
    (their defaults are Pose's: 0.5 thresholds): overriding options walks protobuf descriptors in a
    way protobuf >= 6 no longer supports, while the graph itself runs on any protobuf (tested on
    4.25 and 7.36). ``model_complexity=1`` is ``pose_landmark_full.tflite``, the one shipped in the
    wheel (0 and 2 would download).
    """
    _import_mediapipe()
    from mediapipe.python.solution_base import SolutionBase
    from mediapipe.python.solutions import pose

    side = {"model_complexity": 1, "smooth_landmarks": False, "enable_segmentation": True, "smooth_segmentation": False, "use_prev_landmarks": False}
    return SolutionBase(binary_graph_path=pose._BINARYPB_FILE_PATH, side_inputs=side, outputs=["pose_landmarks", "segmentation_mask"])


@functools.lru_cache(maxsize=1)
def _pose_detector():
    _import_mediapipe()
    from google.protobuf import text_format
    from mediapipe.framework import calculator_pb2
    from mediapipe.python.solution_base import SolutionBase

    graph = text_format.Parse(
        'input_stream: "image" output_stream: "detections" '
        'node { calculator: "PoseDetectionCpu" input_stream: "IMAGE:image" output_stream: "DETECTIONS:detections" }',
        calculator_pb2.CalculatorGraphConfig(),
    )
    return SolutionBase(graph_config=graph, outputs=["detections"])


def _downscale(image: np.ndarray, max_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    s = max_side / max(h, w)
    if s >= 1:
        return np.ascontiguousarray(image)
    return np.asarray(Image.fromarray(image).resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BILINEAR))


def _detection_windows(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Where to run the person detector: the whole image, then squares of its shorter side and of half
    that, each overlapping its neighbours by half.

    BlazePose's detector sees its input at 224 x 224 and is trained on people who fill much of it: a
    second person a few metres behind the first falls under its threshold on the whole photo, but not
    in a window around them (measured on the real test photos).
    """
    windows = [(0, 0, width, height)]
    for side in (min(width, height), min(width, height) // 2):
        if side < 96:
            continue
        step = side // 2
        xs = sorted({*range(0, width - side + 1, step), width - side})
        ys = sorted({*range(0, height - side + 1, step), height - side})
        windows += [(x, y, x + side, y + side) for y in ys for x in xs if (x, y, x + side, y + side) not in windows]
    return windows


def _detect_in(image: np.ndarray, window: tuple[int, int, int, int], min_score: float) -> list[PersonDetection]:
    """People the detector finds in one window of ``image``, in ``image`` pixels.

    A detection whose body circle reaches well past a window edge that is not the image's edge is a
    person the window cuts through; the window that holds them whole reports them instead.
    """
    x0, y0, x1, y1 = window
    H, W = image.shape[:2]
    with _LOCK, quiet_native_stderr():
        result = _pose_detector().process({"image": np.ascontiguousarray(image[y0:y1, x0:x1])})
    found = []
    for det in result.detections or []:
        score = float(det.score[0]) if det.score else 0.0
        if score < min_score:
            continue
        kps = det.location_data.relative_keypoints
        hip = np.array([x0 + kps[0].x * (x1 - x0), y0 + kps[0].y * (y1 - y0)])
        edge = np.array([x0 + kps[1].x * (x1 - x0), y0 + kps[1].y * (y1 - y0)])
        r = float(np.linalg.norm(edge - hip))
        slack = 0.25 * r
        cut = (x0 > 0 and hip[0] - r < x0 - slack) or (y0 > 0 and hip[1] - r < y0 - slack) or (x1 < W and hip[0] + r > x1 + slack) or (y1 < H and hip[1] + r > y1 + slack)
        if not cut:
            found.append(PersonDetection((hip[0] - r, hip[1] - r, hip[0] + r, hip[1] + r), score, (float(hip[0]), float(hip[1]))))
    return found


def detect_people(photo: Photo, max_side: int = 1280, min_score: float = 0.5, min_relative_size: float = 0.3) -> list[PersonDetection]:
    """Everyone BlazePose's person detector finds, numbered left to right (by hip centre).

    The detector runs on the whole photo and on overlapping windows (:func:`_detection_windows`);
    detections of one person from several windows are merged (hip centres closer than half the body
    radius). People smaller than ``min_relative_size`` times the largest one (passers-by far behind
    the subject) are not counted.
    """
    small = _downscale(photo.image, max_side)
    scale = photo.width / small.shape[1]
    candidates = [d for w in _detection_windows(small.shape[1], small.shape[0]) for d in _detect_in(small, w, min_score)]
    kept: list[PersonDetection] = []
    for d in sorted(candidates, key=lambda d: -d.score):
        r = (d.box[2] - d.box[0]) / 2
        if all(np.hypot(d.hip_centre[0] - k.hip_centre[0], d.hip_centre[1] - k.hip_centre[1]) >= 0.5 * max(r, (k.box[2] - k.box[0]) / 2) for k in kept):
            kept.append(d)
    if kept:
        largest = max(k.box[2] - k.box[0] for k in kept)
        small_ones = [k for k in kept if k.box[2] - k.box[0] < min_relative_size * largest]
        if small_ones:
            logger.info("ignoring %d much smaller person(s) in the background", len(small_ones))
        kept = [k for k in kept if k not in small_ones]
    people = [PersonDetection(tuple(v * scale for v in k.box), k.score, (k.hip_centre[0] * scale, k.hip_centre[1] * scale)) for k in kept]
    if len(people) > 1:  # the windows' weaker detections include objects: keep whom BlazePose finds a torso for
        checked = [(p, _torso_extent(photo, p.box, max_side)) for p in people]
        people = [dataclasses.replace(p, extent=extent) for p, extent in checked if extent is not None]
    return sorted(people, key=lambda d: d.hip_centre[0])


def _torso_extent(photo: Photo, box: tuple[float, float, float, float], max_side: int, min_visibility: float = 0.5):
    """If BlazePose's landmark model finds both shoulders and both hips around ``box``: a box around the
    visible landmarks (grown by 10% of their height, so the top of the head is in), else None."""
    found = _landmarks_in(photo, _clip_box(box, photo.width, photo.height, 0.15), max_side)
    if found is None or not all(found[1][BLAZEPOSE_LANDMARKS.index(n)] >= min_visibility for n in _REQUIRED):
        return None
    points = found[0][found[1] >= min_visibility]
    (x0, y0), (x1, y1) = points.min(0), points.max(0)
    pad = 0.1 * (y1 - y0)
    return (max(0.0, x0 - pad), max(0.0, y0 - pad), min(float(photo.width), x1 + pad), min(float(photo.height), y1 + pad))


def _clip_box(box: tuple[float, float, float, float], width: int, height: int, grow: float) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * grow, (y1 - y0) * grow
    return max(0, int(x0 - dx)), max(0, int(y0 - dy)), min(width, int(np.ceil(x1 + dx))), min(height, int(np.ceil(y1 + dy)))


def _landmarks_in(photo: Photo, region: tuple[int, int, int, int], max_side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple[int, int, int, int]] | None:
    """BlazePose on one region of the photo: landmarks ``[33, 2]`` (photo pixels), their visibility
    (0 outside the photo), the region's segmentation (or None) and the region; None if nobody is there."""
    W, H = photo.width, photo.height
    x0, y0, x1, y1 = region
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise PhotoError(f"the person's region {region} is empty or outside the photo ({W}x{H})")
    with _LOCK, quiet_native_stderr():
        result = _pose_landmarker().process({"image": _downscale(photo.image[y0:y1, x0:x1], max_side)})
    if result.pose_landmarks is None:
        return None
    lm = result.pose_landmarks.landmark
    landmarks = np.array([[p.x * (x1 - x0) + x0, p.y * (y1 - y0) + y0] for p in lm], dtype=np.float64)
    visibility = np.array([p.visibility for p in lm], dtype=np.float64)
    inside = (landmarks[:, 0] >= 0) & (landmarks[:, 0] < W) & (landmarks[:, 1] >= 0) & (landmarks[:, 1] < H)
    segmentation = None if result.segmentation_mask is None else np.asarray(result.segmentation_mask, dtype=np.float32)
    return landmarks, np.where(inside, visibility, 0.0), segmentation, region


def _landmarks_of(photo: Photo, people: list[PersonDetection], index: int, max_side: int):
    """BlazePose landmarks of ``people[index]``: in the widest region around them where the landmark
    model finds that person (its hips near the detection's) and not a neighbour.

    A tight box around the detection can cut off raised arms or a pole held far out, which makes
    the landmark model guess; so wide regions are tried first (when none matches, the tightest one's
    landmarks are returned). One person: the whole photo.
    """
    W, H = photo.width, photo.height
    if len(people) == 1:
        return _landmarks_in(photo, (0, 0, W, H), max_side)
    person = people[index]
    radius = (person.box[2] - person.box[0]) / 2
    hips = [BLAZEPOSE_LANDMARKS.index("left_hip"), BLAZEPOSE_LANDMARKS.index("right_hip")]
    found = None
    for grow in (0.6, 0.3, 0.1):
        found = _landmarks_in(photo, _clip_box(person.box, W, H, grow), max_side)
        if found is not None and np.hypot(*(found[0][hips].mean(0) - person.hip_centre)) < 0.5 * radius:
            return found
    return found


def observe_person(
    photo: Photo,
    person_index: int | None = None,
    box: tuple[float, float, float, float] | None = None,
    crop_size: int = 512,
    margin: float = 0.1,
    max_side: int = 1280,
    min_visibility: float = 0.5,
) -> PhotoObservation:
    """Find one person: BlazePose landmarks and mask, checked, with the square crop around them.

    Several people need ``person_index`` (left to right) or ``box`` (x0, y0, x1, y1 photo pixels).
    Raises :class:`NoPersonError`, :class:`SeveralPeopleError` or :class:`BodyCutOffError`.
    """
    W, H = photo.width, photo.height
    people = detect_people(photo, max_side)
    if box is not None:
        x0, y0, x1, y1 = box
        if not (x1 > x0 and y1 > y0):
            raise PhotoError(f"--box must be X0 Y0 X1 Y1 with X1 > X0 and Y1 > Y0, got {box}")
        found = _landmarks_in(photo, _clip_box(box, W, H, 0.1), max_side)
    elif person_index is not None:
        if not people:
            raise NoPersonError("no person found in the photo")
        if not 0 <= person_index < len(people):
            raise PhotoError(f"--person-index {person_index} is out of range: found {len(people)} people (0..{len(people) - 1}, left to right)")
        found = _landmarks_of(photo, people, person_index, max_side)
    elif len(people) > 1:
        raise SeveralPeopleError([p.extent or p.box for p in people])
    else:
        found = _landmarks_in(photo, (0, 0, W, H), max_side)
    if found is None:
        raise NoPersonError("no person found in the photo" + (" inside the given box" if box is not None else ""))
    landmarks, visibility, segmentation, region = found
    x0, y0, x1, y1 = region
    sw, sh = x1 - x0, y1 - y0
    _check_body_visible(visibility, min_visibility)

    mask = np.zeros((H, W), dtype=np.float32)
    if segmentation is not None:
        seg = Image.fromarray(segmentation, mode="F").resize((sw, sh), Image.Resampling.BILINEAR)
        mask[y0:y1, x0:x1] = np.clip(np.asarray(seg), 0, 1)
    if photo.alpha is not None and photo.alpha.min() < 0.5 < photo.alpha.max():
        mask = np.zeros_like(mask)
        mask[y0:y1, x0:x1] = photo.alpha[y0:y1, x0:x1]  # the user's own cut-out beats any segmenter
    mask = _person_component(mask, landmarks[visibility >= min_visibility])
    rows, cols = np.nonzero(mask >= 0.5)
    extent = [landmarks[visibility >= min_visibility]]
    if len(rows):
        extent.append(np.array([[cols.min(), rows.min()], [cols.max() + 1, rows.max() + 1]], dtype=np.float64))
    crop = square_crop(np.concatenate(extent), crop_size, margin)
    return PhotoObservation(photo, landmarks, visibility, mask, crop, max(len(people), 1), person_index)


def _person_component(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Keep the parts of ``mask`` connected to the person's visible landmarks (drops a neighbour's arm)."""
    from scipy import ndimage

    labels, count = ndimage.label(mask >= 0.5)
    if count <= 1:
        return mask
    h, w = mask.shape
    ij = np.clip(points[:, ::-1].astype(int), 0, [h - 1, w - 1])
    keep = np.unique(labels[ij[:, 0], ij[:, 1]])
    keep = keep[keep > 0]
    if len(keep) == 0:
        return mask
    soft = ndimage.binary_dilation(np.isin(labels, keep), iterations=2)  # keep the soft edge too
    return np.where(soft, mask, 0.0).astype(np.float32)


def _check_body_visible(visibility: np.ndarray, threshold: float) -> None:
    names = BLAZEPOSE_LANDMARKS
    missing = [n for n in _REQUIRED if visibility[names.index(n)] < threshold]
    if all(visibility[names.index(n)] < threshold for n in _KNEES):
        missing.append("both knees")
    if missing:
        raise BodyCutOffError(
            "too much of the body is cut off or hidden to fit it (not visible: " + ", ".join(m.replace("_", " ") for m in missing) + "); "
            "the fit needs both shoulders, both hips and at least one knee in the photo"
        )
