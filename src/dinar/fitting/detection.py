"""Finding people in a photo with MediaPipe BlazePose (the optional ``photo`` extra): the person
detector on the whole photo and on overlapping windows, and the 33 landmarks and person mask of one
person from the widest region that holds them. The models ship inside the ``mediapipe`` 0.10.21 wheel."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import threading

import numpy as np
from PIL import Image

from dinar.fitting.photo import (
    _REQUIRED,
    BLAZEPOSE_LANDMARKS,
    MissingPhotoExtraError,
    PersonDetection,
    Photo,
    PhotoError,
    cut_off_parts,
)
from dinar.utils import quiet_native_stderr

logger = logging.getLogger(__name__)


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
        people = [dataclasses.replace(p, extent=found[0], cut_off=found[1]) for p, found in checked if found is not None]
    return sorted(people, key=lambda d: d.hip_centre[0])


def _torso_extent(photo: Photo, box: tuple[float, float, float, float], max_side: int, min_visibility: float = 0.5):
    """If BlazePose's landmark model finds both shoulders and both hips around ``box``: a box around the
    visible landmarks (grown by 10% of their height, so the top of the head is in) and the parts of the
    body that are not in the photo (:func:`~dinar.fitting.photo.cut_off_parts`), else None."""
    found = _landmarks_in(photo, _clip_box(box, photo.width, photo.height, 0.15), max_side)
    if found is None or not all(found[1][BLAZEPOSE_LANDMARKS.index(n)] >= min_visibility for n in _REQUIRED):
        return None
    points = found[0][found[1] >= min_visibility]
    (x0, y0), (x1, y1) = points.min(0), points.max(0)
    pad = 0.1 * (y1 - y0)
    extent = (max(0.0, x0 - pad), max(0.0, y0 - pad), min(float(photo.width), x1 + pad), min(float(photo.height), y1 + pad))
    return extent, cut_off_parts(found[0], found[1], photo.width, photo.height, min_visibility)


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
