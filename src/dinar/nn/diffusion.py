"""Latent diffusion inpainting of neural textures, stage 3 (paper 3.3, 3.4, 4.1).

The denoiser ε_θ is diffusers' ``UNet2DModel`` built as the paper describes: BigGAN-style residual
blocks for down- and up-sampling (``ResnetDownsampleBlock2D`` / ``ResnetUpsampleBlock2D`` and the
attention blocks with ``downsample_type = upsample_type = "resnet"``; the time embedding enters as a
scale and shift of the normalized features, ``resnet_time_scale_shift = "scale_shift"``, as in
guided diffusion), self-attention on three levels of the hierarchy and dropout 0.5 in the residual
blocks. Schedulers are diffusers' ``DDPMScheduler`` (training, ancestral sampling) and
``DDIMScheduler`` built from the same config (sampling in M ≪ T steps).

Conditioning (paper 3.3): ``c = T_c^j ⊕ b(B_fill^j)``, the latent of the single-view texture and its
B_fill mask resized bilinearly to the latent size; the U-Net sees ``c ⊕ x_t`` (13 channels) and
predicts the noise ε of the merged-texture latent ``x_0 = T_c``.

Latent scale: the network works on ``latent · latent_scale`` (a buffer set from the training data so
the latents have unit variance, like latent diffusion's ``scale_factor``); :func:`inpaint_latent`
takes and returns unscaled VQ latents.

Latent bound: VQ latents are codebook vectors, a bounded set, so the sampler clips its estimate of
x_0 to ``[-latent_bound, latent_bound]`` (the largest scaled training latent; diffusers'
``clip_sample_range``). Without it the ε-parameterization amplifies the denoiser's error at the
noisiest steps by ``√(1 − ᾱ_t) / √ᾱ_t`` (≈ 160 at t = T − 1 for these betas) and an imperfectly
trained denoiser diverges: on the ``tiny`` model after 2000 steps, DDIM-50 samples had a latent MSE of
13.9 to the ground truth without clipping and 0.26 with it (an independent draw from the data: ≈ 2).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from torch import Tensor, nn

from .config_stage23 import (
    CHANNEL_GROUPS,
    FILL_CHANNEL,
    NoiseScheduleConfig,
    UNetConfig,
)
from .vq import TextureVQModel, decode_latent, encode_texture

SamplerKind = Literal["ddpm", "ddim"]
GEN_CHANNELS, RGB_CHANNELS, MASK_CHANNELS = CHANNEL_GROUPS["gen"], CHANNEL_GROUPS["rgb"], CHANNEL_GROUPS["masks"]


@dataclass
class DenoiserOutput:
    """What :class:`LatentInpainter` returns."""

    noise: Tensor  # [B, 6, s, s] predicted ε (x_0 for a schedule with prediction_type="sample")


class LatentInpainter(nn.Module):
    """ε_θ(x_t, t, c): diffusers ``UNet2DModel`` on condition (7 ch) ⊕ noisy latent (6 ch) → ε (6 ch)."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        down, up = [], []
        for attn in config.attention:
            down.append("AttnDownBlock2D" if attn else "ResnetDownsampleBlock2D")
        for attn in reversed(config.attention):
            up.append("AttnUpBlock2D" if attn else "ResnetUpsampleBlock2D")
        self.unet = UNet2DModel(
            sample_size=config.latent_size,
            in_channels=config.in_channels,
            out_channels=config.latent_channels,
            down_block_types=tuple(down),
            up_block_types=tuple(up),
            block_out_channels=config.block_out_channels,
            layers_per_block=config.layers_per_block,
            downsample_type="resnet",
            upsample_type="resnet",
            resnet_time_scale_shift="scale_shift",
            dropout=config.dropout,
            attention_head_dim=config.attention_head_dim,
            norm_num_groups=config.norm_num_groups,
            add_attention=True,  # attention in the mid block (the bottom of the hierarchy)
        )
        self.register_buffer("latent_scale", torch.ones(()))
        self.register_buffer("latent_bound", torch.zeros(()))  # 0: no clipping (module docstring)
        if config.mirror_map:  # identity until the trainer sets it (dinar.texture.fills.mirror_texels); saved with the weights
            self.register_buffer("mirror_index", torch.arange(config.latent_size**2))

    def condition(self, cond: Tensor, fill_mask: Tensor) -> Tensor:
        """The network's condition ``[B, condition_channels, s, s]``: ``latent`` space: :func:`make_condition`
        of the partial texture's latent ``cond`` [B, 6, s, s] and B_fill; ``rgb`` space: the partial texture
        shrunk to the sample's size, ``cond`` [B, 21, s, s], as it is (it holds its own B_fill)."""
        if self.config.space == "rgb":
            s = self.config.latent_size
            if cond.dim() != 4 or cond.shape[1:] != (self.config.condition_channels, s, s):
                raise ValueError(f"expected the partial texture [B, {self.config.condition_channels}, {s}, {s}], got {tuple(cond.shape)}")
            return cond
        return make_condition(cond, fill_mask, self.latent_scale)

    def forward(
        self,
        noisy: Tensor,  # [B, 6, s, s] x_t, scaled latent (rgb space: [B, 3, s, s] scaled colours)
        timesteps: Tensor,  # [B] or [] int64 diffusion steps t
        condition: Tensor,  # [B, 7, s, s] from :meth:`condition` (rgb space: [B, 21, s, s])
    ) -> DenoiserOutput:
        c = self.config
        s = c.latent_size
        if noisy.shape[1:] != (c.latent_channels, s, s) or condition.shape != (noisy.shape[0], c.condition_channels, s, s):
            raise ValueError(f"expected noisy [B, {c.latent_channels}, {s}, {s}] and condition [B, {c.condition_channels}, {s}, {s}], "
                             f"got {tuple(noisy.shape)}, {tuple(condition.shape)}")
        parts = [condition, noisy]
        if c.position_map:
            parts.insert(1, position_map(s, noisy).expand(noisy.shape[0], -1, -1, -1))
        if c.mirror_map:
            parts.insert(1, mirror_gather(condition, self.mirror_index))
        return DenoiserOutput(noise=self.unet(torch.cat(parts, dim=1), timesteps).sample)


