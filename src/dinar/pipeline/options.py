"""What the avatar pipeline does: one frozen dataclass, one switch per step of paper 3.4 and appendix B.

Every switch off still gives a valid avatar (paper Table 2): without inpainting the renderer alone
fills what the photos do not show; without RGB tuning the sampled colours stay as Algorithm 1 left
them; and so on. :meth:`PipelineOptions.to_dict` goes into the Avatar file, so an avatar records how
it was made.
"""

from __future__ import annotations

from dataclasses import dataclass

from dinar.config import ConfigMixin
from dinar.nn.avatar_model import TEXTURE_MODES
from dinar.texture.fills import FILLS

LPIPS_NETS = ("vgg", "alex")
RGB_TUNING_LOSSES = ("paper", "l2")
FILL_KINDS = ("diffusion", *FILLS)
FILL_LEVERS = ("diffusion_shift_share", "diffusion_shift_slabs", "diffusion_mix", "diffusion_mix_share", "diffusion_detail",
               "diffusion_detail_share", "diffusion_pattern", "diffusion_pattern_share", "diffusion_detail_scale",
               "diffusion_detail_head", "diffusion_band_in_charts", "diffusion_detail_inset",
               "diffusion_detail_plain")
"""The options applied above the diffusion's inpainting (:meth:`dinar.pipeline.AvatarPipeline.with_fill_levers`): the
back's composition, which a benchmark may vary without another inpainting and reports beside its figures."""


