"""SMPLify-style body fitting to one image: 2D keypoints + a person mask -> pose, shape, camera.

The paper (sec. 4.2) fits SMPL-X with SMPLify-X plus a segmentation loss. This is that fitter for
any :class:`~dinar.body.base.BodyModel` (Anny by default), in three stages:

1. camera + global orientation: the translation is solved first from the torso (similar triangles
   on torso height), then the rigid body is fitted to the torso and face keypoints from several
   heading guesses (front, back, both sides), keeping the best;
2. pose: a subset of bones (spine, neck, head, shoulders, arms, wrists, legs, feet) with
   keypoints, silhouette, pose prior and joint limits;
3. pose + shape: the same, with the shape parameters free (clamped to their range, pulled to
   the average body).

Losses (all in pixels of a 512-pixel image, whatever the image size):
- keypoints: Geman-McClure robust, confidence-weighted reprojection error;
- silhouette: the rasterizer is not differentiable, so it is a distance-transform loss: projected
  surface samples outside the mask pay the distance to the mask (strongly: clothes only make masks
  bigger), and mask-outline pixels pay the distance to the nearest projected surface sample with a
  small robust scale (so a long coat far from the legs does not pull them); nothing is paid past
  the photo's edge, where a cut-off body goes on;
- pose prior: weighted L2 to the nearest of a few prior poses (the rest pose by default), joint
  limits (knees, elbows) and a shape prior.

Camera: OpenCV convention (:mod:`dinar.geometry.camera`) with a fixed rotation that looks at the
body model's front (:data:`BODY_FRAMES`; Anny: from -Y, world Z up in the image) and ``t = 0``; the
focal length from the image (default ``1.2 * max(H, W)``); the body is turned by ``global_orient``
and placed by ``transl``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import roma
import torch
from torch import Tensor

from dinar.body.base import BodyModel
from dinar.fitting.objectives import (
    SilhouetteTarget,
    gmof,
    keypoint_loss,
    project,
    silhouette_losses,
)
from dinar.fitting.points import COCO_KEYPOINTS, FitPoints, fit_points_for
from dinar.geometry.camera import Camera, intrinsics

logger = logging.getLogger(__name__)

REFERENCE_SIZE = 512.0
"""Pixel residuals are measured as if the image's longer side were this many pixels."""

BODY_FRAMES = {"anny": ((0.0, 0.0, 1.0), (0.0, -1.0, 0.0)), "smplx": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0))}
"""Body model -> (up, forward) axes of its world frame (the subject faces ``forward``); others: Anny's."""


def front_camera_rotation(up: tuple[float, float, float], forward: tuple[float, float, float]) -> Tensor:
    """World -> camera rotation ``[3, 3]`` of a camera facing the subject: image up = ``up``, the
    subject's left (+X for Anny and SMPL-X) on the image's right."""
    z = -torch.tensor(forward)  # the camera looks against the subject's forward
    y = -torch.tensor(up)  # image y points down
    return torch.stack([torch.linalg.cross(y, z), y, z])


FRONT_CAMERA_R = front_camera_rotation(*BODY_FRAMES["anny"])
"""Anny's front camera: in front of the body (at -Y) looking at it, X right, Z up."""

ANNY_FREE_BONES = {  # bone -> prior weight (higher = stiffer); bones not listed stay at their prior
    "spine03": 6.0, "spine02": 6.0, "spine01": 6.0, "neck01": 4.0, "head": 4.0,
    "clavicle.L": 12.0, "upperarm01.L": 0.5, "lowerarm01.L": 0.5, "wrist.L": 3.0,
    "clavicle.R": 12.0, "upperarm01.R": 0.5, "lowerarm01.R": 0.5, "wrist.R": 3.0,
    "upperleg01.L": 0.5, "lowerleg01.L": 0.5, "foot.L": 3.0,
    "upperleg01.R": 0.5, "lowerleg01.R": 0.5, "foot.R": 3.0,
}  # fmt: skip
"""Anny bones the fitter moves, with their pose-prior weights."""

