"""One person of a photo, observed: detection, the choice among several people, landmarks, mask and
the square crop the fit and the avatar work in (:class:`PhotoObservation`), with clear errors for no
person, several people and a body cut off."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from dinar.fitting.detection import (
    _clip_box,
    _landmarks_in,
    _landmarks_of,
    detect_people,
)
from dinar.fitting.fitter import FitTarget
from dinar.fitting.photo import (
    BLAZEPOSE_TO_COCO,
    BodyCutOffError,
    CropBox,
    NoPersonError,
    Photo,
    PhotoError,
    SeveralPeopleError,
    cut_off_parts,
    square_crop,
)
from dinar.geometry.camera import intrinsics


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
        if all(p.cut_off for p in people):
            listing = "; ".join(f"{i}: {', '.join(p.cut_off)}" for i, p in enumerate(people))
            raise BodyCutOffError(f"found {len(people)} people, every one cut off (not in the photo: {listing}); "
                                  "the fit needs a photo with at least one whole body")
        raise SeveralPeopleError([p.extent or p.box for p in people], [p.cut_off or [] for p in people])
    else:
        found = _landmarks_in(photo, (0, 0, W, H), max_side)
        if found is None and people:
            found = _landmarks_of(photo, people, 0, max_side)
    if found is None and people:
        where = "; ".join(f"x {p.box[0]:.0f}-{p.box[2]:.0f}, y {p.box[1]:.0f}-{p.box[3]:.0f}" for p in people)
        raise BodyCutOffError(f"found {len(people)} person(s) ({where}) but not enough of the body to fit: it is cut off by the "
                              "photo's edge or hidden; the fit needs both shoulders, both hips and one whole leg (knee and ankle)")
    if found is None:
        raise NoPersonError("no person found in the photo" + (" inside the given box" if box is not None else ""))
    landmarks, visibility, segmentation, region = found
    x0, y0, x1, y1 = region
    sw, sh = x1 - x0, y1 - y0
    _check_body_visible(landmarks, visibility, W, H, min_visibility)

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


def _check_body_visible(landmarks: np.ndarray, visibility: np.ndarray, width: int, height: int, threshold: float) -> None:
    missing = cut_off_parts(landmarks, visibility, width, height, threshold)
    if missing:
        raise BodyCutOffError(
            "too much of the body is cut off or hidden to fit it (not in the photo: " + ", ".join(missing) + "); "
            "the fit needs both shoulders, both hips and one whole leg (knee and ankle) in the photo"
        )
