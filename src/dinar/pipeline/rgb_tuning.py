"""Step 2: RGB tuning (paper appendix B): a few Adam steps on T_rgb with the renderer's gradients.

The texture is rendered in the photo's own view and compared with the photo (composites over one
background, as in stage 1) with the stage-1 generator losses of paper eq. 4 / 4.1::

    2.2·L2 + 1.0·LPIPS (+ 0.01·non-saturating adversarial, when the stage-1 discriminator is available)

Only the RGB channels 16:19 move, and "gradients are applied to texels with weights that correspond
to the angles between the normal vectors and the camera direction": the texels are parametrized as

    T_rgb = clamp(T_rgb⁰ + w ⊙ δ, −1, 1),   w = λ · B_fill,   δ ← Adam, starting at 0

so a texel moves by at most ``w`` times Adam's step: frontal texels most, grazing ones little, and
texels the photo does not see (λ = 0) or that Algorithm 1 did not fill (B_fill = 0, unknown texels
the inpainting restores) not at all. (Scaling the gradient instead would not do this: Adam divides
each element's step by its own gradient scale.) The discriminator is used frozen, as a fixed critic:
its R1 regularization only matters while it trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor
from tqdm import tqdm

from dinar.geometry.raster import RasterOutput
from dinar.losses import g_nonsaturating_loss, l2
from dinar.nn.avatar_model import AvatarModel
from dinar.nn.config import TEXTURE_GEN_CHANNELS

from .photos import crop_views, render_composite

RGB = slice(TEXTURE_GEN_CHANNELS, TEXTURE_GEN_CHANNELS + 3)
"""T_rgb's channels in T (paper eq. 2): 16:19."""


@dataclass(frozen=True)
class TuningWeights:
    """Loss weights (paper 4.1: λ1 = 2.2, λ2 = 1.0, λ4 = 0.01)."""

    l2: float = 2.2
    lpips: float = 1.0
    adversarial: float = 0.01


@dataclass
class RGBTuningOutput:
    """Result of :func:`tune_rgb`."""

    texture: Tensor  # [1, 21, S, S] T with tuned RGB channels (all other channels untouched)
    losses: list[float] = field(default_factory=list)  # total loss before each step


def texel_weights(angle: Tensor, filled: Tensor) -> Tensor:
    """``w = λ · B_fill``, ``[B, 1, S, S]`` in [0, 1]: how far each texel may move (module docstring)."""
    return angle.clamp(0, 1) * (filled > 0.5).to(angle.dtype)


def tune_rgb(
    model: AvatarModel,
    texture: Tensor,  # [1, 21, S, S] T of the photo
    weights: Tensor,  # [1, 1, S, S] w from :func:`texel_weights`
    target: Tensor,  # [1, 3, N, N] the photo matted over ``background``, in [-1, 1]
    raster: RasterOutput,  # the photo's UV-render (:attr:`dinar.pipeline.photos.PreparedPhoto.raster`)
    steps: int = 64,
    lr: float = 0.01,
    lpips=None,  # dinar.losses.LPIPS, or None to leave the LPIPS term out
    discriminator=None,  # the stage-1 dinar.nn.Discriminator, or None
    background: float = 1.0,
    loss_weights: TuningWeights = TuningWeights(),
    progress: bool = False,
    tiles: Sequence[tuple[int, int]] = ((0, 0),),
    patch: int | None = None,
) -> RGBTuningOutput:
    """Optimize T_rgb of ``texture`` against the photo for ``steps`` Adam steps (module docstring).

    ``tiles`` and ``patch``: step k compares the ``patch``² square at ``tiles[k % len(tiles)]`` only
    (:meth:`~dinar.pipeline.photos.PreparedPhoto.tiles`; the patches θ and D were trained on, ``hd``);
    None: the whole image. The model's weights are not changed and get no ``.grad``; the model should
    be in eval mode.
    """
    texture = texture.detach().float()
    rgb0 = texture[:, RGB]
    delta = torch.zeros_like(rgb0, requires_grad=True)
    optimizer = torch.optim.Adam([delta], lr=lr)
    losses: list[float] = []
    w = weights.detach().to(rgb0)
    views = [crop_views((raster.uv, raster.mask, target), [corner], patch) for corner in tiles]
    for k in tqdm(range(steps), desc="RGB tuning", leave=False, disable=None if progress else True):
        uv, uv_mask, goal = views[k % len(views)]
        rgb = (rgb0 + w * delta).clamp(-1, 1)
        current = torch.cat([texture[:, : RGB.start], rgb, texture[:, RGB.stop :]], dim=1)
        fake, _ = render_composite(model, current, uv, uv_mask, background)
        loss = loss_weights.l2 * l2(fake, goal)
        if lpips is not None and loss_weights.lpips > 0:
            loss = loss + loss_weights.lpips * lpips(fake, goal).mean()
        if discriminator is not None and loss_weights.adversarial > 0:
            loss = loss + loss_weights.adversarial * g_nonsaturating_loss(discriminator(fake).score)
        (grad,) = torch.autograd.grad(loss, [delta])
        delta.grad = grad
        optimizer.step()
        losses.append(float(loss.detach()))
    with torch.no_grad():
        tuned = texture.clone()
        tuned[:, RGB] = (rgb0 + w * delta).clamp(-1, 1)
    return RGBTuningOutput(texture=tuned, losses=losses)
