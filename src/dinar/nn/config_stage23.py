"""Configs of the stage-2 texture VQGAN and the stage-3 latent diffusion inpainter (paper 3.3, 4.1),
and their named presets.

Kept apart from :mod:`dinar.nn.config` (the stage-1 configs) so the two stages are edited
independently; both use the same :class:`~dinar.nn.config.ConfigMixin` JSON round trip.

Presets (``stage23_preset(name)``):

- ``paper`` — 256² textures → 6 × 64 × 64 latent (two down-samplings), codebook 8192 × 6; VQ widths
  of the latent-diffusion "vq-f4" first stage (128·(1, 2, 4), 2 ResNet blocks per level). Diffusion
  U-Net of the latent-diffusion inpainting model: widths 256·(1, 2, 3, 4), 2 ResNet blocks per level,
  BigGAN-style residual up/down-sampling, attention on the three lower levels (32², 16², 8²),
  dropout 0.5, linear betas 3e-4 … 2e-2 over T = 1000 (DESIGN.md).
- ``small`` — 128² textures → 6 × 32 × 32, codebook 4096; VQ 64·(1, 2, 4); U-Net 128·(1, 2, 3, 4)
  (GPU-hours).
- ``wide`` — ``tiny``'s 64² textures and U-Net with a VQ twice as wide at the top (32, 64, 64), codebook
  1024 and T_rgb weighted ×10 in its reconstruction loss (the back is rendered from the inpainted T_rgb).
  Measured against ``tiny`` on the back and not shipped (docs/back.md).
- ``rgb`` — stage 3 without the VQ: a DDPM on the colours of the 64² texture itself (T_rgb, 3 × 64 × 64),
  conditioned on the whole partial texture at 64²; U-Net 16·(1, 2, 4, 4), attention on 8² and the middle. The back
  is rendered from T_rgb, and no VQ latent of this size holds its colours (docs/back.md). It predicts
  x_0, not ε (:class:`NoiseScheduleConfig`). Its VQ
  entry is ``tiny``'s and goes unused.
- ``tiny`` — 64² textures → 6 × 16 × 16, codebook 512; VQ 16·(1, 2, 4) with one ResNet block per
  level; U-Net 32·(1, 2, 3, 4) with one block per level, attention on 8², 4², 2², dropout 0.1
  (CPU minutes; tests and the demo model — with a few hundred training textures dropout 0.5 mostly
  slows a short run down).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dinar.config import ConfigMixin

from .config import TEXTURE_CHANNELS, TEXTURE_GEN_CHANNELS

LATENT_CHANNELS = 6
"""Channels of the VQ latent T_c (paper 4.1: 6 × 64 × 64, codebook vectors of length six)."""

CHANNEL_GROUPS: dict[str, slice] = {
    "gen": slice(0, TEXTURE_GEN_CHANNELS),
    "rgb": slice(TEXTURE_GEN_CHANNELS, TEXTURE_GEN_CHANNELS + 3),
    "masks": slice(TEXTURE_GEN_CHANNELS + 3, TEXTURE_CHANNELS),
}
"""Channel groups of T = T_gen ⊕ T_rgb ⊕ B_smp ⊕ B_fill (paper eq. 2): 0:16, 16:19, 19:21."""
FILL_CHANNEL = TEXTURE_CHANNELS - 1
"""Index of B_fill in T (20)."""
DIFFUSION_SPACES = ("latent", "rgb")
"""Where stage 3 diffuses: the VQ latent (paper 3.3) or the colours of the texture (:class:`UNetConfig`)."""


@dataclass(frozen=True)
class VQConfig(ConfigMixin):
    """Texture VQGAN (paper 3.3, 4.1) on diffusers' ``VQModel``: T [21, S, S] ↔ T_c [6, S/4, S/4]."""

    texture_size: int = 256
    channels: int = TEXTURE_CHANNELS
    latent_channels: int = LATENT_CHANNELS
    num_embeddings: int = 8192
    block_out_channels: tuple[int, ...] = (128, 256, 512)
    """Encoder widths per level; ``len - 1`` down-samplings (3 levels: 256² → 64²)."""
    layers_per_block: int = 2
    norm_num_groups: int = 32
    mid_block_attention: bool = True
    beta: float = 0.25
    """Commitment weight: codebook loss ``‖sg(z) − e‖² + beta ‖z − sg(e)‖²`` (VQ-VAE, VQGAN)."""

    @property
    def downsampling(self) -> int:
        return 2 ** (len(self.block_out_channels) - 1)

    @property
    def latent_size(self) -> int:
        return self.texture_size // self.downsampling

    def __post_init__(self):
        if self.texture_size % self.downsampling:
            raise ValueError(f"texture_size {self.texture_size} is not divisible by the down-sampling {self.downsampling}")
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise ValueError(f"block_out_channels {self.block_out_channels} must be multiples of norm_num_groups={self.norm_num_groups}")


