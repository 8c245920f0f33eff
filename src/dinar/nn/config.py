"""Configs of the stage-1 networks (paper 3.1, 4.1, appendix C) and their named presets.

Each network takes one frozen dataclass; ``to_dict`` / ``from_dict`` turn it into a JSON-ready dict
that is saved beside the safetensors weights and rebuilds the network exactly.

Presets (``preset(name)``):

- ``paper`` — 512² images, 256² textures; widths of the official DINAR release (StyleGAN2 channel
  multiplier 2: 256 channels up to 64², 128 at 128², 64 at 256², 32 at 512², i.e.
  ``channel_base=16384, channel_max=256``), 512-d code; renderer with ``ngf=64``, 3 levels, 3 ResNet
  blocks, branch widths 21 / 8 / 4 and 16-channel heads (appendix C, figure 12b).
- ``small`` — 256² images, 128² textures, same widths per resolution up to 256 channels (GPU-hours).
- ``tiny`` — 128² images, 64² textures, at most 64 channels, 128-d code; renderer ``ngf=16``, 2 ResNet
  blocks, 3×3 outer convs and 8-channel heads with 1 / 2 convs (CPU minutes; tests).
- ``hd`` — the paper's 512² renders and 256² T_rgb at ``tiny``'s network cost (CPU hours; the shipped
  model). Training cost need not grow with the output: θ is fully convolutional, so it learns on
  patches of the 512² frames the size of D's input (128²), E sees the image downscaled to 128², and
  G's T_gen stays 64², upsampled to the texture size where eq. 2 concatenates it with T_rgb. What must
  be sharp is T_rgb, and Algorithm 1 samples it from the full 512² image at 256² texels. Every network
  has ``tiny``'s shapes, so ``hd`` can start from a trained ``tiny`` model.

Sizes: ``image_size`` is what θ renders and Algorithm 1 samples; ``texture_size`` the side of T.
``encoder.image_size``, ``generator.texture_size`` and ``discriminator.image_size`` may be smaller
divisors of them (E's input is downscaled, T_gen upsampled, D judges patches).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dinar.config import ConfigMixin

from .stylegan2 import DEFAULT_BLUR_KERNEL

TEXTURE_GEN_CHANNELS = 16
"""L, the channels of the generated neural texture T_gen (paper 3.1)."""
TEXTURE_CHANNELS = TEXTURE_GEN_CHANNELS + 3 + 1 + 1
"""Channels of T = T_gen ⊕ T_rgb ⊕ B_smp ⊕ B_fill (paper eq. 2): 21."""


@dataclass(frozen=True)
class EncoderConfig(ConfigMixin):
    """Encoder E: StyleGAN2 discriminator trunk on RGB ⊕ mask ⊕ noise (5 channels), head → ``code_dim``."""

    image_size: int = 512
    code_dim: int = 512
    channel_base: int = 16384
    channel_max: int = 256
    lr_mul: float = 0.01
    """Equalized-lr multiplier of every layer; 0.01 as in the official release (E learns slowly)."""
    blur_kernel: tuple[int, ...] = DEFAULT_BLUR_KERNEL


@dataclass(frozen=True)
class GeneratorConfig(ConfigMixin):
    """Generator G: StyleGAN2 synthesis network from the code to T_gen (``out_channels`` × size²)."""

    texture_size: int = 256
    out_channels: int = TEXTURE_GEN_CHANNELS
    style_dim: int = 512
    n_mapping: int = 0
    """Mapping-network layers in front of the synthesis network. 0 (official release): E's code is w."""
    mapping_lr_mul: float = 0.01
    channel_base: int = 16384
    channel_max: int = 256
    blur_kernel: tuple[int, ...] = DEFAULT_BLUR_KERNEL


@dataclass(frozen=True)
class DiscriminatorConfig(ConfigMixin):
    """Discriminator D for the adversarial loss: StyleGAN2 residual discriminator → one logit."""

    image_size: int = 512
    in_channels: int = 3
    """3 for RGB; 4 to also judge the mask (RGB ⊕ mask)."""
    channel_base: int = 16384
    channel_max: int = 256
    mbstd_group: int = 0
    """Minibatch-stddev group size; 0 = off (the official DINAR discriminator has it off)."""
    blur_kernel: tuple[int, ...] = DEFAULT_BLUR_KERNEL