@dataclass(frozen=True)
class PipelineOptions(ConfigMixin):
    """Switches and settings of :class:`~dinar.pipeline.AvatarPipeline` (paper section in brackets)."""

    occlusion: bool = True
    """Leave the occlusion band out of the sampled pixels [3.5]."""
    occlusion_fit: bool = False
    """Widen each photo's occlusion band to its fit's silhouette error where that is larger (the median distance from
    the fitted body's outline to the person mask's, :func:`dinar.texture.occlusion.silhouette_error`): the band's 3 px
    at 512² suit an exact fit, a fitted real photo is off by 4-10 px. Screened and not kept: on the two real people it
    helps the mean fill's back more than the inpainting's, and costs the woman's front views (docs/back.md)."""
    rgb_tuning: bool = True
    """Optimize T_rgb with the renderer's gradients against each photo [appendix B]."""
    rgb_tuning_steps: int = 64
    rgb_tuning_lr: float = 0.03
    """Adam step size on the (weighted) RGB texel offsets; colours live in [-1, 1]. The paper gives none;
    on a briefly trained tiny model 64 steps lowered the input-view loss by 22 / 37 / 47 % at 0.01 /
    0.03 / 0.1, and 0.03 keeps a texel's change within about 2·λ."""
    rgb_tuning_loss: str = "paper"
    """``paper``: 2.2·L2 + LPIPS + 0.01·adversarial (paper 4.1, the stage-1 generator losses); ``l2``: the
    L2 term alone. With the shipped model (trained on synthetic people only) ``l2`` suits real photos:
    there the LPIPS and adversarial terms (a discriminator that never saw a real person) paint coloured
    speckle over the front (docs/real_photo_avatars.py measures both)."""
    lpips_net: str = "alex"
    """Backbone of the LPIPS term of RGB tuning. AlexNet by default: on CPU its 64 tuning steps take
    about a quarter of VGG's (7 s vs 28 s for one 128² photo); the stage-1 loss uses VGG."""
    inpainting: bool = True
    """VQ encode → latent diffusion → VQ decode for the texels no photo shows [3.3, 3.4]."""
    fill: str = "diffusion"
    """What fills the texels no photo shows in step 4: ``diffusion`` (the paper's inpainting) or a simple fill,
    the baselines it must beat: ``mean`` (per body part), ``mirror`` (the front mirrored onto the back),
    ``nearest`` (nearest known texel on the body) (:mod:`dinar.texture.fills`)."""
    diffusion_steps: int = 25
    """M, DDIM steps (25 is where the tiny benchmark's quality levelled off)."""
    diffusion_start: str | None = "mean"
    """None: the sampler starts from pure noise (the paper). A simple fill (``mean``, ``mirror``, ``nearest``):
    it starts from that fill's latent noised to ``diffusion_strength`` (SDEdit; 1 is as good as pure noise),
    and ``diffusion_residual`` measures the VQ's loss against it (:func:`dinar.nn.diffusion.inpaint_latent`)."""
    diffusion_strength: float = 1.0
    """How far up the noise schedule a ``diffusion_start`` is noised, in (0, 1]; 1: from pure noise."""
    diffusion_residual: bool = True
    """With a ``diffusion_start``: T_res = start + D(z) − D(E(start)), the start plus the denoiser's change to
    it (made at the VQ's size, added at the texture's), so the VQ's own reconstruction error is not inpainted
    (:func:`dinar.pipeline.inpainting.restore_texture`).
    The shipped VQ (64², 1000 steps) washes every texture towards a brown skin colour; without this the
    back of every avatar came out brown (docs/back.md)."""
    diffusion_guidance: float = 1.0
    """Classifier-free guidance weight w of the sampler (1: none); other values need a denoiser trained with
    condition dropout (``dinar train diffusion --condition-dropout``)."""
    diffusion_samples: int = 16
    """K: the restored colours are the mean of K diffusion samples (their noise drawn in turn from one generator
    seeded with ``seed``), an estimate of the posterior mean (:func:`dinar.pipeline.inpainting.restore_texture`);
    1: one sample, as the paper. 16 by default: one sample's colour blotches average out (docs/back.md)."""
    diffusion_shift_share: float = 0.0
    """0: off. Otherwise, first of the fill levers, each body part's restored colours (the head's excepted, whose back
    is hair, not the face) are moved by this share of the gap between the mean colour of the part's seen texels and
    the restored mean over its unseen texels (:func:`dinar.texture.bands.shifted_to_seen`): the diffusion's
    structure kept, its coarse colour drawn to what the photo shows. In [0, 1]."""
    diffusion_shift_slabs: int = 1
    """1: one shift per body part. More: the gap measured in that many slabs of each part's height and drawn
    linearly between them, so a torso that holds a shirt and the trousers' waist moves each towards the front's
    colour at its own height (:func:`dinar.texture.bands.shifted_to_seen`)."""
    diffusion_mix: str | None = "mean"
    """None: the diffusion's colours as they are. A simple fill (``mean``, the default): the restored colours are
    ``1 − diffusion_mix_share`` of the diffusion's plus ``diffusion_mix_share`` of that fill's, before
    ``diffusion_detail``: the diffusion's colour blotches shrunk towards each body part's mean colour
    (docs/back.md)."""
    diffusion_mix_share: float = 0.3
    """The share of ``diffusion_mix``'s colours, in [0, 1]."""
    diffusion_detail: str | None = "nearest_part"
    """None: the diffusion's colours as they are. A simple fill (``nearest_part``, the default): the restored colours
    keep the diffusion's coarse band (``S / diffusion_detail_scale`` texels a side) and take ``diffusion_detail_share``
    of that fill's finer detail (:mod:`dinar.texture.bands`): the diffusion decides the back's colours, the fill
    continues the photo's edges and folds, which the 64² denoiser cannot hold (docs/back.md)."""
    diffusion_detail_share: float = 0.6
    """The share of ``diffusion_detail``'s fine detail, in [0, 1]."""
    diffusion_pattern: str | None = "mirror"
    """None: no more detail. A simple fill (``mirror``, the default): ``diffusion_pattern_share`` of that fill's detail
    above the same band is added to ``diffusion_detail``'s (not on the head unless ``diffusion_detail_head``): the
    front's pattern (stripes, checks, dots) carried faintly onto the back (docs/back.md)."""
    diffusion_pattern_share: float = 0.05
    """The share of ``diffusion_pattern``'s fine detail, in [0, 1]."""
    diffusion_detail_scale: int = 16
    """The diffusion's band is the texture's size over this (16² at 256²); it must divide the texture's size."""
    diffusion_band_in_charts: bool = False
    """The bands of ``diffusion_detail`` are means over the UV charts' texels alone. False: over every texel of a
    block, the background between the charts too, which draws a chart's border towards it
    (:func:`dinar.texture.bands.low_band`)."""
    diffusion_detail_inset: int = 0
    """0: ``diffusion_detail`` and ``diffusion_pattern`` fill from every seen texel. More: only from the seen texels at
    least that many texels inside the seen region (:func:`dinar.texture.fills.inset_known`), away from its border,
    where the fit and the occlusion put the arm or the chair beside the body into the texture. 2 was screened and
    not kept: the fill then reaches past thin seen strips to other garments (docs/back.md)."""
    diffusion_detail_plain: float = 0.0
    """0: every body part takes the shares of ``diffusion_detail`` and ``diffusion_pattern`` asked. More: a reference
    print strength R; each part but the head takes them times ``min(1, P / R)``, P the part's print strength in the
    photo (:func:`dinar.texture.bands.pattern_strength` between the ``S/4`` and ``S/diffusion_detail_scale`` bands), so
    a plain garment's back takes less of the copied cells than a printed one's. 0.17 is better than the default on the
    synthetic people and was not kept: on the two real people it does not close the gap to the mean fill
    (docs/back.md)."""
    diffusion_detail_head: bool = False
    """Take the fill's detail on the head too. False: not there, where the nearest fill draws the face's edges
    onto the back of the head (docs/back.md)."""
    diffusion_generated: bool = False
    """Take T_gen of the unseen texels from the VQ decoder too (the paper: T_res replaces every channel). False: the
    diffusion restores T_rgb and T_gen stays as the stage-1 generator G made it from the photo, as with the simple
    fills; on the held-out people this lowered back LPIPS, DISTS and KID (docs/back.md). Textures without
    RGB channels (``neural``) always take T_gen from the diffusion: it is all they have."""
    color_adjust: bool = True
    """Fit T_rgb·α + β of the restored texture to the photos before blending [eq. 7]."""
    color_adjust_steps: int = 32
    color_adjust_lr: float = 0.02
    texture: str | None = None
    """``both`` | ``rgb`` | ``neural``: must be the stage-1 checkpoint's mode; None = the checkpoint's."""
    seed: int = 0
    """Seeds the diffusion noise; the other steps are deterministic."""
    tau: float = 0.1
    """Temperature of the multi-photo merge, softmax(λ / τ) on normal-angle cosines [eq. 5]."""
    blend_erode: int = 0
    """Texels by which B_fill is eroded before eq. 6 (0: none; see :mod:`dinar.pipeline.blending` for why)."""
    blend_blur: int | None = None
    """Radius of the Gaussian blur of B_fill before eq. 6; None = max(1, texture_size / 128)."""

    def __post_init__(self) -> None:
        if self.texture is not None and self.texture not in TEXTURE_MODES:
            raise ValueError(f"texture must be one of {TEXTURE_MODES} or None, got {self.texture!r}")
        if self.fill not in FILL_KINDS:
            raise ValueError(f"fill must be one of {FILL_KINDS}, got {self.fill!r}")
        if self.rgb_tuning_loss not in RGB_TUNING_LOSSES:
            raise ValueError(f"rgb_tuning_loss must be one of {RGB_TUNING_LOSSES}, got {self.rgb_tuning_loss!r}")
        if self.lpips_net not in LPIPS_NETS:
            raise ValueError(f"lpips_net must be one of {LPIPS_NETS}, got {self.lpips_net!r}")
        for name in ("rgb_tuning_steps", "color_adjust_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.diffusion_start is not None and self.diffusion_start not in FILLS:
            raise ValueError(f"diffusion_start must be None or one of {FILLS}, got {self.diffusion_start!r}")
        if not 0.0 < self.diffusion_strength <= 1.0:
            raise ValueError(f"diffusion_strength must be in (0, 1], got {self.diffusion_strength}")
        if self.diffusion_guidance < 0:
            raise ValueError(f"diffusion_guidance must be >= 0, got {self.diffusion_guidance}")
        if not 0.0 <= self.diffusion_shift_share <= 1.0:
            raise ValueError(f"diffusion_shift_share must be in [0, 1], got {self.diffusion_shift_share}")
        if self.diffusion_shift_slabs < 1:
            raise ValueError(f"diffusion_shift_slabs must be >= 1, got {self.diffusion_shift_slabs}")
        if self.diffusion_mix is not None and self.diffusion_mix not in FILLS:
            raise ValueError(f"diffusion_mix must be None or one of {FILLS}, got {self.diffusion_mix!r}")
        if not 0.0 <= self.diffusion_mix_share <= 1.0:
            raise ValueError(f"diffusion_mix_share must be in [0, 1], got {self.diffusion_mix_share}")
        if self.diffusion_detail is not None and self.diffusion_detail not in FILLS:
            raise ValueError(f"diffusion_detail must be None or one of {FILLS}, got {self.diffusion_detail!r}")
        if not 0.0 <= self.diffusion_detail_share <= 1.0:
            raise ValueError(f"diffusion_detail_share must be in [0, 1], got {self.diffusion_detail_share}")
        if self.diffusion_pattern is not None and self.diffusion_pattern not in FILLS:
            raise ValueError(f"diffusion_pattern must be None or one of {FILLS}, got {self.diffusion_pattern!r}")
        if not 0.0 <= self.diffusion_pattern_share <= 1.0:
            raise ValueError(f"diffusion_pattern_share must be in [0, 1], got {self.diffusion_pattern_share}")
        if self.diffusion_detail_plain < 0:
            raise ValueError(f"diffusion_detail_plain must be >= 0, got {self.diffusion_detail_plain}")
        if self.diffusion_detail_inset < 0:
            raise ValueError(f"diffusion_detail_inset must be >= 0, got {self.diffusion_detail_inset}")
        if self.diffusion_detail_scale < 1:
            raise ValueError(f"diffusion_detail_scale must be >= 1, got {self.diffusion_detail_scale}")
        if self.diffusion_samples < 1:
            raise ValueError(f"diffusion_samples must be >= 1, got {self.diffusion_samples}")
        if self.diffusion_steps < 1:
            raise ValueError(f"diffusion_steps must be >= 1, got {self.diffusion_steps}")
        if self.tau <= 0:
            raise ValueError(f"tau must be > 0, got {self.tau}")
        if self.blend_erode < 0 or (self.blend_blur is not None and self.blend_blur < 0):
            raise ValueError(f"blend_erode and blend_blur must be >= 0, got {self.blend_erode}, {self.blend_blur}")

    def blend_radii(self, texture_size: int) -> tuple[int, int]:
        """(erosion, blur radius) of B_fill for eq. 6 at ``texture_size``: (0, 1) at 64² and 128², (0, 2) at 256²."""
        blur = self.blend_blur if self.blend_blur is not None else max(1, texture_size // 128)
        return self.blend_erode, blur