@dataclass(frozen=True)
class PatchDiscriminatorConfig(ConfigMixin):
    """VQGAN's patch discriminator (the pix2pix ``NLayerDiscriminator``) on 21-channel textures."""

    channels: int = TEXTURE_CHANNELS
    ndf: int = 64
    n_layers: int = 3
    """Strided 4×4 convs; receptive field 70 texels for 3 layers."""


@dataclass(frozen=True)
class VQLossConfig(ConfigMixin):
    """Weights of the VQGAN losses (reconstruction per channel group, codebook, adversarial)."""

    l1: float = 1.0
    l2: float = 1.0
    """Reconstruction ``l1 · |T − T_res| + l2 · (T − T_res)²`` (paper 3.3: ‖T − T_res‖²₂ in texture space)."""
    group_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """Multipliers of the gen / rgb / masks groups (each group is averaged over its own channels)."""
    codebook: float = 1.0
    adversarial: float = 0.1
    """Weight of the generator's adversarial term (times the adaptive weight when ``adaptive``)."""
    adaptive: bool = True
    """VQGAN's adaptive weight ‖∇L_rec‖ / ‖∇L_adv‖ at the decoder's last layer."""
    disc_start: float = 0.5
    """The discriminator joins after this fraction of the training steps (VQGAN starts it late)."""


@dataclass(frozen=True)
class UNetConfig(ConfigMixin):
    """Latent DDPM denoiser ε_θ (paper 3.3, 4.1) on diffusers' ``UNet2DModel``.

    ``space = "latent"`` (the paper): input condition T_c^j ⊕ b(B_fill^j) (6 + 1 channels) ⊕ noisy merged
    latent (6) = 13 channels; output: ε, 6 channels.
    ``space = "rgb"``: the diffused sample is T_rgb itself at ``latent_size``² (3 channels, no VQ), and the
    condition is the whole partial texture shrunk to that size (T_gen ⊕ T_rgb ⊕ B_smp ⊕ B_fill, 21
    channels: the generator's guess at the unseen texels and the photo's colours; 24 in all).
    """

    latent_size: int = 64
    latent_channels: int = LATENT_CHANNELS
    block_out_channels: tuple[int, ...] = (256, 512, 768, 1024)
    layers_per_block: int = 2
    attention: tuple[bool, ...] = (False, True, True, True)
    """Self-attention per level (top first): the paper's three levels of the hierarchy."""
    attention_head_dim: int = 32
    dropout: float = 0.5
    norm_num_groups: int = 32
    space: str = "latent"
    """What is diffused: ``latent`` (the VQ latent, paper 3.3) or ``rgb`` (the texture's colours, see above)."""
    position_map: bool = False
    """Give the network each position's (u, v) in [−1, 1] as 2 more input channels: in a fixed atlas where a
    texel is tells which body part it is on, which a convolution cannot see by itself (CoordConv)."""
    mirror_map: bool = False
    """Give the network, beside the condition, the condition at each position's mirror position (the body's
    front/back correspondence: ``mirror_index``, a buffer the trainer sets from the atlas and the body model), so the
    front that a back texel mirrors is at hand to its convolutions rather than half the atlas away; it learns what to
    take from it (garment boundaries) and what not (a chest print, the face)."""
    condition_dropout: float = 0.0
    """Share of training samples whose condition is zeroed, so that one network also learns the unconditional
    prediction; only a denoiser trained with it can be guided (classifier-free guidance, Ho & Salimans 2022)."""

    @property
    def condition_channels(self) -> int:
        return TEXTURE_CHANNELS if self.space == "rgb" else self.latent_channels + 1

    @property
    def in_channels(self) -> int:
        extra = (2 if self.position_map else 0) + (self.condition_channels if self.mirror_map else 0)
        return self.condition_channels + self.latent_channels + extra

    def __post_init__(self):
        if self.space not in DIFFUSION_SPACES:
            raise ValueError(f"space must be one of {DIFFUSION_SPACES}, got {self.space!r}")
        if not 0.0 <= self.condition_dropout < 1.0:
            raise ValueError(f"condition_dropout must be in [0, 1), got {self.condition_dropout}")
        if self.space == "rgb" and self.latent_channels != 3:
            raise ValueError(f"an rgb-space denoiser diffuses the 3 colour channels, got latent_channels={self.latent_channels}")
        if len(self.attention) != len(self.block_out_channels):
            raise ValueError("attention needs one flag per level of block_out_channels")
        if self.latent_size % 2 ** (len(self.block_out_channels) - 1):
            raise ValueError(f"latent_size {self.latent_size} must be divisible by 2**(levels - 1)")
        if any(c % self.norm_num_groups or c % self.attention_head_dim for c in self.block_out_channels):
            raise ValueError("block_out_channels must be multiples of norm_num_groups and attention_head_dim")


