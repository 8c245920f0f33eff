"""One body fit shared by several calibrated views of one time instant (multi-view SMPLify).

A calibrated rig sees the same body from several fixed cameras at once. Fitting each view alone gives
as many bodies as views, which disagree in 3D (depth is a guess in every single view). Here ONE pose,
shape, global orientation and translation is optimised against the 2D keypoints (and person masks) of
every view, reprojected through the views' fixed cameras, so the views must agree in 3D:

0. initialisation without any guess of heading or depth: the keypoints seen in two or more views
   are triangulated (linear DLT, confidence-weighted), and the rest body's torso and face are aligned
   to them by a rigid Kabsch fit (rotation + translation);
1. rigid refinement of the global orientation and translation on the torso and face keypoints;
2. pose, then 3. pose + shape, with the losses of the single-photo fitter
   (:mod:`dinar.fitting.fitter`) summed over views: Geman-McClure robust, confidence-weighted keypoint
   reprojection, the distance-transform silhouette terms, the pose prior from the pose library,
   joint limits and the shape prior. Each view's pixel residuals are scaled to a 512-pixel image
   (as the single-photo fitter does), so a view does not count more for being larger.

The body terms (keypoint weights, priors, limits, the fast point evaluator) are the single-photo
fitter's own (:class:`~dinar.fitting.fitter.BodyFitter`); only the cameras differ: fixed and many.
:meth:`MultiViewResult.agreement` reports the reprojection error per view in that view's pixels.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field

import roma
import torch
from torch import Tensor

from dinar.body.base import BodyModel
from dinar.fitting.agreement import FitAgreement, fit_agreement
from dinar.fitting.fitter import (
    REFERENCE_SIZE,
    BodyFitter,
    FitConfig,
    FitResult,
    FitTarget,
    _joint_limits,
    _pose_prior,
)
from dinar.fitting.objectives import (
    SilhouetteTarget,
    keypoint_loss,
    project,
    silhouette_losses,
)
from dinar.fitting.points import COCO_KEYPOINTS
from dinar.geometry.camera import Camera

logger = logging.getLogger(__name__)

_TORSO = [COCO_KEYPOINTS.index(n) for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")]
_FACE = [COCO_KEYPOINTS.index(n) for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
MIN_TRIANGULATION_CONFIDENCE = 0.3
"""Detections below this confidence take no part in the triangulation of the initialisation."""


@dataclass
class ViewTarget:
    """What one calibrated view shows of the person: keypoints and mask in its image, and its fixed camera."""

    name: str
    keypoints: Tensor  # [K, 2] pixel coordinates in this view's image, COCO_KEYPOINTS order
    confidence: Tensor  # [K] weights in [0, 1]; 0 where a keypoint is missing
    camera: Camera  # batch 1: this view's image (dinar's convention), fixed during the fit
    mask: Tensor | None = None  # [H, W] person mask in [0, 1]
    valid: Tensor | None = None  # [H, W] 1 where the image has pixels (0 where a crop reaches past the frame)

    def __post_init__(self) -> None:
        k = len(COCO_KEYPOINTS)
        if self.keypoints.shape != (k, 2) or self.confidence.shape != (k,):
            raise ValueError(f"view {self.name!r}: keypoints must be [{k}, 2] and confidence [{k}], "
                             f"got {tuple(self.keypoints.shape)}, {tuple(self.confidence.shape)}")
        if self.camera.batch_size != 1:
            raise ValueError(f"view {self.name!r}: one camera per view, got {self.camera.batch_size}")
        if self.mask is not None and self.mask.shape != (self.camera.height, self.camera.width):
            raise ValueError(f"view {self.name!r}: the mask is {tuple(self.mask.shape)}, the camera's image "
                             f"{self.camera.height} x {self.camera.width}")

    def fit_target(self) -> FitTarget:
        """The single-photo fitter's target of this view (its image, keypoints, mask and intrinsics)."""
        return FitTarget(self.keypoints.float(), self.confidence.float(), self.camera.width, self.camera.height,
                         self.mask, self.camera.K[0].float(), self.valid)


