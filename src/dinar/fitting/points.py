"""What the body fitter evaluates at every step: posed 2D-able keypoints and surface samples.

Fitting needs only a few thousand points of the body (the keypoint regressor's support and a
uniform sample of the surface), not the whole posed mesh. :class:`FitPoints` evaluates exactly
those points. Two implementations share one interface:

- :class:`AnnyFitPoints` skins only the chosen vertices with Anny's own rest model and forward
  kinematics (the rest model is cached while the shape is fixed) — about 10x faster than a full
  forward pass, and equal to :class:`~dinar.body.anny_body.AnnyBody` to float precision (tested);
- :class:`GenericFitPoints` runs any :class:`~dinar.body.base.BodyModel` and indexes its output.

Keypoints are COCO-17 plus the six COCO-WholeBody foot points, in :data:`COCO_KEYPOINTS` order; the
subject's left is ``left_*`` (as in COCO and BlazePose).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import roma
import torch
from torch import Tensor

from dinar.body.base import BodyModel

COCO_KEYPOINTS = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_big_toe", "right_big_toe", "left_small_toe", "right_small_toe", "left_heel", "right_heel",
]  # fmt: skip
"""Keypoint names, in the order of Anny's COCO regressor (COCO-17, then the WholeBody foot points)."""

COCO_SKELETON = [
    (0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12),
    (11, 12), (11, 13), (13, 15), (12, 14), (14, 16), (15, 17), (15, 19), (15, 21), (16, 18), (16, 20), (16, 22),
]  # fmt: skip
"""Pairs of :data:`COCO_KEYPOINTS` indices joined when drawing a skeleton."""

_REGRESSOR_TOP_K = 64  # vertices kept per keypoint: < 0.3 mm from the full regressor (measured)
_SURFACE_VOXEL_M = 0.025  # one surface sample per 2.5 cm voxel of the rest mesh: ~2,500 points


@dataclass
class FitPointsOutput:
    """Posed points the fitter compares with an image."""

    keypoints: Tensor  # [B, K, 3] world coordinates, COCO_KEYPOINTS order (zeros where unavailable)
    surface: Tensor  # [B, N, 3] world coordinates of the surface samples


def _rigid(points: Tensor, global_orient: Tensor | None, transl: Tensor | None) -> Tensor:
    """``R(global_orient) @ p + transl`` for ``points [B, N, 3]``."""
    if global_orient is not None:
        points = points @ roma.rotvec_to_rotmat(global_orient).transpose(1, 2)
    if transl is not None:
        points = points + transl[:, None]
    return points


def voxel_samples(vertices: Tensor, voxel: float = _SURFACE_VOXEL_M) -> Tensor:
    """Indices of one vertex per occupied voxel of ``vertices [V, 3]``: a near-uniform surface sample."""
    key = torch.floor((vertices - vertices.min(0).values) / voxel).long()
    key = (key[:, 0] * 4096 + key[:, 1]) * 4096 + key[:, 2]
    _, inverse = torch.unique(key, return_inverse=True)
    first = torch.full((int(inverse.max()) + 1,), vertices.shape[0], dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(vertices.shape[0]), reduce="amin")
    return first.sort().values


class FitPoints(torch.nn.Module):
    """Keypoints and surface samples of a body for given parameters (see the module docstring)."""

    available: Tensor  # [K] bool, keypoints this body model can produce

    def forward(
        self,
        pose: Tensor,  # [B, J, 3]
        shape: Tensor,  # [B, S]
        global_orient: Tensor,  # [B, 3]
        transl: Tensor,  # [B, 3]
    ) -> FitPointsOutput:
        raise NotImplementedError