def position_map(size: int, like: Tensor) -> Tensor:
    """``[1, 2, size, size]``: each position's (u, v), u across and v down, from −1 to 1 at the texel centres."""
    axis = (torch.arange(size, device=like.device, dtype=like.dtype) + 0.5) / size * 2 - 1
    v, u = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([u, v])[None]


def mirror_gather(condition: Tensor, index: Tensor) -> Tensor:
    """``[B, C, s, s]``: ``condition`` read at each position's mirror position (``index`` [s·s], row-major flat
    positions; :attr:`~dinar.nn.config_stage23.UNetConfig.mirror_map`)."""
    return condition.flatten(2)[:, :, index].view_as(condition)


def drop_condition(condition: Tensor, share: float, generator: torch.Generator | None = None) -> Tensor:
    """``condition`` with a random ``share`` of its samples zeroed: the unconditional rows that train a
    denoiser for classifier-free guidance (:attr:`~dinar.nn.config_stage23.UNetConfig.condition_dropout`)."""
    if share <= 0:
        return condition
    device = condition.device if generator is None else generator.device
    keep = torch.rand(condition.shape[0], generator=generator, device=device) >= share
    return condition * keep.to(condition.device, condition.dtype)[:, None, None, None]


def guided_prediction(model: LatentInpainter, x: Tensor, t: Tensor, condition: Tensor, guidance: float) -> Tensor:
    """The denoiser's output at ``x``, ``t``: ``u + w (c − u)`` with ``c`` conditioned, ``u`` on a zeroed
    condition and ``w`` = ``guidance`` (classifier-free guidance); ``guidance`` = 1 is ``c`` alone."""
    steps = t.expand(x.shape[0])
    if guidance == 1.0:
        return model(x, steps, condition).noise
    both = model(torch.cat([x, x]), torch.cat([steps, steps]), torch.cat([condition, torch.zeros_like(condition)])).noise
    conditioned, unconditioned = both.chunk(2)
    return unconditioned + guidance * (conditioned - unconditioned)


