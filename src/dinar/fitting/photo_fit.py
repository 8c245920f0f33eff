"""A photo's body fit: photo -> person -> body fit (:class:`PhotoFit`), and the overlay that checks it.

Joins :mod:`dinar.fitting.photo` (mask and keypoints, the optional ``photo`` extra) and
:mod:`dinar.fitting.fitter` (the fitter). The fit is in the camera of the **crop** image (OpenCV,
the square crop the avatar pipeline works on); :meth:`PhotoFit.photo_camera` maps it back to the
whole photo: ``crop_pixel = (photo_pixel - (x0, y0)) * out_size / size``. Writing it as a parameter
file (``FIT.json``) or a one-image dataset is :mod:`dinar.data.photo_files`' job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from dinar.body.base import BodyModel
from dinar.fitting.agreement import FitAgreement, fit_agreement
from dinar.fitting.fitter import BodyFitter, FitConfig, FitResult
from dinar.fitting.observe import PhotoObservation, observe_person
from dinar.fitting.photo import PhotoError, load_photo
from dinar.fitting.points import COCO_KEYPOINTS, COCO_SKELETON
from dinar.geometry.camera import Camera
from dinar.geometry.outline import outline
from dinar.geometry.raster import interpolate_vertex_attr, rasterize

_PART_COLOURS = np.array([
    [0.93, 0.80, 0.70], [0.75, 0.75, 0.80],  # head, torso
    [0.55, 0.75, 0.95], [0.40, 0.60, 0.90], [0.30, 0.45, 0.80],  # left arm (subject's left: blue)
    [0.95, 0.65, 0.55], [0.90, 0.50, 0.40], [0.80, 0.35, 0.30],  # right arm (red)
    [0.60, 0.85, 0.70], [0.45, 0.75, 0.55], [0.30, 0.60, 0.40],  # left leg (green)
    [0.95, 0.85, 0.50], [0.90, 0.75, 0.35], [0.80, 0.60, 0.25],  # right leg (yellow)
], dtype=np.float32)  # fmt: skip


MAX_KEYPOINT_ERROR = 0.05
"""A fit whose keypoints are further than this from the detected ones (mean, as a fraction of the
person's height) is refused. The real test photos' fits are at most 1.7% (tests/test_photo_real.py)."""
MIN_SILHOUETTE_IOU = 0.5
"""A fit whose silhouette overlaps the person mask less than this (IoU) is refused (real photos: 0.68 or more)."""


class FitDisagreementError(PhotoError):
    """The fitted body disagrees with the detections beyond the stated bounds."""


@dataclass
class PhotoFit:
    """A photo's person and the body fitted to it."""

    observation: PhotoObservation
    result: FitResult  # camera = the crop image's
    agreement: FitAgreement | None = None  # how well the fit matches the detected keypoints and mask

    def photo_camera(self) -> Camera:
        """The fitted camera for the whole photo (same extrinsics, the photo's intrinsics)."""
        cam = self.result.camera
        K = self.observation.crop.photo_intrinsics(cam.K)
        return Camera(K=K, R=cam.R, t=cam.t, width=self.observation.photo.width, height=self.observation.photo.height)


def fit_photo(
    photo: str | Path | np.ndarray,
    body: BodyModel | None = None,
    person_index: int | None = None,
    box: tuple[float, float, float, float] | None = None,
    focal: float | None = None,
    crop_size: int = 512,
    config: FitConfig | None = None,
    fitter: BodyFitter | None = None,
) -> PhotoFit:
    """Find the person in ``photo`` and fit the body model to them (paper 4.2's preprocessing)."""
    if fitter is None:
        if body is None:
            from dinar.body import load_body_model

            body = load_body_model()
        fitter = BodyFitter(body, config, prior_poses=library_prior(body))
    obs = observe_person(load_photo(photo), person_index=person_index, box=box, crop_size=crop_size)
    target = obs.fit_target(focal)
    result = fitter.fit(target)
    agreement = fit_agreement(fitter.body, result, target)
    if agreement.keypoints_rel > MAX_KEYPOINT_ERROR or agreement.silhouette_iou < MIN_SILHOUETTE_IOU:
        raise FitDisagreementError(
            f"the fitted body does not match the person in the photo (keypoints {100 * agreement.keypoints_rel:.1f}% of their "
            f"height off, allowed {100 * MAX_KEYPOINT_ERROR:.0f}%; silhouette IoU {agreement.silhouette_iou:.2f}, needed "
            f"{MIN_SILHOUETTE_IOU:.2f}): the pose may be too unusual or the detection wrong; try --box around the person"
        )
    return PhotoFit(obs, result, agreement)


def library_prior(body: BodyModel) -> Tensor | None:
    """The built-in pose library as fitting priors ``[M, J, 3]`` (Anny only; None otherwise)."""
    if body.name != "anny":
        return None
    from dinar.body.poses import pose_names, pose_tensor

    return torch.stack([pose_tensor(n, list(body.skeleton.names)) for n in pose_names()])


# Drawing ---------------------------------------------------------------------------------------


@torch.no_grad()
def render_shaded(
    body: BodyModel, result_or_params: FitResult | dict, camera: Camera | None = None, part_colours: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The posed body seen by ``camera`` (default the fit's), Lambert-shaded: RGB ``[H, W, 3]`` float, mask ``[H, W]``."""
    p = result_or_params
    if isinstance(p, FitResult):
        p = {"pose": p.pose, "shape": p.shape, "global_orient": p.global_orient, "transl": p.transl, "camera": p.camera}
    camera = camera or p["camera"]
    out = body(pose=p["pose"], shape=p["shape"], global_orient=p["global_orient"], transl=p.get("transl"))
    raster = rasterize(out.vertices, body.faces, camera)
    normals = torch.nn.functional.normalize(interpolate_vertex_attr(raster, body.faces, out.normals), dim=1)[0]  # [3, H, W]
    to_camera = -camera.R[0, 2]  # world direction from the surface towards the camera (approx.)
    light = torch.nn.functional.normalize(to_camera + torch.tensor([0.0, 0.0, 0.6]), dim=0)
    shade = 0.35 + 0.65 * (normals * light[:, None, None]).sum(0).clamp_min(0)
    if part_colours:
        colours = torch.from_numpy(_PART_COLOURS)[body.parts.labels][None]
    else:
        colours = torch.tensor([0.85, 0.68, 0.58]).expand(1, body.num_vertices, 3)
    albedo = interpolate_vertex_attr(raster, body.faces, colours)[0]
    rgb = (albedo * shade).permute(1, 2, 0).clamp(0, 1).numpy()
    return rgb, raster.mask[0, 0].numpy() > 0


def _draw_keypoints(draw: ImageDraw.ImageDraw, kp: np.ndarray, conf: np.ndarray, colour: tuple[int, int, int], radius: float) -> None:
    for a, b in COCO_SKELETON:
        if conf[a] > 0 and conf[b] > 0:
            draw.line([tuple(kp[a]), tuple(kp[b])], fill=colour, width=max(1, int(radius / 2)))
    for p, c in zip(kp, conf):
        if c > 0:
            draw.ellipse([p[0] - radius, p[1] - radius, p[0] + radius, p[1] + radius], outline=(0, 0, 0), fill=colour)


def overlay_image(body: BodyModel, fit: PhotoFit) -> np.ndarray:
    """Three panels at crop size: the crop with the detected keypoints and mask outline; the fitted
    mesh over it with its outline and keypoints; the fitted body seen from its left side."""
    obs, res = fit.observation, fit.result
    crop = obs.crop_image().astype(np.float32) / 255
    S = crop.shape[0]
    target = obs.fit_target()
    kp, conf = target.keypoints.numpy(), target.confidence.numpy()
    r = max(2.0, S / 160)

    left = crop.copy()
    left[outline(obs.crop_mask())] = (1.0, 0.9, 0.0)
    left_img = Image.fromarray((left * 255).astype(np.uint8))
    _draw_keypoints(ImageDraw.Draw(left_img), kp, conf, (40, 220, 60), r)

    rgb, mask = render_shaded(body, res)
    mid = np.where(mask[..., None], 0.35 * crop + 0.65 * rgb, crop)
    mid[outline(mask)] = (1.0, 0.15, 0.1)
    mid_img = Image.fromarray((mid * 255).astype(np.uint8))
    _draw_keypoints(ImageDraw.Draw(mid_img), res.keypoints_2d.numpy(), np.ones(len(COCO_KEYPOINTS)), (230, 40, 40), r)

    side = _side_view(body, res, S)
    panels = np.concatenate([np.asarray(left_img), np.asarray(mid_img), side], axis=1)
    return panels


def _side_view(body: BodyModel, res: FitResult, size: int) -> np.ndarray:
    """The fitted body turned 90 degrees about the vertical through its centre (depth check)."""
    import roma

    with torch.no_grad():
        verts = body(pose=res.pose, shape=res.shape, global_orient=res.global_orient, transl=res.transl).vertices[0]
    cam = res.camera
    centre = verts.mean(0)
    turn = roma.rotvec_to_rotmat(torch.tensor([0.0, 0.0, np.pi / 2]))  # camera moves to the body's side
    cam_centre = cam.center[0]
    eye = centre + turn @ (cam_centre - centre)
    R = cam.R[0] @ turn.T
    t = -(R @ eye)
    side_cam = Camera(K=cam.K, R=R[None], t=t[None], width=cam.width, height=cam.height)
    rgb, mask = render_shaded(body, res, side_cam)
    img = np.where(mask[..., None], rgb, 0.92)
    img = (img * 255).astype(np.uint8)
    if img.shape[0] != size:
        img = np.asarray(Image.fromarray(img).resize((size, size)))
    return img
