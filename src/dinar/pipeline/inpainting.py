"""Step 4: diffusion inpainting of what no photo shows (paper 3.3, 3.4; figure 5).

``T_c^j = E_VQ(T^j)`` → M denoising steps from pure noise, conditioned on ``T_c^j ⊕ b(B_fill^j)`` →
``T_res = D_VQ(T_c)``. DDIM (deterministic after the initial noise, which a seeded CPU generator
draws, so a seed gives the same texture on any device).

An inpainter in ``rgb`` space (``dinar train diffusion --preset rgb``) diffuses the colours of T itself at its
own size instead, with no VQ (:func:`dinar.nn.diffusion.restore_colours`).

The pipeline's default departs from the paper in three measured ways (``PipelineOptions``; README, "The
back"): the sampler starts from a simple fill's latent (the per-part mean), the denoiser's change to that
start is added to the start at the texture's own size (the shipped 64² VQ washes colours towards its
training mean and cannot hold a 256² texture's detail), and T_gen stays as the stage-1 generator made it.

The condition's mask is channel 20 of the texture itself, what the inpainter was trained with
(:mod:`dinar.train.textures` writes the stage-1 texture as it is): B_fill in the ``both`` and ``rgb``
modes, zeros in the ``neural`` mode. The mask eq. 6 keeps is Algorithm 1's B_fill in every mode
(:mod:`dinar.pipeline.blending`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from dinar.nn.config_stage23 import NoiseScheduleConfig
from dinar.nn.diffusion import LatentInpainter, make_scheduler, restore_latent_texture
from dinar.nn.vq import TextureVQModel
from dinar.texture.channels import GENERATED
from dinar.texture.resize import grow_texture, shrink_texture


def repeat(texture: Tensor | None, times: int) -> Tensor | None:
    """Each texture of a batch ``times`` times in a row (``[B, …]`` → ``[B·times, …]``); None stays None."""
    return texture if texture is None or times == 1 else texture.repeat_interleave(times, 0)


@torch.no_grad()
def restore_texture(
    vq: TextureVQModel | None,
    inpainter: LatentInpainter,
    schedule: NoiseScheduleConfig,
    texture: Tensor,  # [B, 21, S, S] T^j, the partial (or merged) texture
    steps: int = 25,
    seed: int = 0,
    start: Tensor | None = None,  # [B, 21, S, S] a simple fill of ``texture`` to start from (SDEdit), or None
    strength: float = 1.0,
    residual: bool = False,
    keep_generated: bool = False,
    guidance: float = 1.0,
    samples: int = 1,
) -> Tensor:
    """T_res ``[B, 21, S, S]``: the whole texture as the VQ decoder gives it back after M = ``steps``
    DDIM steps (module docstring). Known texels are put back afterwards by eq. 6. A VQ of a coarser
    texture size (``hd``: 64² for a 256² T) works on T shrunk to its size and T_res is grown back
    (:mod:`dinar.texture.resize`); an ``rgb``-space inpainter (no ``vq``) samples the colours of T shrunk to
    its own size and keeps T_gen (:func:`dinar.nn.diffusion.restore_colours`). With ``start``, sampling
    begins from its latent noised to ``strength`` (:func:`dinar.nn.diffusion.inpaint_latent`) instead of
    from pure noise.

    ``residual`` (with ``start``): T_res = start + grow(D(z) − D(E(shrink(start)))): the denoiser's change to the
    start, made at the VQ's size, is added to the start at the texture's own size, so neither the VQ's
    reconstruction error nor the shrinking blurs what the start has. ``keep_generated``: T_gen stays as it is
    in ``texture`` (the stage-1 generator's) and only T_rgb and the masks come from the diffusion. ``guidance``:
    the classifier-free guidance weight, for a denoiser trained with condition dropout (1: none). ``samples`` K > 1:
    the mean of K samples, drawn in one batch (their noise in turn from the seeded generator, the first the one
    sample K = 1 draws): an estimate of the posterior mean, which keeps what the K agree on and averages away
    the colour blotches each sample invents on its own."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    generator = torch.Generator().manual_seed(seed)
    size = inpainter.config.latent_size if inpainter.config.space == "rgb" else vq.config.texture_size
    coarse = shrink_texture(texture, size)
    begin = None if start is None else shrink_texture(start, size)
    restored = restore_latent_texture(vq, inpainter, make_scheduler(schedule, "ddim"), repeat(coarse, samples), steps,
                                      generator, start=repeat(begin, samples), strength=strength, residual=residual,
                                      guidance=guidance)
    restored = restored.unflatten(0, (-1, samples)).mean(1)
    if start is not None and residual:
        restored = start + grow_texture(restored - begin, texture.shape[-1])  # restored − begin = D(z) − D(E(begin))
    else:
        restored = grow_texture(restored, texture.shape[-1])
    if keep_generated:
        restored[:, GENERATED] = texture[:, GENERATED]
    return restored
