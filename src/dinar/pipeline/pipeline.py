"""Photo(s) → Avatar: DINAR inference (paper 3.4, 3.2, appendix A-B), one numbered step per paper idea.

::

    0. check inputs; photos → the model's square image size, cameras kept consistent
    1. partial texture of each photo: UV-render, occlusion band out, Algorithm 1, E + G   [3.1, 3.5, A, eq. 2]
    2. RGB tuning of each photo's T_rgb with the renderer's gradients                     [B]
    3. several photos: merge by normal angle, B_fill = union                              [3.2, eq. 5]
    4. VQ encode → latent diffusion inpainting (M DDIM steps) → VQ decode = T_res          [3.3, 3.4]
    5. colour adjustment T_res,rgb·α + β fitted through the renderer on the photos        [B, eq. 7]
    6. keep the photos' texels: T = T_res·(1 − m) + T_in·m, m = soft B_fill               [3.4, eq. 6]
    7. the Avatar: texture, shape, checkpoint identity, how it was made

Each step can be switched off (:class:`PipelineOptions`); without inpainting (steps 4-6) the avatar
keeps the partial texture and the renderer alone fills what no photo shows (paper Table 2, row 3).
Step 5 is fitted on the restored texture before eq. 6 (it adjusts what eq. 6 takes from T_res), which
is the same as adjusting the restored part of the blended texture.

Determinism: the networks run in eval mode (no encoder or generator noise, BatchNorm statistics
fixed), RGB tuning and colour adjustment are plain gradient descent, and the diffusion noise comes from
a CPU generator seeded with ``options.seed``: one seed, one texture.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from dinar.avatar import Avatar, CheckpointIdentity, default_model_dir
from dinar.data.layout import FitParams
from dinar.digests import uv_digest
from dinar.geometry.texture_lookup import uv_layout
from dinar.nn.avatar_model import AvatarModel
from dinar.nn.config_stage23 import NoiseScheduleConfig
from dinar.nn.diffusion import LatentInpainter
from dinar.nn.discriminator import Discriminator
from dinar.nn.vq import TextureVQModel
from dinar.texture.bands import (
    mixed_colours,
    pattern_strength,
    shifted_to_seen,
    with_details,
)
from dinar.texture.channels import RGB
from dinar.texture.fills import TexelSurface, fill_texture, inset_known, texel_surface
from dinar.texture.merging import merge_textures
from dinar.utils import resolve_device

from .blending import blend_known
from .color_adjust import (
    ColorAdjustment,
    apply_color_adjustment,
    fit_color_adjustment,
    visible_pixels,
)
from .inpainting import restore_texture
from .models import check_compatible, load_models, save_models
from .options import PipelineOptions
from .partial import PartialTexture, partial_texture, with_occlusion
from .photos import PreparedPhoto, prepare_photo
from .rgb_tuning import texel_weights, tune_rgb

log = logging.getLogger(__name__)


class AvatarPipeline:
    """DINAR inference with the three trained stages (module docstring).

    ``stage1``: E, G and θ; ``vq`` and ``inpainter`` (with their noise ``schedule``): stages 2 and 3,
    both None for a pipeline without inpainting; ``body``: the body model the stage-1 config names
    (loaded when None); ``discriminator``: the stage-1 D for RGB tuning's adversarial term (optional).
    The networks are used as given, never changed (eval mode is set only while a call runs).
    """

    def __init__(
        self,
        stage1: AvatarModel,
        vq: TextureVQModel | None = None,
        inpainter: LatentInpainter | None = None,
        body: nn.Module | None = None,
        *,
        schedule: NoiseScheduleConfig | None = None,
        discriminator: Discriminator | None = None,
        identity: CheckpointIdentity | None = None,
        background: float = 1.0,
    ):
        check_compatible(stage1, vq, inpainter)
        if body is None:
            from dinar.body import load_body_model

            body = load_body_model(stage1.config.body_model)
        if getattr(body, "name", stage1.config.body_model) != stage1.config.body_model:
            raise ValueError(f"the stage-1 model was trained on body model {stage1.config.body_model!r}, got {body.name!r}")
        self.stage1 = stage1
        self.vq = vq
        self.inpainter = inpainter
        self.schedule = schedule or NoiseScheduleConfig()
        self.discriminator = discriminator
        self.body = body.to(self.device)
        self.identity = identity or CheckpointIdentity.of_model(stage1)
        self.background = background
        self.layout = uv_layout(stage1.face_uvs, stage1.config.texture_size)
        self._lpips: dict[str, nn.Module] = {}
        self._on_step: Callable[[str], None] | None = None
        self._surface: TexelSurface | None = None

    # -- loading and saving --------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, model_dir: str | Path | None = None, device: str | torch.device = "auto", body=None) -> AvatarPipeline:
        """A pipeline from a local model folder (:mod:`dinar.pipeline.models`); None: the default weights that
        ship inside the package (SHA-256 checked). Named as in diffusers, but it only reads local files: nothing
        is downloaded, so it works offline."""
        model_dir = default_model_dir() if model_dir is None else Path(model_dir)
        m = load_models(model_dir, resolve_device(device), body)
        return cls(m.stage1, m.vq, m.inpainter, body, schedule=m.schedule, discriminator=m.discriminator,
                   identity=m.identity, background=m.background)

    def save_pretrained(self, model_dir: str | Path) -> Path:
        """Write the networks as a model folder that :meth:`from_pretrained` reads."""
        return save_models(model_dir, self.stage1, self.vq, self.inpainter, self.schedule, self.discriminator)

    @property
    def device(self) -> torch.device:
        return self.stage1.faces.device

    @property
    def patch_size(self) -> int:
        """The square θ and D were trained on (``hd``: 128² patches of 512² images; else the whole image):
        the steps that compare renders with photos (2, 5) work on tiles of that size."""
        return self.stage1.config.networks.patch_size

    @property
    def can_inpaint(self) -> bool:
        """The diffusion can run: an inpainter, and the VQ whose latent it works in (none for ``rgb`` space)."""
        return self.inpainter is not None and (self.vq is not None or self.inpainter.config.space == "rgb")

    def lpips(self, net: str) -> nn.Module:
        """The frozen LPIPS network of RGB tuning (built once per backbone)."""
        if net not in self._lpips:
            from dinar.losses import LPIPS

            self._lpips[net] = LPIPS(net).to(self.device)  # type: ignore[arg-type]
        return self._lpips[net]

    # -- the call --------------------------------------------------------------------------------------
    def __call__(
        self,
        images: Sequence[Any] | Any,  # each: uint8 H x W x 3 array, or [3, H, W] tensor (uint8, or float in [0, 1])
        masks: Sequence[Any] | Any,  # each: H x W person mask (uint8 0..255, bool, or float in [0, 1])
        fits: Sequence[FitParams] | FitParams,  # each: the photo's body fit and camera
        options: PipelineOptions | None = None,
        progress: bool = True,
        on_step: Callable[[str], None] | None = None,
    ) -> Avatar:
        """Make an avatar from one or several photos of a person (module docstring). Returns it bound
        to this pipeline's stage-1 model, ready to render. ``on_step(name)`` is called as each step
        starts (inputs, partial_texture, rgb_tuning, merge, inpainting, color_adjust, blend): progress
        for a user interface, or timings for a benchmark."""
        options = options or PipelineOptions()
        steps = 4 + 3 * options.inpainting
        self._on_step = on_step
        with self._eval_mode(), tqdm(total=steps, desc="avatar", disable=None if progress else True) as bar:
            # 0. Check inputs; photos at the model's image size.
            with self._step("inputs", bar):
                mode = self._check_options(options)
                photos = self.prepare_photos(images, masks, fits)
                model = with_occlusion(self.stage1, options.occlusion, self.body, options.occlusion_fit)
                has_rgb = mode != "neural"  # the neural ablation has no RGB channels to tune or adjust

            # 1. Partial texture of each photo [3.1, 3.5, A, eq. 2].
            with self._step("partial_texture", bar):
                partials = [partial_texture(model, photo, self.layout) for photo in photos]

            # 2. RGB tuning with the renderer's gradients [B].
            with self._step("rgb_tuning", bar):
                if options.rgb_tuning and has_rgb and options.rgb_tuning_steps > 0:
                    partials = [self.tune(p, photo, options, progress) for p, photo in zip(partials, photos)]

            # 3. Several photos: merge by normal angle, B_fill = union [3.2, eq. 5].
            with self._step("merge", bar):
                known, filled = self.merge(partials, options.tau)  # T_in and its B_fill

            texture, adjustment = known, ColorAdjustment.identity()
            if options.inpainting:
                # 4. VQ encode → diffusion inpainting → VQ decode [3.3, 3.4].
                with self._step("inpainting", bar):
                    if options.fill == "diffusion":
                        start = None if options.diffusion_start is None else fill_texture(
                            known, filled, self.texel_surface(), options.diffusion_start)
                        restored = restore_texture(self.vq, self.inpainter, self.schedule, known, options.diffusion_steps,
                                                   options.seed, start, options.diffusion_strength, options.diffusion_residual,
                                                   keep_generated=has_rgb and not options.diffusion_generated,
                                                   guidance=options.diffusion_guidance, samples=options.diffusion_samples)
                        if has_rgb:
                            restored = self.with_fill_levers(restored, known, filled, options)
                    else:  # a simple fill in its place, everything else the same (the baselines of dinar.texture.fills)
                        restored = fill_texture(known, filled, self.texel_surface(), options.fill)

                # 5. Colour adjustment of the restored texture [B, eq. 7].
                with self._step("color_adjust", bar):
                    if options.color_adjust and has_rgb and options.color_adjust_steps > 0:
                        adjustment = self.adjust_colors(restored, photos, options, progress)
                        restored = apply_color_adjustment(restored, adjustment.alpha, adjustment.beta)

                # 6. Keep the photos' texels, soft border [3.4, eq. 6].
                with self._step("blend", bar):
                    texture = blend_known(restored, known, filled, *options.blend_radii(known.shape[-1]))

        # 7. The avatar.
        return self.make_avatar(texture[0], photos, fits, options, mode, adjustment)

    # -- the steps -----------------------------------------------------------------------------------
    def with_fill_levers(self, restored: Tensor, known: Tensor, filled: Tensor, options: PipelineOptions) -> Tensor:
        """The diffusion's restored texture with what the options take from the simple fills, in this order: the
        per-part colour shift (:meth:`with_seen_shift`, if ``diffusion_shift_share``), the colour mix
        (:meth:`with_fill_mix`, if ``diffusion_mix``), then the fill detail (:meth:`with_fill_detail`, if
        ``diffusion_detail`` or ``diffusion_pattern``). The one place they are applied: the pipeline and the back
        screening call it."""
        if options.diffusion_shift_share > 0:
            restored = self.with_seen_shift(restored, known, filled, options)
        if options.diffusion_mix is not None:
            restored = self.with_fill_mix(restored, known, filled, options)
        if options.diffusion_detail is not None or options.diffusion_pattern is not None:
            restored = self.with_fill_detail(restored, known, filled, options)
        return restored

    def with_seen_shift(self, restored: Tensor, known: Tensor, filled: Tensor, options: PipelineOptions) -> Tensor:
        """The restored texture with each body part's colours but the head's moved by ``diffusion_shift_share`` of the
        gap between the part's seen mean colour and its restored unseen mean, in ``diffusion_shift_slabs`` slabs of the
        part's rest-pose height (:func:`dinar.texture.bands.shifted_to_seen`)."""
        surface = self.texel_surface()
        head = self.body.parts.names.index("head")
        parts = [p for p in range(len(self.body.parts.names)) if p != head]
        device = filled.device
        seen = (filled[0, 0] > 0.5) & surface.inside.to(device)
        height = surface.position.to(device) @ torch.tensor(self.body.up_axis, dtype=surface.position.dtype, device=device)
        return shifted_to_seen(restored, known, seen, surface.part.to(device), options.diffusion_shift_share, parts,
                               height, options.diffusion_shift_slabs)

    def with_fill_mix(self, restored: Tensor, known: Tensor, filled: Tensor, options: PipelineOptions) -> Tensor:
        """The restored texture's colours shrunk towards the ``diffusion_mix`` fill's: ``1 − diffusion_mix_share``
        of its own plus ``diffusion_mix_share`` of the fill's (:func:`dinar.texture.bands.mixed_colours`)."""
        fill = fill_texture(known, filled, self.texel_surface(), options.diffusion_mix)
        return mixed_colours(restored, fill, options.diffusion_mix_share)

    def with_fill_detail(self, restored: Tensor, known: Tensor, filled: Tensor, options: PipelineOptions) -> Tensor:
        """The restored texture's colours below its ``S / diffusion_detail_scale`` band plus
        ``diffusion_detail_share`` of the ``diffusion_detail`` fill's finer detail and ``diffusion_pattern_share`` of
        the ``diffusion_pattern`` fill's (:mod:`dinar.texture.bands`; either may be None), on the head too only with
        ``diffusion_detail_head``; the bands over the charts' texels alone with ``diffusion_band_in_charts``; the fills
        from the seen texels ``diffusion_detail_inset`` texels inside the seen region's border; less of both on plain
        parts with ``diffusion_detail_plain`` (:meth:`detail_weights`)."""
        size = known.shape[-1]
        if size % options.diffusion_detail_scale:
            raise ValueError(f"diffusion_detail_scale {options.diffusion_detail_scale} does not divide the {size}² texture")
        surface = self.texel_surface()
        where = self.detail_weights(known, filled, options)
        source = inset_known(filled, surface, options.diffusion_detail_inset) if options.diffusion_detail_inset else filled
        parts = [(fill_texture(known, source, surface, kind), share, False, where)
                 for kind, share in ((options.diffusion_detail, options.diffusion_detail_share),
                                     (options.diffusion_pattern, options.diffusion_pattern_share)) if kind is not None]
        inside = surface.inside if options.diffusion_band_in_charts else None
        return with_details(restored, parts, size // options.diffusion_detail_scale, inside)

    def detail_weights(self, known: Tensor, filled: Tensor, options: PipelineOptions) -> Tensor | None:
        """``[S, S]``: how much of the fills' detail each texel takes, in [0, 1]; None: all of it everywhere. Off the
        head unless ``diffusion_detail_head``; with ``diffusion_detail_plain`` R, each part's texels times
        ``min(1, P / R)``, P its print strength in the photo (:func:`dinar.texture.bands.pattern_strength`); a part
        the photo does not show keeps 1."""
        surface = self.texel_surface()
        head = self.body.parts.names.index("head")
        if options.diffusion_detail_plain <= 0:
            return None if options.diffusion_detail_head else surface.part != head
        size, device = known.shape[-1], known.device
        part = surface.part.to(device)
        seen = (filled[0, 0] > 0.5) & surface.inside.to(device)
        strength = pattern_strength(known[:, RGB], seen, part, size // 4, size // options.diffusion_detail_scale)
        weight = torch.ones(part.shape, dtype=known.dtype, device=device)
        for p, value in strength.items():
            weight[part == p] = min(1.0, value / options.diffusion_detail_plain)
        if not options.diffusion_detail_head:
            weight[part == head] = 0.0
        return weight

    def _check_options(self, options: PipelineOptions) -> str:
        """The texture mode (the checkpoint's); a clear error for a switch the models cannot honour."""
        mode = self.stage1.config.texture
        if options.texture is not None and options.texture != mode:
            raise ValueError(
                f"options.texture={options.texture!r}, but the stage-1 checkpoint {self.identity.short}"
                f"{' (' + self.identity.source + ')' if self.identity.source else ''} was trained with texture={mode!r}; "
                f"pass a checkpoint trained with that mode (dinar train avatar --texture {options.texture}), "
                "or leave options.texture unset to use the checkpoint's"
            )
        if options.inpainting and options.fill == "diffusion" and not self.can_inpaint:
            raise ValueError("options.inpainting needs the VQ and diffusion models (vq/ and diffusion/ of the model folder), "
                             "which this pipeline has not: pass PipelineOptions(inpainting=False) or a complete model folder")
        return mode

    def texel_surface(self) -> TexelSurface:
        """Where each texel lies on the rest-pose body (the simple fills' geometry), made once."""
        if self._surface is None:
            self._surface = texel_surface(self.body, self.stage1.face_uvs, self.stage1.config.texture_size)
        return self._surface

    def prepare_photos(self, images, masks, fits) -> list[PreparedPhoto]:
        """Step 0: each (image, mask, fit) → :class:`~dinar.pipeline.photos.PreparedPhoto` at the model's size."""
        images, masks, fits = _as_list(images), _as_list(masks), _as_list(fits)
        if not images or not (len(images) == len(masks) == len(fits)):
            raise ValueError(f"give as many masks and fits as images (got {len(images)}, {len(masks)}, {len(fits)})")
        return [prepare_photo(i, m, f, self.stage1, self.body) for i, m, f in zip(images, masks, fits)]

    def tune(self, partial: PartialTexture, photo: PreparedPhoto, options: PipelineOptions, progress: bool = False) -> PartialTexture:
        """Step 2 for one photo: T_rgb tuned against it (:mod:`dinar.pipeline.rgb_tuning`)."""
        paper = options.rgb_tuning_loss == "paper"
        out = tune_rgb(
            self.stage1, partial.texture, texel_weights(partial.angle, partial.filled), photo.target(self.background),
            photo.raster, options.rgb_tuning_steps, options.rgb_tuning_lr, lpips=self.lpips(options.lpips_net) if paper else None,
            discriminator=self.discriminator if paper else None, background=self.background, progress=progress,
            tiles=photo.tiles(self.patch_size), patch=self.patch_size,
        )
        return dataclasses.replace(partial, texture=out.texture)

    @staticmethod
    def merge(partials: Sequence[PartialTexture], tau: float) -> tuple[Tensor, Tensor]:
        """Step 3: ``(T_in [1, 21, S, S], B_fill [1, 1, S, S])`` — the photo's own for one photo, else the
        eq.-5 merge over the texels each photo filled and the union of their B_fill."""
        if len(partials) == 1:
            return partials[0].texture, partials[0].filled
        textures = torch.cat([p.texture for p in partials])  # [N, 21, S, S]
        angles = torch.cat([p.angle for p in partials])
        filled = torch.cat([p.filled for p in partials])
        merged = merge_textures(textures, angles, valid=filled, tau=tau)
        return merged.texture[None], merged.covered[None]

    def adjust_colors(self, restored: Tensor, photos: Sequence[PreparedPhoto], options: PipelineOptions, progress: bool = False) -> ColorAdjustment:
        """Step 5: α, β of eq. 7 fitted through the renderer on every photo's visible pixels."""
        target = torch.cat([p.target(self.background) for p in photos])
        uv = torch.cat([p.raster.uv for p in photos])
        uv_mask = torch.cat([p.raster.mask for p in photos])
        pixels = visible_pixels(torch.cat([p.mask for p in photos]), uv_mask)
        return fit_color_adjustment(self.stage1, restored, target, uv, uv_mask, pixels, options.color_adjust_steps,
                                    options.color_adjust_lr, self.background, progress,
                                    tiles=[p.tiles(self.patch_size) for p in photos], patch=self.patch_size)

    def make_avatar(self, texture: Tensor, photos: Sequence[PreparedPhoto], fits, options: PipelineOptions, mode: str,
                    adjustment: ColorAdjustment) -> Avatar:
        """Step 7: the :class:`~dinar.avatar.Avatar`, bound to this pipeline's stage-1 model and body."""
        from dinar import __version__

        fits = _as_list(fits)
        config = self.stage1.config
        metadata = {
            "texture_mode": mode,
            "image_size": config.image_size,
            "atlas_sha256": uv_digest(self.stage1.face_uvs),
            "sources": [{"sha256": p.sha256, "width": p.source_size[0], "height": p.source_size[1]} for p in photos],
            "options": dataclasses.replace(options, texture=mode).to_dict(),
            "color_adjustment": adjustment.to_json(),
            "adversarial_tuning": self.discriminator is not None,
            "dinar_version": __version__,
            "torch_version": torch.__version__,
            "device": self.device.type,
        }
        shape = torch.stack([f.shape.detach().float().cpu() for f in fits]).mean(0)  # one body for all photos
        avatar = Avatar(texture=texture.detach().float().cpu().contiguous(), shape=shape, body_model=config.body_model,
                        atlas=config.atlas, checkpoint=self.identity, metadata=metadata)
        return avatar.bind(self.stage1, body=self.body)

    # -- helpers -------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _step(self, name: str, bar: tqdm) -> Iterator[None]:
        bar.set_postfix_str(name)
        if self._on_step is not None:
            self._on_step(name)
        yield
        bar.update(1)

    @contextlib.contextmanager
    def _eval_mode(self) -> Iterator[None]:
        """Every network in eval mode for the call, then back to the mode it had."""
        nets = [m for m in (self.stage1, self.vq, self.inpainter, self.discriminator) if m is not None]
        modes = [m.training for m in nets]
        for m in nets:
            m.eval()
        try:
            yield
        finally:
            for m, mode in zip(nets, modes):
                m.train(mode)


def _as_list(x: Any) -> list:
    """One input or a sequence of them → a list (an image array or tensor counts as one input)."""
    if isinstance(x, (np.ndarray, Tensor, FitParams)):
        return [x]
    return list(x)