@dataclass(frozen=True)
class RendererConfig(ConfigMixin):
    """Renderer θ (appendix C, figure 12b): three input branches → 3-level U-Net → RGB and mask heads."""

    texture_channels: int = TEXTURE_CHANNELS
    uv_channels: int = 2
    uv_mask_channels: int = 1
    texture_branch_channels: int = TEXTURE_CHANNELS
    uv_branch_channels: int = 8
    uv_mask_branch_channels: int = 4
    ngf: int = 64
    """U-Net width at full resolution; doubles per level (64, 128, 256, 512 at the bottom)."""
    n_levels: int = 3
    n_blocks: int = 3
    """ResNet blocks at the bottom of the U-Net."""
    outer_kernel: int = 7
    """Kernel of the U-Net's first and last conv (7 in the official release; 3 in ``tiny`` to save CPU time)."""
    head_channels: int = 16
    rgb_head_convs: int = 2
    mask_head_convs: int = 4
    hard_mask: bool = True
    """mask = max(sigmoid(logits), uv_mask): the body itself is always foreground (official release)."""
    rgb_skip: bool = False
    """RGB head predicts a residual on the rasterized T_rgb: rgb = tanh(head + atanh(T_rgb)) (ours, not the
    paper's). A freshly initialised renderer then already shows the sampled photo colours, so the small
    CPU-trained presets learn to keep them instead of leaning on T_gen alone; ``paper`` keeps it off."""


@dataclass(frozen=True)
class Stage1Config(ConfigMixin):
    """The four stage-1 networks of one preset, with the image and texture sizes they share."""

    name: str = "paper"
    image_size: int = 512
    texture_size: int = 256
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    renderer: RendererConfig = field(default_factory=RendererConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)

    def __post_init__(self):
        sizes = {
            "encoder.image_size": (self.encoder.image_size, self.image_size),
            "discriminator.image_size": (self.discriminator.image_size, self.image_size),
            "generator.texture_size": (self.generator.texture_size, self.texture_size),
        }
        for name, (got, want) in sizes.items():
            if got > want or want % got:
                raise ValueError(f"Stage1Config {self.name!r}: {name}={got} must divide the preset size {want}")
        if self.generator.style_dim != self.encoder.code_dim:
            raise ValueError(
                f"generator.style_dim={self.generator.style_dim} must equal encoder.code_dim={self.encoder.code_dim}"
            )
        if self.renderer.texture_channels != self.generator.out_channels + 5:
            raise ValueError("renderer.texture_channels must be generator.out_channels + 5 (T_rgb, B_smp, B_fill)")
        if self.image_size % 2**self.renderer.n_levels:
            raise ValueError(f"image_size {self.image_size} must be divisible by 2**renderer.n_levels")

    @property
    def encoder_size(self) -> int:
        """Side of E's input (the image downscaled when smaller than ``image_size``)."""
        return self.encoder.image_size

    @property
    def neural_texture_size(self) -> int:
        """Side of G's T_gen (upsampled to ``texture_size`` when smaller)."""
        return self.generator.texture_size

    @property
    def patch_size(self) -> int:
        """Side of D's input: the patches θ trains on when smaller than ``image_size``."""
        return self.discriminator.image_size


def _stage1(
    name: str, image_size: int, texture_size: int, channel_base: int, channel_max: int, code_dim: int,
    renderer: RendererConfig, network_image_size: int | None = None, network_texture_size: int | None = None,
) -> Stage1Config:
    """A preset; ``network_image_size`` / ``network_texture_size``: E's and D's input and G's output
    when they are smaller than the rendered image and the texture (``hd``)."""
    widths = {"channel_base": channel_base, "channel_max": channel_max}
    net_image = network_image_size or image_size
    return Stage1Config(
        name=name,
        image_size=image_size,
        texture_size=texture_size,
        encoder=EncoderConfig(image_size=net_image, code_dim=code_dim, **widths),
        generator=GeneratorConfig(texture_size=network_texture_size or texture_size, style_dim=code_dim, **widths),
        renderer=renderer,
        discriminator=DiscriminatorConfig(image_size=net_image, **widths),
    )


_TINY_RENDERER = RendererConfig(ngf=16, n_blocks=2, outer_kernel=3, head_channels=8, rgb_head_convs=1, mask_head_convs=2,
                                rgb_skip=True)


PRESETS: dict[str, Stage1Config] = {
    "paper": _stage1("paper", 512, 256, 16384, 256, 512, RendererConfig(ngf=64, n_blocks=3)),
    "small": _stage1("small", 256, 128, 8192, 256, 512, RendererConfig(ngf=32, n_blocks=3, rgb_skip=True)),
    "tiny": _stage1("tiny", 128, 64, 2048, 64, 128, _TINY_RENDERER),
    "hd": _stage1("hd", 512, 256, 2048, 64, 128, _TINY_RENDERER, network_image_size=128, network_texture_size=64),
}


def preset(name: str) -> Stage1Config:
    """The stage-1 config of a named preset: ``paper``, ``small``, ``hd`` or ``tiny``."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
