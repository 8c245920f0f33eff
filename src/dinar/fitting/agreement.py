"""How good a body fit is.

Against a body whose true parameters are known (synthetic people), :func:`fit_errors` gives the
three numbers SMPLify-style papers report: mean 2D keypoint error in pixels, silhouette IoU of the
fitted and true bodies in the image, and 3D keypoint error after a similarity (Procrustes)
alignment, in millimetres (PA-MPJPE on the COCO keypoints).

On a real photo there is no truth: :func:`fit_agreement` measures how well the fit agrees with what
the detector and segmenter saw (the fitter's own targets), which flags a fit that went wrong but
cannot catch a detector that was wrong.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from dinar.body.base import BodyModel
from dinar.fitting.fitter import FitResult, FitTarget
from dinar.fitting.points import fit_points_for
from dinar.geometry.camera import Camera
from dinar.geometry.raster import rasterize


@dataclass
class FitErrors:
    """Errors of one fit against the truth."""

    keypoints_px: float  # mean 2D distance of the projected COCO keypoints, pixels
    silhouette_iou: float  # IoU of the rasterized fitted and true bodies
    pa_mpjpe_mm: float  # mean 3D keypoint distance after similarity alignment, millimetres

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


def procrustes_align(pred: Tensor, target: Tensor) -> Tensor:
    """Similarity transform (rotation, uniform scale, translation) of ``pred [N, 3]`` best onto ``target [N, 3]``."""
    mp, mt = pred.mean(0), target.mean(0)
    p, t = pred - mp, target - mt
    U, S, Vh = torch.linalg.svd(p.T @ t)
    d = torch.sign(torch.linalg.det(U @ Vh))
    D = torch.diag(torch.tensor([1.0, 1.0, float(d)], dtype=pred.dtype))
    R = U @ D @ Vh  # p @ R ~ t
    scale = (S * D.diagonal()).sum() / p.square().sum().clamp_min(1e-12)
    return scale * p @ R + mt


@torch.no_grad()
def fit_errors(
    body: BodyModel,
    fit: FitResult,
    pose: Tensor,  # [1, J, 3] true pose
    shape: Tensor,  # [1, S] true shape
    camera: Camera,  # the true camera of the image (batch 1)
    global_orient: Tensor | None = None,  # [1, 3] true global orientation (default none)
    transl: Tensor | None = None,  # [1, 3] true translation (default none)
) -> FitErrors:
    """Compare ``fit`` with the true body seen by ``camera`` (on the keypoints the body model has)."""
    points = fit_points_for(body)
    zeros = torch.zeros(1, 3)
    true = points(pose, shape, zeros if global_orient is None else global_orient, zeros if transl is None else transl)
    fitted = points(fit.pose, fit.shape, fit.global_orient, fit.transl)
    seen = points.available  # keypoints the body model has
    true_2d, _ = camera.project(true.keypoints[:, seen])
    fit_2d, _ = fit.camera.project(fitted.keypoints[:, seen])
    kp_err = (true_2d - fit_2d).norm(dim=-1)[0].mean()
    true_mask = rasterize(body(pose=pose, shape=shape, global_orient=global_orient, transl=transl).vertices, body.faces, camera).foreground
    fit_mask = rasterize(body(pose=fit.pose, shape=fit.shape, global_orient=fit.global_orient, transl=fit.transl).vertices, body.faces, fit.camera).foreground
    iou = (true_mask & fit_mask).sum() / (true_mask | fit_mask).sum().clamp_min(1)
    pred, gt = fitted.keypoints[0, seen].double(), true.keypoints[0, seen].double()
    pa = (procrustes_align(pred, gt) - gt).norm(dim=-1).mean() * 1000
    return FitErrors(float(kp_err), float(iou), float(pa))


@dataclass
class FitAgreement:
    """How well a fit agrees with its own targets (a photo's detected keypoints and person mask)."""

    keypoints_px: float  # mean 2D distance from the confident detected keypoints to the fit's, target pixels
    keypoints_rel: float  # the same, divided by the person mask's height (comparable across image sizes)
    silhouette_iou: float  # IoU of the rasterized fitted body and the person mask

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


@torch.no_grad()
def fit_agreement(body: BodyModel, fit: FitResult, target: FitTarget, min_confidence: float = 0.5) -> FitAgreement:
    """Compare ``fit`` with ``target``: keypoints of confidence >= ``min_confidence``, and the mask."""
    fit_points = fit_points_for(body)
    points = fit_points(fit.pose, fit.shape, fit.global_orient, fit.transl)
    projected, _ = fit.camera.project(points.keypoints)
    use = (target.confidence >= min_confidence) & fit_points.available
    distance = (projected[0] - target.keypoints).norm(dim=-1)
    kp_err = float(distance[use].mean()) if use.any() else float("nan")
    fitted = rasterize(body(pose=fit.pose, shape=fit.shape, global_orient=fit.global_orient, transl=fit.transl).vertices, body.faces, fit.camera).foreground[0]
    fitted = fitted.reshape(target.height, target.width)
    if target.mask is None:
        return FitAgreement(kp_err, kp_err / target.height, float("nan"))
    person = target.mask >= 0.5
    if target.valid is not None:
        fitted, person = fitted & (target.valid >= 0.5), person & (target.valid >= 0.5)
    iou = float((fitted & person).sum() / (fitted | person).sum().clamp_min(1))
    rows = torch.nonzero(person.any(dim=1))
    height = float(rows[-1] - rows[0] + 1) if len(rows) else float(target.height)
    return FitAgreement(kp_err, kp_err / height, iou)
