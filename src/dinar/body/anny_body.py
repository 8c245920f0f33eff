"""The default body model: Anny (Apache-2.0 code, CC0 MakeHuman data), shipped in its wheel.

Shape is Anny's six phenotype parameters in [0, 1] (gender, age, muscle, weight, height,
proportions; 0.5 is the average adult). Pose is axis-angle per bone, ``[B, 104, 3]``, in Anny's
``local-ref`` parameterization: each bone's rotation about its head, with axes in the fixed
reference frame of the rest pose (world-aligned), relative to the A-pose. Bone 0 is the root;
leave it zero and use ``global_orient``.
"""

from __future__ import annotations

import functools
import logging
import re

import roma
import torch
from torch import Tensor

from dinar.body.base import BodyModel, BodyOutput, Skeleton
from dinar.body.parts import PART_NAMES, parts_from_skinning
from dinar.geometry.normals import vertex_normals
from dinar.paths import anny_cache_dir

logger = logging.getLogger(__name__)

_PART_RULES = [  # (bone-name pattern, part), first match wins; ".L"/".R" kept by the part name
    (r"^(neck|head|eye)", "head"),
    (r"^(shoulder01|upperarm)", "upperarm"),
    (r"^lowerarm", "lowerarm"),
    (r"^(wrist|finger|metacarpal)", "hand"),
    (r"^upperleg", "upperleg"),
    (r"^lowerleg", "lowerleg"),
    (r"^(foot|toe)", "foot"),
]


def _bone_part(name: str) -> int:
    side = name[-2:] if name[-2:] in (".L", ".R") else ""
    for pattern, part in _PART_RULES:
        if re.match(pattern, name):
            return PART_NAMES.index(part if part == "head" else part + side)
    return PART_NAMES.index("torso")


@functools.lru_cache(maxsize=1)
def _build_anny():
    """Build (first time: ~60-90 s, ~0.8 GB cache) or load Anny once per process."""
    import anny
    import anny.paths

    cache = anny_cache_dir()
    anny.paths.set_anny_cache_path(cache)
    if not cache.is_dir() or not any(cache.iterdir()):
        logger.warning("Building the Anny body model once into %s (about a minute, ~0.8 GB)...", cache)
    return anny.Anny(skinning_method="lbs").to(torch.float32).eval()


class AnnyBody(BodyModel):
    """Anny behind the :class:`BodyModel` interface, float32, linear blend skinning (no warp needed)."""

    name = "anny"

    def __init__(self) -> None:
        super().__init__()
        model = _build_anny()
        object.__setattr__(self, "_anny", model)  # shared, not a submodule: keeps state_dict empty
        self.shape_names = list(model.phenotype_labels)
        faces = model.faces.long()
        uv = model.texture_coordinates.float()
        self.register_buffer("faces", faces, persistent=False)
        self.register_buffer("face_uvs", uv[model.face_texture_coordinate_indices.long()], persistent=False)
        skin_idx = model.vertex_bone_indices.long()
        skin_w = model.vertex_bone_weights.float()
        names = list(model.bone_labels)
        rest = model()
        self.skeleton = Skeleton(
            names=names,
            parents=torch.as_tensor(model.bone_parents, dtype=torch.long),
            rest_joints=rest["rest_bone_poses"][0, :, :3, 3].detach().float(),
            skin_indices=skin_idx,
            skin_weights=skin_w,
        )
        self.parts = parts_from_skinning([_bone_part(n) for n in names], skin_idx, skin_w)

    def neutral_shape(self, batch_size: int = 1) -> Tensor:
        return torch.full((batch_size, self.num_shape), 0.5, device=self.faces.device)

    def _apply(self, fn, recurse=True):  # keep the shared Anny model on the same device
        super()._apply(fn, recurse)
        object.__setattr__(self, "_anny", self._anny._apply(fn))
        for attr in ("parents", "rest_joints", "skin_indices", "skin_weights"):
            setattr(self.skeleton, attr, fn(getattr(self.skeleton, attr)) if getattr(self.skeleton, attr).is_floating_point() else getattr(self.skeleton, attr).to(self.faces.device))
        self.parts.labels = self.parts.labels.to(self.faces.device)
        self.parts.weights = self.parts.weights.to(self.faces.device)
        return self

    def forward(
        self,
        pose: Tensor | None = None,  # [B, J, 3]
        shape: Tensor | None = None,  # [B, S]
        global_orient: Tensor | None = None,  # [B, 3]
        transl: Tensor | None = None,  # [B, 3]
    ) -> BodyOutput:
        batch = self._batch_size(pose, shape, global_orient, transl)
        device = self.faces.device
        if pose is None:
            pose = torch.zeros(batch, self.num_joints, 3, device=device)
        if pose.shape[1:] != (self.num_joints, 3):
            raise ValueError(f"pose must be [B, {self.num_joints}, 3] axis-angle, got {tuple(pose.shape)}")
        if shape is None:
            shape = self.neutral_shape(batch)
        if shape.shape[1:] != (self.num_shape,):
            raise ValueError(f"shape must be [B, {self.num_shape}] ({', '.join(self.shape_names)}), got {tuple(shape.shape)}")
        delta = torch.zeros(batch, self.num_joints, 4, 4, device=device, dtype=torch.float32)
        delta[..., :3, :3] = roma.rotvec_to_rotmat(pose.float())
        delta[..., 3, 3] = 1.0
        out = self._anny(pose_parameters=delta, phenotype_kwargs=shape.float())
        # local-ref places the root bone at the origin; put it back where the rest model has it so
        # that zero pose stays on the rest mesh (within ~1 cm: Anny's reference bone orientations
        # differ slightly from its rest ones).
        root = out["rest_bone_poses"][:, 0].expand(batch, 4, 4)
        verts = out["vertices"] @ root[:, :3, :3].transpose(1, 2) + root[:, None, :3, 3]
        bone_poses = root[:, None] @ out["bone_poses"]
        transforms = bone_poses @ torch.linalg.inv(out["rest_bone_poses"]).expand_as(bone_poses)
        if global_orient is not None or transl is not None:
            rigid = torch.eye(4, device=device).repeat(batch, 1, 1)
            if global_orient is not None:
                rigid[:, :3, :3] = roma.rotvec_to_rotmat(global_orient.float())
            if transl is not None:
                rigid[:, :3, 3] = transl.float()
            verts = verts @ rigid[:, :3, :3].transpose(1, 2) + rigid[:, None, :3, 3]
            transforms = rigid[:, None] @ transforms
            bone_poses = rigid[:, None] @ bone_poses
        return BodyOutput(
            vertices=verts,
            joints=bone_poses[..., :3, 3],
            normals=vertex_normals(verts, self.faces),
            bone_transforms=transforms,
        )
