"""Stage 1's generator loss (paper 3.1 eq. 4, 4.1): the weighted sum of L2, LPIPS on a random crop,
Dice on the mask, the adversarial term and L2 + LPIPS on the face crop, as pure functions of the
rendered and target images (stage 1 and its end-to-end fine-tuning through the VQ use it)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from .adversarial import g_nonsaturating_loss
from .crops import random_crop
from .lpips import LPIPS
from .pixel import dice, l2


class Stage1LossWeights(Protocol):
    """The loss weights and crop sizes :func:`generator_losses` reads (``dinar.train.stage1.Stage1TrainConfig``)."""

    @property
    def l2_weight(self) -> float: ...
    @property
    def lpips_weight(self) -> float: ...
    @property
    def dice_weight(self) -> float: ...
    @property
    def adv_weight(self) -> float: ...
    @property
    def face_weight(self) -> float: ...
    @property
    def resolved_face_size(self) -> int: ...
    @property
    def resolved_lpips_crop(self) -> int: ...


def crop_boxes(images: Tensor, boxes: Tensor, size: int) -> Tensor:
    """[B, C, size, size] crops of ``images`` [B, C, H, W] at pixel ``boxes`` [B, 4] (x0, y0, x1, y1),
    bilinearly resized (differentiable w.r.t. the images; border values outside the image)."""
    b, c, h, w = images.shape
    boxes = boxes.to(images.dtype)
    theta = images.new_zeros(b, 2, 3)
    theta[:, 0, 0] = (boxes[:, 2] - boxes[:, 0]) / w
    theta[:, 0, 2] = (boxes[:, 0] + boxes[:, 2]) / w - 1
    theta[:, 1, 1] = (boxes[:, 3] - boxes[:, 1]) / h
    theta[:, 1, 2] = (boxes[:, 1] + boxes[:, 3]) / h - 1
    grid = F.affine_grid(theta, [b, c, size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


@dataclass
class Stage1Losses:
    """The generator-step losses (paper eq. 4), unweighted, and their weighted sum."""

    total: Tensor  # [] weighted sum
    l2: Tensor  # [] L2 on the whole image
    lpips: Tensor  # [] LPIPS on the random crop
    dice: Tensor  # [] Dice on the mask
    adv: Tensor  # [] non-saturating adversarial (0 without a score)
    face_l2: Tensor  # [] L2 on the face crop
    face_lpips: Tensor  # [] LPIPS on the face crop

    def as_dict(self) -> dict[str, Tensor]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def generator_losses(
    fake: Tensor,  # [B, 3, H, W] rendered composite in [-1, 1]
    real: Tensor,  # [B, 3, H, W] target composite in [-1, 1]
    fake_mask: Tensor,  # [B, 1, H, W] rendered mask in [0, 1]
    real_mask: Tensor,  # [B, 1, H, W] target mask in [0, 1]
    face_box: Tensor,  # [B, 4] pixel boxes of the face in the target view
    lpips: LPIPS,
    config: Stage1LossWeights,
    fake_score: Tensor | None = None,  # [B, 1] D(fake)
    generator: torch.Generator | None = None,  # for the LPIPS crop
) -> Stage1Losses:
    """2.2·L2 + LPIPS(crop) + Dice + 0.01·Adv + 0.1·(L2 + LPIPS)(face) — paper 3.1 eq. 4 and 4.1.

    LPIPS runs on the same random crop of prediction and target (``resolved_lpips_crop``, one window
    per sample) and on the face crops (``face_box`` resized to ``resolved_face_size``)."""
    c = config
    fake32, real32 = fake.float(), real.float()
    zero = fake32.new_zeros(())
    loss_l2 = l2(fake32, real32)
    loss_lpips = loss_face_lpips = zero
    if c.lpips_weight > 0:  # terms with weight 0 are not computed (LPIPS is the costliest)
        crop_fake, crop_real = random_crop([fake32, real32], c.resolved_lpips_crop, generator=generator)
        loss_lpips = lpips(crop_fake, crop_real).mean()
    loss_dice = dice(fake_mask.float(), real_mask.float())
    face_fake = crop_boxes(fake32, face_box, c.resolved_face_size)
    face_real = crop_boxes(real32, face_box, c.resolved_face_size)
    loss_face_l2 = l2(face_fake, face_real)
    if c.face_weight > 0 and c.lpips_weight > 0:
        loss_face_lpips = lpips(face_fake, face_real).mean()
    loss_adv = g_nonsaturating_loss(fake_score.float()) if fake_score is not None else zero
    total = (
        c.l2_weight * loss_l2 + c.lpips_weight * loss_lpips + c.dice_weight * loss_dice + c.adv_weight * loss_adv
        + c.face_weight * (loss_face_l2 + loss_face_lpips)
    )
    return Stage1Losses(total, loss_l2, loss_lpips, loss_dice, loss_adv, loss_face_l2, loss_face_lpips)