@dataclass
class MultiViewResult:
    """One body for all views of a time instant."""

    body_model: str
    pose: Tensor  # [1, J, 3] axis-angle per bone
    shape: Tensor  # [1, S]
    global_orient: Tensor  # [1, 3] axis-angle, world frame of the calibration
    transl: Tensor  # [1, 3] metres, world frame of the calibration
    view_names: list[str]
    keypoints_2d: list[Tensor]  # per view: [K, 2] the fitted keypoints projected into that view
    losses: dict[str, float] = field(default_factory=dict)  # final value of every loss term (mean over views)

    def in_view(self, camera: Camera) -> FitResult:
        """This body seen by ``camera``, as the single-photo fitter's result (for overlays and checks)."""
        return FitResult(body_model=self.body_model, pose=self.pose, shape=self.shape, global_orient=self.global_orient,
                         transl=self.transl, camera=camera, keypoints_2d=torch.zeros(len(COCO_KEYPOINTS), 2), losses=dict(self.losses))

    def agreement(self, body: BodyModel, views: list[ViewTarget]) -> dict[str, FitAgreement]:
        """Per view: mean distance of the confident detected keypoints to the fit's (that view's pixels),
        relative to the person's height there, and the silhouette IoU (:func:`~dinar.fitting.agreement.fit_agreement`)."""
        return {v.name: fit_agreement(body, self.in_view(v.camera), v.fit_target()) for v in views}


# Triangulation and the initial rigid pose ---------------------------------------------------------


def triangulate(views: list[ViewTarget], min_confidence: float = MIN_TRIANGULATION_CONFIDENCE) -> tuple[Tensor, Tensor]:
    """Linear (DLT) triangulation of every keypoint from the views that see it with ``min_confidence``:
    points ``[K, 3]`` (world) and how many views saw each ``[K]`` (a point needs 2)."""
    k = len(COCO_KEYPOINTS)
    points = torch.zeros(k, 3, dtype=torch.float64)
    count = torch.zeros(k, dtype=torch.long)
    P = [torch.cat([v.camera.K[0].double() @ v.camera.R[0].double(), (v.camera.K[0].double() @ v.camera.t[0].double())[:, None]], 1)
         for v in views]  # [3, 4] projection matrices
    for j in range(k):
        rows = []
        for v, Pv in zip(views, P):
            c = float(v.confidence[j])
            if c < min_confidence:
                continue
            u, w = v.keypoints[j].double()
            rows += [c * (u * Pv[2] - Pv[0]), c * (w * Pv[2] - Pv[1])]
        count[j] = len(rows) // 2
        if count[j] >= 2:
            _, _, Vh = torch.linalg.svd(torch.stack(rows))
            X = Vh[-1]
            points[j] = X[:3] / X[3]
    return points, count


