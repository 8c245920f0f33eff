"""Step 5: linear colour adjustment of the restored texture (paper appendix B, eq. 7).

``T_rgb ← T_rgb · α + β`` on the RGB channels of the VQ decoder's output T_res, with one α and one β
per colour channel shared by all texels. They are fitted with the renderer's gradients: T_res,
adjusted, is rendered in each photo's view and compared with the photo on the pixels where both the
photo's person mask and the rendered body are (L2 on those pixels), by Adam from the identity
(α = 1, β = 0). T_res is the whole texture, front included, so matching its visible part to the
photo also corrects the colours of the back it invented; eq. 6 then puts the photo's own texels back,
and the seam between them and the adjusted restored texels is smaller.

Why Adam through the renderer and not a closed-form least squares: the quantity to match is the
rendered image, and θ is a non-linear U-Net, so no closed form fits α, β in image space. (A least
squares fit in texture space, T_res against T_rgb on B_fill, would be closed-form but would ignore how
θ turns colours into pixels — the paper fits through the renderer, and so do we.) Six parameters
converge in a few dozen steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor
from tqdm import tqdm

from dinar.nn.avatar_model import AvatarModel

from .photos import crop_views, render_composite
from .rgb_tuning import RGB


@dataclass
class ColorAdjustment:
    """α, β of eq. 7 and how the fit went."""

    alpha: Tensor  # [3] per-channel gain
    beta: Tensor  # [3] per-channel offset (colours in [-1, 1])
    losses: list[float] = field(default_factory=list)  # masked L2 before each step

    @classmethod
    def identity(cls, device: torch.device | str = "cpu") -> ColorAdjustment:
        return cls(alpha=torch.ones(3, device=device), beta=torch.zeros(3, device=device))

    def to_json(self) -> dict[str, list[float]]:
        return {"alpha": [round(float(v), 6) for v in self.alpha], "beta": [round(float(v), 6) for v in self.beta]}


def apply_color_adjustment(texture: Tensor, alpha: Tensor, beta: Tensor) -> Tensor:
    """Eq. 7 on the RGB channels 16:19 of ``texture [B, 21, S, S]``; the other channels unchanged.
    ``alpha = 1, beta = 0`` returns the texture exactly."""
    rgb = texture[:, RGB] * alpha.view(1, 3, 1, 1) + beta.view(1, 3, 1, 1)
    return torch.cat([texture[:, : RGB.start], rgb, texture[:, RGB.stop :]], dim=1)


def visible_pixels(person_mask: Tensor, uv_mask: Tensor) -> Tensor:
    """``[B, 1, N, N]`` pixels that show the person in the photo and the fitted body in its UV-render."""
    return (person_mask > 0.5).to(torch.float32) * (uv_mask > 0.5).to(torch.float32)


def fit_color_adjustment(
    model: AvatarModel,
    restored: Tensor,  # [1, 21, S, S] T_res
    target: Tensor,  # [V, 3, N, N] the photos matted over ``background``, in [-1, 1]
    uv: Tensor,  # [V, 2, N, N] the photos' UV-renders
    uv_mask: Tensor,  # [V, 1, N, N]
    pixels: Tensor,  # [V, 1, N, N] from :func:`visible_pixels`
    steps: int = 32,
    lr: float = 0.02,
    background: float = 1.0,
    progress: bool = False,
    tiles: Sequence[Sequence[tuple[int, int]]] | None = None,
    patch: int | None = None,
) -> ColorAdjustment:
    """Fit α, β (eq. 7) from the identity by ``steps`` Adam steps (module docstring). ``tiles`` (one list
    per view) and ``patch``: step k compares the ``patch``² square at view v's ``tiles[v][k % len]``
    only (as RGB tuning, ``hd``); None: whole images. The model's weights are not changed and get no ``.grad``."""
    restored = restored.detach().float()
    alpha = torch.ones(3, device=restored.device, requires_grad=True)
    beta = torch.zeros(3, device=restored.device, requires_grad=True)
    optimizer = torch.optim.Adam([alpha, beta], lr=lr)
    tiles = tiles or [[(0, 0)]] * target.shape[0]
    rounds = max(len(t) for t in tiles)
    views = [crop_views((target, uv, uv_mask, pixels.detach().float()), [t[k % len(t)] for t in tiles], patch) for k in range(rounds)]
    losses: list[float] = []
    for k in tqdm(range(steps), desc="colour adjustment", leave=False, disable=None if progress else True):
        goal, uv_k, uv_mask_k, weight = views[k % rounds]
        fake, _ = render_composite(model, apply_color_adjustment(restored, alpha, beta), uv_k, uv_mask_k, background)
        loss = ((fake - goal).pow(2) * weight).sum() / (weight.sum() * 3).clamp_min(1.0)
        alpha.grad, beta.grad = torch.autograd.grad(loss, [alpha, beta])
        optimizer.step()
        losses.append(float(loss.detach()))
    return ColorAdjustment(alpha=alpha.detach(), beta=beta.detach(), losses=losses)
