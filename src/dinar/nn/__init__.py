"""Networks only, no I/O: stage-1 encoder E, generator G, renderer θ, discriminator D and their configs."""

from .config import (
    PRESETS,
    TEXTURE_CHANNELS,
    TEXTURE_GEN_CHANNELS,
    DiscriminatorConfig,
    EncoderConfig,
    GeneratorConfig,
    RendererConfig,
    Stage1Config,
    preset,
)
from .discriminator import Discriminator, DiscriminatorOutput
from .encoder import Encoder, EncoderOutput
from .generator import Generator, GeneratorOutput
from .renderer import Renderer, RenderOutput, composite

__all__ = [
    "PRESETS",
    "TEXTURE_CHANNELS",
    "TEXTURE_GEN_CHANNELS",
    "Discriminator",
    "DiscriminatorConfig",
    "DiscriminatorOutput",
    "Encoder",
    "EncoderConfig",
    "EncoderOutput",
    "Generator",
    "GeneratorConfig",
    "GeneratorOutput",
    "RenderOutput",
    "Renderer",
    "RendererConfig",
    "Stage1Config",
    "composite",
    "preset",
]
