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

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from dinar.fitting.points import COCO_KEYPOINTS
from dinar.images import ImageError, open_image, rgb_of, to_uint8

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
    def __init__(self, boxes: list[tuple[float, float, float, float]], cut_off: list[list[str]] | None = None) -> None:
        self.count = len(boxes)
        self.boxes = boxes
        notes = [f" (cut off: {', '.join(parts)})" if parts else "" for parts in (cut_off or [[] for _ in boxes])]
        listing = "; ".join(f"{i}: x {b[0]:.0f}-{b[2]:.0f}, y {b[1]:.0f}-{b[3]:.0f}{note}" for i, (b, note) in enumerate(zip(boxes, notes)))
        super().__init__(
            f"found {self.count} people in the photo ({listing}, numbered left to right); "
            f"choose one with --person-index 0..{self.count - 1} or --box X0 Y0 X1 Y1 (pixels)"
        )


class BodyCutOffError(PhotoError):
    pass


def cut_off_parts(landmarks: np.ndarray, visibility: np.ndarray, width: int, height: int, threshold: float = 0.5) -> list[str]:
    """The parts a fit needs that are not in the photo, or [] when the body is whole enough to fit.

    A fit needs both shoulders and both hips, and one whole leg: a visible knee with its ankle inside the
    photo (BlazePose guesses landmarks past the photo's edge; a knee alone, the thighs cut off below it,
    lets the fit swing the lower leg anywhere).
    """
    names = BLAZEPOSE_LANDMARKS

    def seen(name: str) -> bool:
        return bool(visibility[names.index(name)] >= threshold)

    def inside(name: str) -> bool:
        x, y = landmarks[names.index(name)]
        return bool(-0.02 * width <= x <= 1.02 * width and -0.02 * height <= y <= 1.02 * height)

    missing = [n.replace("_", " ") for n in _REQUIRED if not seen(n) or not inside(n)]
    legs = [side for side in ("left", "right") if seen(f"{side}_knee") and inside(f"{side}_knee") and inside(f"{side}_ankle")]
    if not legs:
        missing.append("both lower legs" if any(seen(k) and inside(k) for k in _KNEES) else "both knees")
    return missing


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
        """The crop a fit file records; a crop with no pixels or non-finite numbers is refused."""
        import math

        try:
            box = cls(float(state["x0"]), float(state["y0"]), float(state["size"]), int(state["out_size"]))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"malformed crop {state!r} ({type(err).__name__}: {err})") from err
        if not all(math.isfinite(v) for v in (box.x0, box.y0, box.size)) or box.size <= 0 or not 0 < box.out_size <= 16384:
            raise ValueError(f"crop {state!r} has no pixels or non-finite numbers; fit the photo again (dinar fit)")
        return box


def square_crop(points: np.ndarray, out_size: int = 512, margin: float = 0.1) -> CropBox:
    """The square around ``points [N, 2]`` (photo pixels) with ``margin`` of its side on every edge."""
    lo, hi = points.min(0), points.max(0)
    centre = (lo + hi) / 2
    side = float(max(hi - lo)) * (1 + 2 * margin)
    side = max(side, 16.0)
    return CropBox(float(centre[0] - side / 2), float(centre[1] - side / 2), side, out_size)



@dataclass
class PersonDetection:
    """One person found by BlazePose's detector, in photo pixels."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1 around the whole body (from the body circle)
    score: float
    hip_centre: tuple[float, float]
    extent: tuple[float, float, float, float] | None = None  # around the visible landmarks, when several people were checked
    cut_off: list[str] | None = None  # what of the body is not in the photo, when several people were checked