def rigid_align(source: Tensor, target: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """Weighted Kabsch: the rotation ``[3, 3]`` and translation ``[3]`` that best map ``source [N, 3]``
    onto ``target [N, 3]`` (``target ≈ source @ R.T + t``)."""
    w = (weight / weight.sum()).double()[:, None]
    ms, mt = (source.double() * w).sum(0), (target.double() * w).sum(0)
    H = ((source.double() - ms) * w).T @ (target.double() - mt)
    U, _, Vh = torch.linalg.svd(H)
    d = torch.sign(torch.linalg.det(Vh.T @ U.T))
    D = torch.diag(torch.tensor([1.0, 1.0, float(d)], dtype=torch.float64))
    R = Vh.T @ D @ U.T
    return R, mt - R @ ms


# The fitter ------------------------------------------------------------------------------------


@dataclass
class _Views:
    """The views' tensors, stacked once per fit."""

    targets: list[ViewTarget]
    R: Tensor  # [V, 3, 3]
    t: Tensor  # [V, 3]
    weights: Tensor  # [V, K] keypoint weights (confidence x body availability x face/feet factors)
    scales: list[float]  # per view: REFERENCE_SIZE / the image's longer side
    silhouettes: list[SilhouetteTarget | None]


class MultiViewFitter:
    """Fits one body to several calibrated views (module docstring); build once, call per time instant."""

    def __init__(self, body: BodyModel, config: FitConfig | None = None, prior_poses: Tensor | None = None) -> None:
        self.single = BodyFitter(body, config, prior_poses)  # the body terms, shared with the single-photo fitter
        self.body = body
        self.config = self.single.config

    def __call__(self, views: list[ViewTarget], init: MultiViewResult | None = None) -> MultiViewResult:
        return self.fit(views, init)

    def fit(self, views: list[ViewTarget], init: MultiViewResult | None = None) -> MultiViewResult:
        """Fit the body to ``views`` (at least 2); ``init`` (the previous instant's fit) replaces the initialisation.

        Raises ValueError when fewer than two views see the torso.
        """
        if len(views) < 2:
            raise ValueError(f"a multi-view fit needs at least 2 views, got {len(views)}")
        names = [v.name for v in views]
        if len(set(names)) != len(names):
            raise ValueError(f"view names must differ, got {names}")
        threads = torch.get_num_threads()
        if self.config.num_threads:
            torch.set_num_threads(self.config.num_threads)
        try:
            with torch.enable_grad():
                return self._fit(views, init)
        finally:
            torch.set_num_threads(threads)

    # -- helpers ----------------------------------------------------------------------------------
    def _prepare(self, views: list[ViewTarget]) -> _Views:
        cfg = self.config
        weights = torch.stack([self.single._keypoint_weights(v.fit_target()) for v in views])
        sils = [SilhouetteTarget.from_mask(v.mask, cfg.silhouette_contour_points, v.valid) if v.mask is not None else None for v in views]
        return _Views(
            targets=views,
            R=torch.cat([v.camera.R for v in views]).float(),
            t=torch.cat([v.camera.t for v in views]).float(),
            weights=weights,
            scales=[REFERENCE_SIZE / max(v.camera.width, v.camera.height) for v in views],
            silhouettes=sils,
        )

    def _project(self, points: Tensor, vs: _Views, v: int) -> Tensor:
        """World ``points [B, N, 3]`` -> pixels ``[B, N, 2]`` of view ``v``."""
        return project(points @ vs.R[v].T + vs.t[v], vs.targets[v].camera.K[0].float())

    def _evaluate(self, vs: _Views, free_pose: Tensor, shape: Tensor, go: Tensor, transl: Tensor, silhouette: float,
                  kp_weights: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor], list[Tensor]]:
        """Total loss ``[B]``, its terms (means over views) and each view's projected keypoints."""
        cfg, body, priors = self.config, self.body, self.single.priors
        batch = free_pose.shape[0]
        pose = torch.zeros(batch, body.num_joints, 3, dtype=free_pose.dtype).index_copy(1, priors.free, free_pose)
        out = self.single.points(pose, shape, go, transl)
        weights = vs.weights if kp_weights is None else kp_weights
        n = len(vs.targets)
        kp_term = torch.zeros(batch)
        inside = torch.zeros(batch)
        cover = torch.zeros(batch)
        projected = []
        for v, target in enumerate(vs.targets):
            kp2d = self._project(out.keypoints, vs, v)
            projected.append(kp2d)
            kp_term = kp_term + keypoint_loss(kp2d, target.keypoints.float(), weights[v], cfg.keypoint_sigma, vs.scales[v]) / n
            sil = vs.silhouettes[v]
            if silhouette > 0 and sil is not None:
                i, c = silhouette_losses(self._project(out.surface, vs, v), sil, cfg.silhouette_sigma, vs.scales[v], cfg.cover_sigma)
                inside, cover = inside + i / n, cover + c / n
        terms = {"keypoints": cfg.w_keypoints * kp_term}
        if silhouette > 0:
            terms["silhouette_inside"] = silhouette * cfg.w_silhouette_inside * inside
            terms["silhouette_cover"] = silhouette * cfg.w_silhouette_cover * cover
        terms["pose_prior"] = cfg.w_pose_prior * _pose_prior(free_pose, priors)
        terms["joint_limits"] = cfg.w_joint_limits * _joint_limits(free_pose, priors)
        terms["shape_prior"] = cfg.w_shape_prior * (shape - self.single.neutral_shape).square().sum(-1)
        return sum(terms.values()), terms, projected

    def initial_pose(self, views: list[ViewTarget], free_pose: Tensor, shape: Tensor) -> tuple[Tensor, Tensor]:
        """Step 0: ``(global_orient [1, 3], transl [1, 3])`` aligning the body's torso and face to the triangulated keypoints."""
        points, count = triangulate(views)
        if int((count[_TORSO] >= 2).sum()) < 3:
            seen = {COCO_KEYPOINTS[j]: int(count[j]) for j in _TORSO}
            raise ValueError(f"the torso must be seen in at least 2 views to fit one body to them (views per torso keypoint: {seen})")
        pose = torch.zeros(1, self.body.num_joints, 3).index_copy(1, self.single.priors.free, free_pose)
        with torch.no_grad():
            rest = self.single.points(pose, shape, torch.zeros(1, 3), torch.zeros(1, 3)).keypoints[0].double()
        use = [j for j in _TORSO + _FACE if count[j] >= 2]
        weight = torch.tensor([3.0 if j in _TORSO else 1.0 for j in use], dtype=torch.float64)  # the torso is the surer part
        R, t = rigid_align(rest[use], points[use], weight)
        return roma.rotmat_to_rotvec(R)[None].float(), t[None].float()

    def _fit(self, views: list[ViewTarget], init: MultiViewResult | None) -> MultiViewResult:
        cfg = self.config
        start = time.perf_counter()
        deadline = start + cfg.time_limit_s
        vs = self._prepare(views)
        if float((vs.weights[:, _TORSO] > 0).sum()) < 8:
            seen = {v.name: int((vs.weights[i, _TORSO] > 0).sum()) for i, v in enumerate(views)}
            raise ValueError(f"too few torso keypoints detected for a multi-view fit (torso keypoints per view: {seen})")
        if init is None:
            free_pose = self.single.priors.means[0][None].clone()
            shape = self.single.neutral_shape.clone()
            go, transl = self.initial_pose(views, free_pose, shape)
            rigid = torch.zeros_like(vs.weights)
            rigid[:, _TORSO + _FACE] = vs.weights[:, _TORSO + _FACE]
            go, transl = self._optimise(vs, free_pose, shape, go, transl, cfg.iters_camera, "rigid", deadline, rigid)
        else:
            free_pose = init.pose[:, self.single.priors.free].clone().float()
            shape, go, transl = init.shape.clone().float(), init.global_orient.clone().float(), init.transl.clone().float()
        free_pose, go, transl = self._optimise(vs, free_pose, shape, go, transl, cfg.iters_pose, "pose", deadline)
        free_pose, go, transl, shape = self._optimise(vs, free_pose, shape, go, transl, cfg.iters_shape, "shape", deadline)
        with torch.no_grad():
            total, terms, projected = self._evaluate(vs, free_pose, shape, go, transl, 1.0)
        pose = torch.zeros(1, self.body.num_joints, 3).index_copy(1, self.single.priors.free, free_pose)
        losses = {k: round(float(v), 4) for k, v in terms.items()} | {"total": round(float(total), 4)}
        logger.info("multi-view fit of %d views: %s", len(views), losses)
        return MultiViewResult(self.body.name, pose.detach(), shape.detach(), go.detach(), transl.detach(), [v.name for v in views],
                               [p[0].detach() for p in projected], losses)

    def _optimise(self, vs: _Views, free_pose: Tensor, shape: Tensor, go: Tensor, transl: Tensor, iters: int, stage: str,
                  deadline: float, kp_weights: Tensor | None = None):
        """Adam on the rigid parameters (``rigid``), + pose (``pose``), + shape (``shape``); the silhouette terms
        come in over the first half of the pose stage, once the keypoints have placed the limbs."""
        cfg = self.config
        go, transl = go.clone().requires_grad_(), transl.clone().requires_grad_()
        free_pose = free_pose.clone().requires_grad_(stage != "rigid")
        shape = shape.clone().requires_grad_(stage == "shape")
        groups = [{"params": [go] + ([free_pose] if stage != "rigid" else []), "lr": cfg.lr}, {"params": [transl], "lr": cfg.lr / 3}]
        if stage == "shape":
            groups.append({"params": [shape], "lr": cfg.lr})
        opt = torch.optim.Adam(groups)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 if i < 0.6 * iters else 0.3)
        ramp = max(1, iters // 2)
        for i in range(iters):
            if time.perf_counter() > deadline:
                logger.warning("multi-view fit stopped at its time limit (%.0f s)", cfg.time_limit_s)
                break
            silhouette = 0.0 if stage == "rigid" else (1.0 if stage == "shape" else min(1.0, i / ramp))
            total, _, _ = self._evaluate(vs, free_pose, shape, go, transl, silhouette, kp_weights)
            opt.zero_grad()
            total.sum().backward()
            opt.step()
            sched.step()
            if stage == "shape" and self.single.bounded_shape:
                with torch.no_grad():
                    shape.clamp_(0.0, 1.0)
        if stage == "rigid":
            return go.detach(), transl.detach()
        if stage == "pose":
            return free_pose.detach(), go.detach(), transl.detach()
        return free_pose.detach(), go.detach(), transl.detach(), shape.detach()


def multiview_config(preset: str = "default", views: int = 4) -> FitConfig:
    """The fitter settings of ``preset`` with a time limit that grows with the number of views
    (each iteration evaluates every view)."""
    cfg = FitConfig.preset(preset)
    return dataclasses.replace(cfg, time_limit_s=cfg.time_limit_s * max(1.0, math.sqrt(views) * 1.5))


def reprojection_px(result: MultiViewResult, views: list[ViewTarget], min_confidence: float = 0.5) -> dict[str, float]:
    """Mean distance (pixels of each view's image) from the detected keypoints of confidence >= ``min_confidence``
    to the fitted body's, per view (NaN where a view has none)."""
    out = {}
    for v, kp in zip(views, result.keypoints_2d):
        use = v.confidence >= min_confidence
        out[v.name] = float((kp - v.keypoints).norm(dim=-1)[use].mean()) if bool(use.any()) else float("nan")
    return out


__all__ = ["MultiViewFitter", "MultiViewResult", "ViewTarget", "multiview_config", "reprojection_px", "rigid_align", "triangulate"]
