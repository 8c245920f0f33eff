"""Stage-1 losses (paper 3.1 eq. 4, 4.1): L2, LPIPS, Dice, non-saturating GAN, R1; loss crops."""

from .adversarial import d_logistic_loss, g_nonsaturating_loss, r1_penalty
from .crops import body_patches, random_crop
from .lpips import LPIPS
from .lpips_weights import LPIPSWeightsError, lpips_state_dict
from .pixel import dice, l2, psnr
from .stage1 import Stage1Losses, crop_boxes, generator_losses

__all__ = [
    "LPIPS",
    "LPIPSWeightsError",
    "Stage1Losses",
    "body_patches",
    "crop_boxes",
    "d_logistic_loss",
    "dice",
    "g_nonsaturating_loss",
    "generator_losses",
    "l2",
    "lpips_state_dict",
    "psnr",
    "r1_penalty",
    "random_crop",
]