@dataclass(frozen=True)
class NoiseScheduleConfig(ConfigMixin):
    """The DDPM forward process: linear betas (DESIGN.md: 3e-4 … 2e-2, T = 1000), ε-prediction by default."""

    num_train_timesteps: int = 1000
    beta_start: float = 3e-4
    beta_end: float = 2e-2
    beta_schedule: str = "linear"
    """diffusers' ``linear``: betas evenly spaced (not latent diffusion's "linear", evenly spaced in √β)."""
    prediction_type: str = "epsilon"
    """What the denoiser predicts: ``epsilon`` (the noise ε, paper eq. 1) or ``sample`` (x_0 itself, whose
    early samples are smooth where an ε-model's still carry noise: the ``rgb`` preset's, trained briefly)."""

    def __post_init__(self):
        if self.prediction_type not in ("epsilon", "sample"):
            raise ValueError(f"prediction_type must be 'epsilon' or 'sample', got {self.prediction_type!r}")


@dataclass(frozen=True)
class Stage23Config(ConfigMixin):
    """The stage-2 and stage-3 networks of one preset."""

    name: str = "paper"
    texture_size: int = 256
    vq: VQConfig = field(default_factory=VQConfig)
    discriminator: PatchDiscriminatorConfig = field(default_factory=PatchDiscriminatorConfig)
    vq_loss: VQLossConfig = field(default_factory=VQLossConfig)
    unet: UNetConfig = field(default_factory=UNetConfig)
    schedule: NoiseScheduleConfig = field(default_factory=NoiseScheduleConfig)

    def __post_init__(self):
        if self.vq.texture_size != self.texture_size:
            raise ValueError(f"Stage23Config {self.name!r}: vq.texture_size={self.vq.texture_size}, preset texture size {self.texture_size}")
        if self.unet.space == "rgb":
            if self.texture_size % self.unet.latent_size:
                raise ValueError(f"Stage23Config {self.name!r}: the colours are diffused at {self.unet.latent_size}², "
                                 f"which the {self.texture_size}² textures cannot be shrunk to")
        elif self.unet.latent_size != self.vq.latent_size or self.unet.latent_channels != self.vq.latent_channels:
            raise ValueError(f"Stage23Config {self.name!r}: the U-Net latent ({self.unet.latent_channels} × {self.unet.latent_size}²) "
                             f"must match the VQ latent ({self.vq.latent_channels} × {self.vq.latent_size}²)")


_TINY_UNET = UNetConfig(latent_size=16, block_out_channels=(32, 64, 96, 128), layers_per_block=1, attention_head_dim=16,
                        dropout=0.1, norm_num_groups=16)
_TINY_DISCRIMINATOR = PatchDiscriminatorConfig(ndf=32, n_layers=2)
_TINY_VQ = VQConfig(texture_size=64, num_embeddings=512, block_out_channels=(16, 32, 64), layers_per_block=1, norm_num_groups=8)

STAGE23_PRESETS: dict[str, Stage23Config] = {
    "paper": Stage23Config(
        name="paper", texture_size=256,
        vq=VQConfig(texture_size=256, num_embeddings=8192, block_out_channels=(128, 256, 512), layers_per_block=2),
        discriminator=PatchDiscriminatorConfig(ndf=64, n_layers=3),
        unet=UNetConfig(latent_size=64, block_out_channels=(256, 512, 768, 1024), layers_per_block=2, dropout=0.5),
    ),
    "small": Stage23Config(
        name="small", texture_size=128,
        vq=VQConfig(texture_size=128, num_embeddings=4096, block_out_channels=(64, 128, 256), layers_per_block=2),
        discriminator=PatchDiscriminatorConfig(ndf=64, n_layers=3),
        unet=UNetConfig(latent_size=32, block_out_channels=(128, 256, 384, 512), layers_per_block=2, dropout=0.5),
    ),
    "wide": Stage23Config(
        name="wide", texture_size=64,
        vq=VQConfig(texture_size=64, num_embeddings=1024, block_out_channels=(32, 64, 64), layers_per_block=1,
                    norm_num_groups=8),
        discriminator=_TINY_DISCRIMINATOR,
        vq_loss=VQLossConfig(group_weights=(1.0, 10.0, 1.0)),
        unet=_TINY_UNET,
    ),
    "rgb": Stage23Config(
        name="rgb", texture_size=64,
        vq=_TINY_VQ,
        discriminator=_TINY_DISCRIMINATOR,
        unet=UNetConfig(space="rgb", latent_size=64, latent_channels=3, block_out_channels=(16, 32, 64, 64), layers_per_block=1,
                        attention=(False, False, False, True), attention_head_dim=16, dropout=0.1, norm_num_groups=8),
        schedule=NoiseScheduleConfig(prediction_type="sample"),
    ),
    "tiny": Stage23Config(
        name="tiny", texture_size=64,
        vq=_TINY_VQ,
        discriminator=_TINY_DISCRIMINATOR,
        unet=_TINY_UNET,
    ),
}


def stage23_preset(name: str) -> Stage23Config:
    """The stage-2/3 config of a named preset: ``paper``, ``small``, ``wide``, ``rgb`` or ``tiny``."""
    try:
        return STAGE23_PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(STAGE23_PRESETS)}") from None