def resize_fill_mask(fill_mask: Tensor, size: int) -> Tensor:
    """``b(B_fill)`` of paper 3.3: bilinear resize ``[B, 1, S, S]`` → ``[B, 1, size, size]``.

    With anti-aliasing (a bilinear filter widened to the scale, as PIL resizes), so each latent
    position sees the fraction of known texels under it rather than two of every 4 × 4.
    """
    if fill_mask.dim() != 4 or fill_mask.shape[1] != 1:
        raise ValueError(f"expected fill_mask [B, 1, S, S], got {tuple(fill_mask.shape)}")
    if fill_mask.shape[-1] == size:
        return fill_mask
    return F.interpolate(fill_mask, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def make_condition(cond_latent: Tensor, fill_mask: Tensor, latent_scale: Tensor | float = 1.0) -> Tensor:
    """``c = T_c^j · scale ⊕ b(B_fill^j)``: ``[B, 6, s, s]`` and ``[B, 1, S, S]`` → ``[B, 7, s, s]``."""
    if cond_latent.dim() != 4 or fill_mask.shape[0] != cond_latent.shape[0]:
        raise ValueError(f"expected cond_latent [B, 6, s, s] and fill_mask [B, 1, S, S], got {tuple(cond_latent.shape)}, {tuple(fill_mask.shape)}")
    mask = resize_fill_mask(fill_mask.to(cond_latent.dtype), cond_latent.shape[-1])
    return torch.cat([cond_latent * latent_scale, mask], dim=1)


def make_scheduler(config: NoiseScheduleConfig, kind: SamplerKind = "ddpm") -> SchedulerMixin:
    """The DDPM noise schedule of ``config`` as a diffusers scheduler: ``ddpm`` (training, ancestral
    sampling) or ``ddim`` (deterministic with ``eta = 0``; same betas, ``trailing`` spacing so the
    first of M steps starts at t = T − 1). No sample clipping: latents are not bounded to [-1, 1]."""
    ddpm = DDPMScheduler(
        num_train_timesteps=config.num_train_timesteps,
        beta_start=config.beta_start,
        beta_end=config.beta_end,
        beta_schedule=config.beta_schedule,
        prediction_type=config.prediction_type,
        clip_sample=False,
        variance_type="fixed_small",
    )
    if kind == "ddpm":
        return ddpm
    if kind == "ddim":
        return DDIMScheduler.from_config(ddpm.config, timestep_spacing="trailing", set_alpha_to_one=False)
    raise ValueError(f"scheduler kind must be 'ddpm' or 'ddim', got {kind!r}")


@torch.no_grad()
def inpaint_latent(
    model: LatentInpainter,
    scheduler: SchedulerMixin,
    cond_latent: Tensor,  # [B, 6, s, s] T_c^j, latent of the partial single-view texture (rgb space: [B, 21, s, s] T^j)
    fill_mask: Tensor,  # [B, 1, S, S] B_fill^j at texture resolution (or already [B, 1, s, s])
    steps: int = 50,
    generator: torch.Generator | None = None,
    eta: float = 0.0,
    start: Tensor | None = None,  # [B, 6, s, s] unscaled latent to start from (SDEdit), or None: pure noise
    strength: float = 1.0,
    guidance: float = 1.0,
) -> Tensor:
    """Sample the complete latent T_c from pure noise in ``steps`` denoising steps (paper 3.4, fig. 5c).

    ``guidance`` w ≠ 1: classifier-free guidance (:func:`guided_prediction`), for a denoiser trained with
    ``condition_dropout``.

    With ``start`` (SDEdit, Meng et al. 2022): the sampler begins at ``start`` noised to the step a fraction
    ``strength`` of the way up the schedule and runs the last ``round(steps · strength)`` of the ``steps``
    steps, so what ``start`` already has (a simple fill's colours) survives and the denoiser adds the rest;
    ``strength`` = 1 draws the start away entirely, as pure noise does.

    ``scheduler`` is a DDPM (ancestral) or DDIM (``eta`` = 0: deterministic after the initial noise)
    scheduler from :func:`make_scheduler`; it is copied (with x̂_0 clipped to the model's
    ``latent_bound`` when that is set), so the caller's stays untouched. The initial
    noise (and DDPM's per-step noise) come from ``generator``; it is drawn on the generator's device,
    so a seeded CPU generator gives the same sample on any device. Returns the unscaled latent
    ``[B, 6, s, s]`` for :func:`dinar.nn.vq.decode_latent`.
    """
    bound = float(model.latent_bound)
    if bound > 0:
        scheduler = type(scheduler).from_config(scheduler.config, clip_sample=True, clip_sample_range=bound)
    else:
        scheduler = copy.deepcopy(scheduler)
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    if guidance != 1.0 and model.config.condition_dropout <= 0:
        raise ValueError(f"guidance {guidance} needs a denoiser trained with condition dropout (dinar train diffusion "
                         "--condition-dropout); this one was not: leave guidance at 1")
    scheduler.set_timesteps(steps, device=cond_latent.device)
    scale = model.latent_scale
    condition = model.condition(cond_latent, fill_mask)
    noise_device = generator.device if generator is not None else cond_latent.device
    c = model.config
    shape = (cond_latent.shape[0], c.latent_channels, c.latent_size, c.latent_size)
    x = torch.randn(shape, generator=generator, device=noise_device, dtype=cond_latent.dtype)
    x = x.to(cond_latent.device)
    timesteps = scheduler.timesteps
    if start is None:
        x = x * scheduler.init_noise_sigma
    else:
        timesteps = timesteps[steps - max(1, round(steps * strength)):]
        x = scheduler.add_noise(start * scale, x, timesteps[:1])
    step_kwargs = {"eta": eta} if isinstance(scheduler, DDIMScheduler) else {}
    for t in timesteps:
        eps = guided_prediction(model, scheduler.scale_model_input(x, t), t, condition, guidance)
        x = scheduler.step(eps, t, x, generator=generator, **step_kwargs).prev_sample
    return x / scale


@torch.no_grad()
def restore_colours(
    model: LatentInpainter,
    scheduler: SchedulerMixin,
    texture: Tensor,  # [B, 21, s, s] T^j at the denoiser's size
    steps: int = 50,
    generator: torch.Generator | None = None,
    eta: float = 0.0,
    start: Tensor | None = None,  # [B, 21, s, s] a whole texture to start from (SDEdit), or None: pure noise
    strength: float = 1.0,
    guidance: float = 1.0,
) -> Tensor:
    """The ``rgb``-space inpainting (:class:`~dinar.nn.config_stage23.UNetConfig`): T_rgb sampled in M denoising
    steps conditioned on the partial texture itself. Returns ``[B, 21, s, s]``: ``texture``'s T_gen, the sampled
    T_rgb, and the masks of ``start`` (or all ones): every texel restored, as a fill leaves them."""
    c = model.config
    if texture.shape[-1] != c.latent_size:
        raise ValueError(f"the denoiser restores {c.latent_size}² textures, got {texture.shape[-1]}²")
    begin = None if start is None else start[:, RGB_CHANNELS]
    colours = inpaint_latent(model, scheduler, texture, texture[:, FILL_CHANNEL : FILL_CHANNEL + 1], steps, generator, eta,
                             begin, strength, guidance)
    out = texture.clone() if start is None else start.clone()
    out[:, GEN_CHANNELS] = texture[:, GEN_CHANNELS]
    out[:, RGB_CHANNELS] = colours.to(out.dtype)
    if start is None:
        out[:, MASK_CHANNELS] = 1.0
    return out


@torch.no_grad()
def restore_latent_texture(
    vq: TextureVQModel | None,
    model: LatentInpainter,
    scheduler: SchedulerMixin,
    texture: Tensor,  # [B, 21, S, S] T^j, the partial (or merged) texture
    steps: int = 50,
    generator: torch.Generator | None = None,
    eta: float = 0.0,
    start: Tensor | None = None,  # [B, 21, S, S] a whole texture to start from (SDEdit), or None: pure noise
    strength: float = 1.0,
    residual: bool = False,
    guidance: float = 1.0,
) -> Tensor:
    """``T_res = D_VQ(T_c)``, ``[B, 21, S, S]``: ``T_c^j = E_VQ(T^j)``, then M denoising steps conditioned
    on ``T_c^j ⊕ b(B_fill^j)`` (paper 3.4, fig. 5c); known texels are not put back here (eq. 6).
    ``start``/``strength``: begin from ``E_VQ(start)`` noised part-way (:func:`inpaint_latent`).
    ``guidance``: classifier-free guidance weight (:func:`inpaint_latent`).
    ``residual`` (with ``start``): add back what the VQ loses of the start, ``start − D_VQ(E_VQ(start))``, so
    T_res is the start plus the denoiser's change to it and the VQ's reconstruction error (a small VQ
    washes a texture's colours out towards its training mean) does not reach the avatar.
    The one latent inpainting step: training's validation (:func:`inpaint_texture`) and the inference
    pipeline (:func:`dinar.pipeline.inpainting.restore_texture`) both call it. An ``rgb``-space denoiser
    needs no VQ (``vq`` may be None) and has nothing to add back: :func:`restore_colours`."""
    if model.config.space == "rgb":
        return restore_colours(model, scheduler, texture, steps, generator, eta, start, strength, guidance)
    fill = texture[:, FILL_CHANNEL : FILL_CHANNEL + 1]
    start_latent = None if start is None else encode_texture(vq, start)
    latent = inpaint_latent(model, scheduler, encode_texture(vq, texture), fill, steps, generator, eta, start_latent, strength,
                            guidance)
    restored = decode_latent(vq, latent).float()
    if start is not None and residual:
        restored = restored + (start - decode_latent(vq, start_latent).float())
    return restored


@torch.no_grad()
def inpaint_texture(
    vq: TextureVQModel | None,
    model: LatentInpainter,
    scheduler: SchedulerMixin,
    texture: Tensor,  # [B, 21, S, S] T^j, the partial single-view texture
    steps: int = 50,
    generator: torch.Generator | None = None,
    eta: float = 0.0,
) -> Tensor:
    """The inpainting stage of paper 3.4 on a whole texture: ``T_c^j = E_VQ(T^j)``, M denoising steps
    conditioned on ``T_c^j ⊕ b(B_fill^j)``, ``T_res = D_VQ(T_c)``, then eq. 6 keeps every known texel:
    ``T = T_res (1 − B_fill^j) + T^j B_fill^j``. Returns ``[B, 21, S, S]``."""
    from dinar.texture.merging import keep_known_texels

    restored = restore_latent_texture(vq, model, scheduler, texture, steps, generator, eta)
    return keep_known_texels(restored, texture, texture[:, FILL_CHANNEL : FILL_CHANNEL + 1])