_TORSO = [COCO_KEYPOINTS.index(n) for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")]
_FACE = [COCO_KEYPOINTS.index(n) for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]


@dataclass
class FitTarget:
    """What the fitter matches: keypoints and a person mask in one image, and that image's camera."""

    keypoints: Tensor  # [K, 2] pixel coordinates, COCO_KEYPOINTS order
    confidence: Tensor  # [K] weights in [0, 1]; 0 where a keypoint is missing
    width: int
    height: int
    mask: Tensor | None = None  # [H, W] person mask in [0, 1]
    K: Tensor | None = None  # [3, 3] intrinsics; default focal 1.2 * max(H, W), centred principal point
    valid: Tensor | None = None  # [H, W] 1 where the image has pixels (a crop padded past the photo's edge: 0 there)

    def __post_init__(self) -> None:
        k = len(COCO_KEYPOINTS)
        if self.keypoints.shape != (k, 2) or self.confidence.shape != (k,):
            raise ValueError(f"FitTarget wants keypoints [{k}, 2] and confidence [{k}], got {tuple(self.keypoints.shape)}, {tuple(self.confidence.shape)}")
        if self.mask is not None and self.mask.shape != (self.height, self.width):
            raise ValueError(f"mask must be [{self.height}, {self.width}], got {tuple(self.mask.shape)}")
        if self.K is None:
            self.K = intrinsics(1.2 * max(self.width, self.height), self.width, self.height)[0]


@dataclass(frozen=True)
class FitConfig:
    """Fitter settings; :meth:`preset` gives ``default`` and ``fast`` (tests)."""

    iters_camera: int = 60  # stage 1 (rigid, cheap)
    iters_pose: int = 120  # stage 2
    iters_shape: int = 80  # stage 3
    lr: float = 0.03  # Adam step for rotations (rad) and shape; translation uses lr / 3 (metres)
    keypoint_sigma: float = 60.0  # Geman-McClure scale, pixels at REFERENCE_SIZE
    silhouette_sigma: float = 30.0  # for samples outside the mask
    cover_sigma: float = 10.0  # for mask outline far from the body: small, so loose clothes far away do not pull
    w_keypoints: float = 1.0
    w_face: float = 0.5  # extra factor on face keypoints (BlazePose and regressors disagree most there)
    w_feet: float = 0.5  # extra factor on toe and heel keypoints
    w_silhouette_inside: float = 10.0  # surface samples outside the mask (clothes only widen masks: safe)
    w_silhouette_cover: float = 1.0  # mask contour far from the body (weaker: clothes widen masks)
    w_pose_prior: float = 40.0
    w_joint_limits: float = 400.0
    w_shape_prior: float = 40.0
    silhouette_contour_points: int = 800
    time_limit_s: float = 20.0  # stages stop early past this wall time (bounded time on any CPU)
    num_threads: int | None = 1  # torch threads while fitting: the tensors are small, one thread is
    # fastest (measured: 2 threads on 2 busy cores were 10x slower); None leaves torch's setting

    @classmethod
    def preset(cls, name: str) -> FitConfig:
        if name == "default":
            return cls()
        if name == "fast":
            return cls(iters_camera=40, iters_pose=80, iters_shape=40, lr=0.04)
        raise ValueError(f"unknown fit preset {name!r}: choose default or fast")


@dataclass
class FitResult:
    """A fitted body and its camera (in the target image)."""

    body_model: str
    pose: Tensor  # [1, J, 3] axis-angle per bone
    shape: Tensor  # [1, S]
    global_orient: Tensor  # [1, 3] axis-angle
    transl: Tensor  # [1, 3] metres
    camera: Camera  # the target image's camera (batch 1)
    keypoints_2d: Tensor  # [K, 2] fitted keypoints projected into the image, COCO_KEYPOINTS order
    losses: dict[str, float] = field(default_factory=dict)  # final value of every loss term

    def state(self) -> dict:
        """JSON-ready body parameters and camera (the dataset-layout parameter file's core)."""
        return {
            "body_model": self.body_model,
            "pose": self.pose[0].tolist(),
            "shape": self.shape[0].tolist(),
            "global_orient": self.global_orient[0].tolist(),
            "transl": self.transl[0].tolist(),
            "camera": self.camera.state(),
            "fit": {"losses": self.losses},
        }

    @classmethod
    def from_state(cls, state: dict) -> FitResult:
        t = torch.tensor
        return cls(
            body_model=state["body_model"],
            pose=t(state["pose"])[None],
            shape=t(state["shape"])[None],
            global_orient=t(state["global_orient"])[None],
            transl=t(state["transl"])[None],
            camera=Camera.from_state(state["camera"]),
            keypoints_2d=torch.zeros(len(COCO_KEYPOINTS), 2),
            losses=dict(state.get("fit", {}).get("losses", {})),
        )


# The fitter ---------------------------------------------------------------------------------


@dataclass
class _Priors:
    free: Tensor  # [F] indices of the bones the fitter moves
    weights: Tensor  # [F] pose-prior weight per free bone
    means: Tensor  # [M, F, 3] prior poses of the free bones
    limits: list[tuple[int, Tensor, float, float, float]]  # (free index, hinge axis [3], min, max rad, off-axis weight)


def _anny_limits(body: BodyModel, free: list[int]) -> list[tuple[int, Tensor, float, float, float]]:
    """Hinge limits of knees and elbows in Anny's local-ref frame (rotations about world-aligned axes).

    A knee bends about +X (foot backwards, measured) and only about it; an elbow bends about the
    normal of the plane of its rest upper arm and forearm (Anny's A-pose already bends it a little).
    Elbow rotations off that axis are not penalised: the pose library bends elbows about -X.
    """
    names = body.skeleton.names
    joints = body.skeleton.rest_joints
    limits = []
    for side in ("L", "R"):
        knee = names.index(f"lowerleg01.{side}")
        if knee in free:
            limits.append((free.index(knee), torch.tensor([1.0, 0.0, 0.0]), 0.0, 2.6, 0.25))
        elbow = names.index(f"lowerarm01.{side}")
        if elbow in free:
            upper = joints[elbow] - joints[names.index(f"upperarm01.{side}")]
            fore = joints[names.index(f"wrist.{side}")] - joints[elbow]
            axis = torch.nn.functional.normalize(torch.linalg.cross(upper, fore), dim=0)
            rest_bend = float(torch.arccos(torch.nn.functional.cosine_similarity(upper, fore, dim=0)))
            limits.append((free.index(elbow), axis, -rest_bend, 2.7 - rest_bend, 0.0))
    return limits


def _priors(body: BodyModel, prior_poses: Tensor | None) -> _Priors:
    names = list(body.skeleton.names)
    if body.name == "anny":
        free = [names.index(n) for n in ANNY_FREE_BONES]
        weights = torch.tensor(list(ANNY_FREE_BONES.values()))
        limits = _anny_limits(body, free)
    else:
        skip = ("finger", "thumb", "index", "middle", "ring", "pinky", "jaw", "eye", "toe")
        free = [i for i, n in enumerate(names) if i > 0 and not any(s in n.lower() for s in skip)]
        weights = torch.ones(len(free))
        limits = []
    if prior_poses is None:
        prior_poses = torch.zeros(1, len(names), 3)
    if prior_poses.dim() != 3 or prior_poses.shape[1:] != (len(names), 3):
        raise ValueError(f"prior poses must be [M, {len(names)}, 3], got {tuple(prior_poses.shape)}")
    return _Priors(torch.tensor(free), weights, prior_poses[:, free].float(), limits)


def _pose_prior(free_pose: Tensor, priors: _Priors) -> Tensor:
    """Weighted squared distance to the nearest prior pose, ``free_pose [B, F, 3]`` -> ``[B]``."""
    d = (free_pose[:, None] - priors.means[None]).square().sum(-1)  # [B, M, F]
    return (d * priors.weights).sum(-1).amin(-1) / priors.weights.sum()


def _joint_limits(free_pose: Tensor, priors: _Priors) -> Tensor:
    """Hinge joints: bending outside [min, max] and rotation off the hinge axis, ``[B]``."""
    loss = free_pose.new_zeros(free_pose.shape[0])
    for index, axis, lo, hi, w_off in priors.limits:
        rot = free_pose[:, index]
        bend = rot @ axis
        off = rot - bend[:, None] * axis
        loss = loss + (lo - bend).clamp_min(0).square() + (bend - hi).clamp_min(0).square() + w_off * off.square().sum(-1)
    return loss


def _heading_candidates(target: FitTarget, rest_keypoints: Tensor) -> list[float]:
    """Yaw guesses (rad, about the body's up axis; 0 = facing the camera) from the torso's apparent width."""
    kp = target.keypoints
    ls, rs, lh, rh = (kp[i] for i in _TORSO)
    width_2d = 0.5 * ((ls - rs).norm() + (lh - rh).norm())
    height_2d = ((ls + rs) / 2 - (lh + rh) / 2).norm().clamp_min(1e-6)
    r = rest_keypoints
    width_3d = 0.5 * ((r[_TORSO[0]] - r[_TORSO[1]]).norm() + (r[_TORSO[2]] - r[_TORSO[3]]).norm())
    height_3d = ((r[_TORSO[0]] + r[_TORSO[1]]) / 2 - (r[_TORSO[2]] + r[_TORSO[3]]) / 2).norm()
    cos = float((width_2d / height_2d) / (width_3d / height_3d))
    a = math.acos(min(max(cos, 0.0), 1.0))
    cands = [a, -a, math.pi - a, math.pi + a, math.pi / 2, -math.pi / 2, 0.0, math.pi]
    out: list[float] = []
    for c in cands:
        c = math.remainder(c, 2 * math.pi)
        if all(abs(math.remainder(c - o, 2 * math.pi)) > 0.15 for o in out):
            out.append(c)
    return out


def _initial_translation(target: FitTarget, rest_keypoints: Tensor, go: Tensor, R: Tensor) -> Tensor:
    """Body translations ``[B, 3]`` (world) that put the rest torso where the image shows it.

    Depth by similar triangles on torso height (``z = f * h_3d / h_2d``), then the torso centre
    is unprojected at that depth.
    """
    kp, K = target.keypoints, target.K
    ls, rs, lh, rh = (kp[i] for i in _TORSO)
    height_2d = ((ls + rs) / 2 - (lh + rh) / 2).norm().clamp_min(1.0)
    r = rest_keypoints
    height_3d = ((r[_TORSO[0]] + r[_TORSO[1]]) / 2 - (r[_TORSO[2]] + r[_TORSO[3]]) / 2).norm()
    depth = K[1, 1] * height_3d / height_2d
    centre_2d = (ls + rs + lh + rh) / 4
    ray = torch.linalg.solve(K, torch.cat([centre_2d, centre_2d.new_ones(1)]))
    centre_cam = ray / ray[2] * depth  # where the torso centre must be, camera frame
    centre_body = roma.rotvec_to_rotmat(go) @ r[_TORSO].mean(0)  # [B, 3] torso centre from the body origin, world
    return centre_cam @ R - centre_body  # camera -> world is R^T x = x @ R


class BodyFitter:
    """Fits a body model to :class:`FitTarget` s; build once, call per image (reuses the body's points)."""

    def __init__(self, body: BodyModel, config: FitConfig | None = None, prior_poses: Tensor | None = None) -> None:
        self.body = body
        self.config = config or FitConfig()
        self.points: FitPoints = fit_points_for(body)
        self.priors = _priors(body, prior_poses)
        up, forward = BODY_FRAMES.get(body.name, BODY_FRAMES["anny"])
        self.up = torch.tensor(up)
        self.R = front_camera_rotation(up, forward)  # the camera's fixed rotation; the body turns
        self.bounded_shape = body.name == "anny"  # phenotypes live in [0, 1]; betas are unbounded
        self.neutral_shape = body.neutral_shape(1).float().cpu()  # the shape prior's centre

    def __call__(self, target: FitTarget, init: FitResult | None = None) -> FitResult:
        return self.fit(target, init)

    # -- helpers -----------------------------------------------------------------------------
    def _evaluate(
        self,
        target: FitTarget,
        sil: SilhouetteTarget | None,
        free_pose: Tensor,
        shape: Tensor,
        go: Tensor,
        transl: Tensor,
        kp_weight: Tensor,
        silhouette: float,
    ) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        """Total loss ``[B]``, its terms and the projected keypoints; ``silhouette`` scales the silhouette terms."""
        cfg, body = self.config, self.body
        batch = free_pose.shape[0]
        pose = torch.zeros(batch, body.num_joints, 3, dtype=free_pose.dtype)
        pose = pose.index_copy(1, self.priors.free, free_pose)
        out = self.points(pose, shape, go, transl)
        R = self.R
        scale = REFERENCE_SIZE / max(target.width, target.height)
        kp2d = project(out.keypoints @ R.T, target.K)
        terms = {"keypoints": cfg.w_keypoints * keypoint_loss(kp2d, target.keypoints, kp_weight, cfg.keypoint_sigma, scale)}
        if silhouette > 0 and sil is not None:
            inside, cover = silhouette_losses(project(out.surface @ R.T, target.K), sil, cfg.silhouette_sigma, scale, cfg.cover_sigma)
            terms["silhouette_inside"] = silhouette * cfg.w_silhouette_inside * inside
            terms["silhouette_cover"] = silhouette * cfg.w_silhouette_cover * cover
        terms["pose_prior"] = cfg.w_pose_prior * _pose_prior(free_pose, self.priors)
        terms["joint_limits"] = cfg.w_joint_limits * _joint_limits(free_pose, self.priors)
        terms["shape_prior"] = cfg.w_shape_prior * (shape - self.neutral_shape).square().sum(-1)
        total = sum(terms.values())
        return total, terms, kp2d

    def _keypoint_weights(self, target: FitTarget) -> Tensor:
        cfg = self.config
        w = target.confidence.float().clamp(0, 1) * self.points.available.float()
        factor = torch.ones_like(w)
        factor[_FACE] = cfg.w_face
        factor[17:] = cfg.w_feet
        return w * factor

    # -- the three stages ---------------------------------------------------------------------
    def fit(self, target: FitTarget, init: FitResult | None = None) -> FitResult:
        """Fit the body to ``target``; ``init`` (a previous fit) skips the heading search.

        Works inside ``torch.no_grad()`` too: the fit is an optimisation and turns gradients on for itself.
        """
        threads = torch.get_num_threads()
        if self.config.num_threads:
            torch.set_num_threads(self.config.num_threads)
        try:
            with torch.enable_grad():
                return self._fit(target, init)
        finally:
            torch.set_num_threads(threads)

    def _fit(self, target: FitTarget, init: FitResult | None) -> FitResult:
        cfg, body = self.config, self.body
        deadline = time.perf_counter() + cfg.time_limit_s  # a budget, not a measurement
        kp_weight = self._keypoint_weights(target)
        if float(kp_weight[_TORSO].min()) <= 0:
            raise ValueError("both shoulders and both hips must be visible to fit a body (torso keypoints are missing)")
        sil = SilhouetteTarget.from_mask(target.mask, cfg.silhouette_contour_points, target.valid) if target.mask is not None else None
        nfree = len(self.priors.free)
        shape = self.neutral_shape.clone()
        with torch.no_grad():
            zero_pose = torch.zeros(1, body.num_joints, 3)
            rest_kp = self.points(zero_pose, shape, torch.zeros(1, 3), torch.zeros(1, 3)).keypoints[0]

        # 1. Camera + global orientation: rigid torso fit from several heading guesses, in a batch.
        if init is None:
            yaws = torch.tensor(_heading_candidates(target, rest_kp))
            go = yaws[:, None] * self.up  # turns about the body's up axis
            transl = _initial_translation(target, rest_kp, go, self.R)
            free_pose = self.priors.means[0].expand(len(yaws), nfree, 3).clone()
            rigid_weight = torch.zeros_like(kp_weight)
            rigid_weight[_TORSO] = kp_weight[_TORSO]
            rigid_weight[_FACE] = kp_weight[_FACE]
            go, transl = self._optimise_rigid(target, rest_kp, go, transl, rigid_weight, deadline)
            with torch.no_grad():
                loss, _, _ = self._evaluate(target, None, free_pose, shape.expand(len(yaws), -1), go, transl, rigid_weight, 0.0)
            best = int(loss.argmin())
            logger.info(
                "heading guesses %s -> losses %s, kept %.0f deg",
                [round(math.degrees(y)) for y in yaws.tolist()],
                [round(v, 1) for v in loss.tolist()],
                math.degrees(float(yaws[best])),
            )
            go, transl, free_pose = go[best : best + 1], transl[best : best + 1], free_pose[:1]
        else:
            go, transl = init.global_orient.clone().float(), init.transl.clone().float()
            free_pose = init.pose[:, self.priors.free].clone().float()
            shape = init.shape.clone().float()

        # 2. Pose (and the rigid parameters), then 3. pose + shape.
        free_pose, shape, go, transl = self._optimise(target, sil, free_pose, shape, go, transl, kp_weight, cfg.iters_pose, False, deadline)
        free_pose, shape, go, transl = self._optimise(target, sil, free_pose, shape, go, transl, kp_weight, cfg.iters_shape, True, deadline)

        with torch.no_grad():
            total, terms, kp2d = self._evaluate(target, sil, free_pose, shape, go, transl, kp_weight, 1.0)
        pose = torch.zeros(1, body.num_joints, 3).index_copy(1, self.priors.free, free_pose)
        camera = Camera(K=target.K[None].float(), R=self.R[None].clone(), t=torch.zeros(1, 3), width=target.width, height=target.height)
        losses = {k: round(float(v), 4) for k, v in terms.items()} | {"total": round(float(total), 4)}
        logger.info("fit losses: %s", losses)
        return FitResult(body.name, pose.detach(), shape.detach(), go.detach(), transl.detach(), camera, kp2d[0].detach(), losses)

    def _optimise_rigid(self, target: FitTarget, rest_kp: Tensor, go: Tensor, transl: Tensor, weight: Tensor, deadline: float) -> tuple[Tensor, Tensor]:
        """Stage 1: global orientation and translation of the rest body (its keypoints are fixed)."""
        cfg = self.config
        scale = REFERENCE_SIZE / max(target.width, target.height)
        go, transl = go.clone().requires_grad_(), transl.clone().requires_grad_()
        opt = torch.optim.Adam([{"params": [go], "lr": cfg.lr}, {"params": [transl], "lr": cfg.lr / 3}])
        for _ in range(cfg.iters_camera):
            if time.perf_counter() > deadline:
                break
            kp = rest_kp[None] @ roma.rotvec_to_rotmat(go).transpose(1, 2) + transl[:, None]
            kp2d = project(kp @ self.R.T, target.K)
            loss = keypoint_loss(kp2d, target.keypoints, weight, cfg.keypoint_sigma, scale).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return go.detach(), transl.detach()

    def _optimise(
        self,
        target: FitTarget,
        sil: SilhouetteTarget | None,
        free_pose: Tensor,
        shape: Tensor,
        go: Tensor,
        transl: Tensor,
        kp_weight: Tensor,
        iters: int,
        with_shape: bool,
        deadline: float,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Stages 2 and 3: Adam on pose (+ shape) and the rigid parameters; stage 2 ramps the silhouette in."""
        cfg = self.config
        free_pose, go, transl = free_pose.clone().requires_grad_(), go.clone().requires_grad_(), transl.clone().requires_grad_()
        groups = [{"params": [free_pose, go], "lr": cfg.lr}, {"params": [transl], "lr": cfg.lr / 3}]
        shape = shape.clone().requires_grad_(with_shape)
        if with_shape:
            groups.append({"params": [shape], "lr": cfg.lr})
        opt = torch.optim.Adam(groups)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 if i < 0.6 * iters else 0.3)
        ramp = max(1, iters // 2)  # stage 2 brings the silhouette in gradually, once keypoints placed the limbs
        for i in range(iters):
            if time.perf_counter() > deadline:
                logger.warning("body fit stopped at its time limit (%.0f s)", cfg.time_limit_s)
                break
            weight = 1.0 if with_shape else min(1.0, i / ramp)
            total, _, _ = self._evaluate(target, sil, free_pose, shape, go, transl, kp_weight, silhouette=weight)
            opt.zero_grad()
            total.sum().backward()
            opt.step()
            sched.step()
            if with_shape and self.bounded_shape:
                with torch.no_grad():
                    shape.clamp_(0.0, 1.0)
        return free_pose.detach(), shape.detach(), go.detach(), transl.detach()


def fit_body(body: BodyModel, target: FitTarget, config: FitConfig | None = None, prior_poses: Tensor | None = None) -> FitResult:
    """Fit ``body`` to one image's keypoints and mask (see the module docstring)."""
    return BodyFitter(body, config, prior_poses).fit(target)


__all__ = [
    "ANNY_FREE_BONES",
    "BODY_FRAMES",
    "COCO_KEYPOINTS",
    "FRONT_CAMERA_R",
    "BodyFitter",
    "FitConfig",
    "FitResult",
    "FitTarget",
    "SilhouetteTarget",
    "fit_body",
    "gmof",
    "keypoint_loss",
    "silhouette_losses",
]
