"""Body-part groups derived from skin weights, shared by every backend.

Each bone is mapped to one of a few coarse parts; a vertex's soft membership is the sum of its skin
weights per part, so memberships blend smoothly across joints (paper 3.5 wants gradients between
limbs so the part colormap has no seams inside a limb).
"""

from __future__ import annotations

import torch
from torch import Tensor

from dinar.body.base import BodyParts

PART_NAMES = [
    "head",
    "torso",
    "upperarm.L",
    "lowerarm.L",
    "hand.L",
    "upperarm.R",
    "lowerarm.R",
    "hand.R",
    "upperleg.L",
    "lowerleg.L",
    "foot.L",
    "upperleg.R",
    "lowerleg.R",
    "foot.R",
]


def parts_from_skinning(
    bone_part: list[int],  # J part index per bone
    skin_indices: Tensor,  # [V, K]
    skin_weights: Tensor,  # [V, K]
) -> BodyParts:
    """Soft and hard part labels of every vertex from its skin weights."""
    part_of_bone = torch.tensor(bone_part, dtype=torch.long, device=skin_indices.device)
    num_vertices = skin_indices.shape[0]
    weights = torch.zeros(num_vertices, len(PART_NAMES), dtype=torch.float32, device=skin_indices.device)
    weights.scatter_add_(1, part_of_bone[skin_indices], skin_weights.float())
    weights = weights / weights.sum(1, keepdim=True).clamp_min(1e-8)
    return BodyParts(names=list(PART_NAMES), labels=weights.argmax(1), weights=weights)
