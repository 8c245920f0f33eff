"""The one interface every body model implements: pose and shape in, posed mesh out.

Coordinates: metres, right-handed; the world frame is the body model's own (Anny: Z up, the subject
faces -Y, +X is the subject's left). Pose is axis-angle per bone, ``[B, J, 3]``, relative to the
model's rest pose (Anny: an A-pose; SMPL-X: a T-pose). ``global_orient`` rotates the posed body about
the world origin and ``transl`` then moves it, so ``v_world = R(global_orient) @ v + transl``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class BodyOutput:
    """A posed body."""

    vertices: Tensor  # [B, V, 3] posed vertices in world coordinates
    joints: Tensor  # [B, J, 3] posed joint (bone head) positions in world coordinates
    normals: Tensor  # [B, V, 3] unit per-vertex normals (area-weighted face normals)
    bone_transforms: Tensor  # [B, J, 4, 4] per-bone skinning transform: rest mesh -> posed (LBS with the skeleton's weights)


@dataclass
class Skeleton:
    """The rig that animates a body: what a GLB skin or a motion retargeter needs."""

    names: list[str]  # J bone names
    parents: Tensor  # [J] parent index, -1 for the root
    rest_joints: Tensor  # [J, 3] rest-pose joint positions for the neutral shape
    skin_indices: Tensor  # [V, K] bone index of each of K influences per vertex
    skin_weights: Tensor  # [V, K] influence weights, rows sum to 1

    @property
    def num_joints(self) -> int:
        return len(self.names)


@dataclass
class BodyParts:
    """Per-vertex body-part labels (paper 3.5 uses them for the occlusion colormap)."""

    names: list[str]  # P part names
    labels: Tensor  # [V] part index of each vertex
    weights: Tensor  # [V, P] soft membership (rows sum to 1), smooth across joints


class BodyModel(torch.nn.Module):
    """A posable body with a fixed topology and a UV atlas.

    Subclasses hold their assets as non-persistent buffers and implement :meth:`forward`.
    """

    name: str
    faces: Tensor  # [F, 3] int64 vertex indices, counter-clockwise seen from outside
    face_uvs: Tensor  # [F, 3, 2] per-corner UVs in [0, 1], v up
    skeleton: Skeleton
    parts: BodyParts
    shape_names: list[str]  # S shape parameter names
    up_axis: tuple[float, float, float] = (0.0, 0.0, 1.0)  # world up of this model (Anny: +Z, SMPL-X: +Y)
    front_axis: tuple[float, float, float] = (0.0, -1.0, 0.0)  # direction the subject faces (Anny: -Y, SMPL-X: +Z)

    @property
    def num_vertices(self) -> int:
        return int(self.parts.labels.shape[0])

    @property
    def num_joints(self) -> int:
        return self.skeleton.num_joints

    @property
    def num_shape(self) -> int:
        return len(self.shape_names)

    def neutral_shape(self, batch_size: int = 1) -> Tensor:
        """Shape parameters of the model's average body, ``[B, S]``."""
        raise NotImplementedError

    def forward(
        self,
        pose: Tensor | None = None,  # [B, J, 3] axis-angle per bone
        shape: Tensor | None = None,  # [B, S]
        global_orient: Tensor | None = None,  # [B, 3] axis-angle
        transl: Tensor | None = None,  # [B, 3]
    ) -> BodyOutput:
        raise NotImplementedError

    # Helpers shared by backends -------------------------------------------------------------
    def _batch_size(self, *tensors: Tensor | None) -> int:
        sizes = {int(t.shape[0]) for t in tensors if t is not None}
        if len(sizes) > 1:
            raise ValueError(f"pose, shape, global_orient and transl disagree on batch size: {sorted(sizes)}")
        return sizes.pop() if sizes else 1

    def _device_dtype(self) -> tuple[torch.device, torch.dtype]:
        buf = self.faces
        return buf.device, torch.float32