class AnnyFitPoints(FitPoints):
    """Anny's COCO regressor and surface samples, skinning only the vertices they use."""

    def __init__(self, body: BodyModel) -> None:
        super().__init__()
        import anny

        model = body._anny
        object.__setattr__(self, "_anny", model)
        regressor = anny.KeypointsRegressor.coco(model)
        if list(regressor.labels) != COCO_KEYPOINTS:
            raise RuntimeError(f"anny's COCO regressor labels changed: {regressor.labels}")
        weights = regressor.regression_weights.float()
        top = weights.topk(_REGRESSOR_TOP_K, dim=1)
        rest = body().vertices[0]
        surface = voxel_samples(rest)
        ids = torch.unique(torch.cat([top.indices.reshape(-1), surface]))
        where = torch.full((rest.shape[0],), -1, dtype=torch.long)
        where[ids] = torch.arange(len(ids))
        reg = torch.zeros(weights.shape[0], len(ids))
        reg.scatter_(1, where[top.indices], top.values)
        self.register_buffer("vertex_ids", ids, persistent=False)  # [N] vertices skinned
        self.register_buffer("regressor", reg / reg.sum(1, keepdim=True), persistent=False)  # [K, N]
        self.register_buffer("surface_index", where[surface], persistent=False)  # [N_s] into vertex_ids
        skin = torch.zeros(len(ids), body.num_joints)  # dense [N, J]: one matmul blends the transforms
        skin.scatter_add_(1, model.vertex_bone_indices[ids].long(), model.vertex_bone_weights[ids].float())
        self.register_buffer("skin", skin, persistent=False)
        self.register_buffer("available", torch.ones(len(COCO_KEYPOINTS), dtype=torch.bool), persistent=False)
        self._rest_cache: tuple[Tensor, tuple[Tensor, Tensor]] | None = None

    def _rest(self, shape: Tensor) -> tuple[Tensor, Tensor]:
        """Rest vertices ``[B, N, 3]`` (chosen ones) and rest bone poses ``[B, J, 4, 4]`` for ``shape``."""
        if not shape.requires_grad and self._rest_cache is not None and torch.equal(self._rest_cache[0], shape):
            return self._rest_cache[1]
        model = self._anny
        _, pheno, local, facial = model.get_tensor_inputs(None, shape.float(), None, None)
        coeffs = model._get_phenotype_blendshape_coefficients(pheno, local, facial)
        template = model.template_vertices[self.vertex_ids]
        blend = model.blendshapes[:, self.vertex_ids]  # [S, N, 3]
        rest_vertices = template[None] + torch.einsum("bs,snd->bnd", coeffs, blend)
        rest_bone_poses = model.get_rest_model(coeffs)["rest_bone_poses"]
        out = (rest_vertices, rest_bone_poses)
        if not shape.requires_grad:
            self._rest_cache = (shape.detach().clone(), out)
        return out

    def forward(self, pose: Tensor, shape: Tensor, global_orient: Tensor, transl: Tensor) -> FitPointsOutput:
        batch = pose.shape[0]
        rest_vertices, rest_bone_poses = self._rest(shape)
        delta = torch.zeros(batch, pose.shape[1], 4, 4, dtype=pose.dtype, device=pose.device)
        delta[..., :3, :3] = roma.rotvec_to_rotmat(pose)
        delta[..., 3, 3] = 1.0
        transforms, _ = self._anny.get_bone_transforms(delta, rest_bone_poses)  # [B, J, 4, 4]
        blended = (self.skin @ transforms[..., :3, :].reshape(batch, -1, 12)).view(batch, -1, 3, 4)  # [B, N, 3, 4]
        verts = (blended[..., :3] * rest_vertices[:, :, None, :]).sum(-1) + blended[..., 3]
        # AnnyBody puts the root bone back where the rest model has it (see anny_body.forward).
        root = rest_bone_poses[:, 0].expand(batch, 4, 4)
        verts = verts @ root[:, :3, :3].transpose(1, 2) + root[:, None, :3, 3]
        verts = _rigid(verts, global_orient, transl)
        keypoints = torch.einsum("kn,bnd->bkd", self.regressor, verts)
        return FitPointsOutput(keypoints=keypoints, surface=verts[:, self.surface_index])


class GenericFitPoints(FitPoints):
    """Any :class:`BodyModel`: keypoints from skeleton joints whose names are COCO names (SMPL-X's are),
    or from a ``coco_keypoint_regressor() -> [K, V]`` method when the body model has one."""

    def __init__(self, body: BodyModel) -> None:
        super().__init__()
        self.body = body
        rest = body().vertices[0]
        self.register_buffer("surface_ids", voxel_samples(rest), persistent=False)
        regressor = getattr(body, "coco_keypoint_regressor", None)
        names = list(body.skeleton.names)
        joint_ids = torch.tensor([names.index(n) if n in names else -1 for n in COCO_KEYPOINTS])
        self.register_buffer("joint_ids", joint_ids, persistent=False)
        reg = regressor().float() if callable(regressor) else None
        self.register_buffer("regressor", reg, persistent=False)  # [K, V] or None
        available = torch.ones(len(COCO_KEYPOINTS), dtype=torch.bool) if reg is not None else joint_ids >= 0
        if not available[[5, 6, 11, 12]].all():
            raise ValueError(
                f"body model {body.name!r} has no COCO keypoint regressor and no joints named "
                "left/right_shoulder and left/right_hip: give it a coco_keypoint_regressor() method"
            )
        self.register_buffer("available", available, persistent=False)

    def forward(self, pose: Tensor, shape: Tensor, global_orient: Tensor, transl: Tensor) -> FitPointsOutput:
        out = self.body(pose=pose, shape=shape, global_orient=global_orient, transl=transl)
        if self.regressor is not None:
            keypoints = torch.einsum("kv,bvd->bkd", self.regressor, out.vertices)
        else:
            keypoints = out.joints[:, self.joint_ids.clamp_min(0)] * self.available[None, :, None]
        return FitPointsOutput(keypoints=keypoints, surface=out.vertices[:, self.surface_ids])


@functools.lru_cache(maxsize=4)
def fit_points_for(body: BodyModel) -> FitPoints:
    """The fastest :class:`FitPoints` for ``body`` (one per body model instance, built once)."""
    if getattr(body, "name", None) == "anny" and hasattr(body, "_anny"):
        return AnnyFitPoints(body)
    return GenericFitPoints(body)
