"""Exponential moving average of a network's weights for training: diffusers' ``EMAModel`` does the
averaging; :class:`EMAShadow` adds the averaged network itself (for validation and the released weights)
and the state for ``--resume``.

Warm-up as latent diffusion's ``LitEma``: the n-th update uses ``decay_n = min(decay, (1 + n) / (10 + n))``,
so early averages are not dominated by the random initialization (``EMAModel`` with
``update_after_step=-1``; its default 0 would make the first update a plain copy).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from diffusers.training_utils import EMAModel
from torch import nn


class EMAShadow:
    """``EMAModel`` over ``module``'s parameters, and ``shadow``: a frozen copy of ``module`` holding the
    averaged parameters (buffers as the module has them), in the module's train/eval mode.

    Not an ``nn.Module``: the averages stay out of the LightningModule's ``state_dict``; a checkpoint
    carries :meth:`state_dict` (plain values and tensors, no pickle) beside it.
    """

    def __init__(self, module: nn.Module, decay: float = 0.9999):
        self.module = module
        self.ema = EMAModel(module.parameters(), decay=decay, update_after_step=-1, foreach=True)
        self._shadow: nn.Module | None = None
        self._shadow_step = -1

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """One EMA step towards ``module``'s parameters (the module the EMA was made for, or a copy of it)."""
        params = list(module.parameters())
        if self.ema.shadow_params and self.ema.shadow_params[0].device != params[0].device:
            self.ema.to(device=params[0].device)
        self.ema.step(params)

    @property
    def shadow(self) -> nn.Module:
        """The averaged network (rebuilt after each update, on the module's device, without gradients)."""
        device = next(self.module.parameters()).device
        if self._shadow is None or self._shadow_step != self.ema.optimization_step or next(self._shadow.parameters()).device != device:
            shadow = copy.deepcopy(self.module).requires_grad_(False)
            for p in shadow.parameters():
                p.grad = None
            self.ema.copy_to(shadow.parameters())
            self._shadow, self._shadow_step = shadow, self.ema.optimization_step
        return self._shadow.train(self.module.training)

    def state_dict(self) -> dict[str, Any]:
        """``EMAModel``'s state: the averaged parameters, the update count and the decay settings."""
        return self.ema.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ema.load_state_dict(state)
        self._shadow = None
