"""The texture VQGAN of stage 2 (paper 3.3, 4.1): T [21, S, S] → T_c [6, S/4, S/4] → T_res.

Why diffusers' ``VQModel`` rather than a hand-written VQGAN: it is maintained and tested, and it is
exactly the VQGAN first stage of latent diffusion (taming-transformers' encoder/decoder: ResNet
blocks, a mid block with self-attention, GroupNorm + SiLU; a nearest-neighbour vector quantizer with
the straight-through estimator), which is what the paper compresses its textures with ("analogously
to the reduction of an RGB image size performed in [43]"). What the library leaves to us is small:
the patch discriminator of VQGAN here; the loss weighting and the reports (codebook usage, error per
group) are in :mod:`dinar.losses.vq`.

Textures, channel by channel (paper eq. 2): T_gen (0:16, unbounded network features), T_rgb
(16:19, colours in [-1, 1]), B_smp and B_fill (19:21, 0/1). The model sees them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import VQModel
from torch import Tensor, nn

from .config_stage23 import (
    PatchDiscriminatorConfig,
    VQConfig,
)


@dataclass
class VQOutput:
    """What :class:`TextureVQModel` returns for a batch of textures."""

    texture: Tensor  # [B, 21, S, S] T_res, the decoded texture
    latent: Tensor  # [B, 6, s, s] T_c, the quantized latent (codebook vectors; straight-through gradients)
    indices: Tensor  # [B, s, s] int64 codebook index of every latent position
    codebook_loss: Tensor  # scalar ‖sg(z) − e‖² + beta ‖z − sg(e)‖²


class TextureVQModel(nn.Module):
    """VQGAN on neural textures: diffusers ``VQModel`` with 21 channels in and out (paper 4.1)."""

    def __init__(self, config: VQConfig):
        super().__init__()
        self.config = config
        levels = len(config.block_out_channels)
        self.vq = VQModel(
            in_channels=config.channels,
            out_channels=config.channels,
            down_block_types=("DownEncoderBlock2D",) * levels,
            up_block_types=("UpDecoderBlock2D",) * levels,
            block_out_channels=config.block_out_channels,
            layers_per_block=config.layers_per_block,
            latent_channels=config.latent_channels,
            num_vq_embeddings=config.num_embeddings,
            vq_embed_dim=config.latent_channels,
            norm_num_groups=config.norm_num_groups,
            sample_size=config.texture_size,
            mid_block_add_attention=config.mid_block_attention,
        )
        # diffusers keeps taming's historical weighting (beta on the codebook term) behind
        # ``legacy=True``; the VQ-VAE / VQGAN papers put beta on the commitment term.
        self.vq.quantize.legacy = False
        self.vq.quantize.beta = config.beta

    @property
    def codebook(self) -> Tensor:
        """[K, 6] the codebook vectors e_k."""
        return self.vq.quantize.embedding.weight

    @property
    def last_decoder_layer(self) -> Tensor:
        """Weight of the decoder's output conv (VQGAN's adaptive adversarial weight is measured there)."""
        return self.vq.decoder.conv_out.weight

    def encode(self, texture: Tensor) -> Tensor:
        """E_VQ before quantization: T [B, 21, S, S] → z [B, 6, s, s]."""
        _check_texture(texture, self.config)
        return self.vq.encode(texture).latents

    def quantize(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Nearest codebook vectors: ``(z_q [B, 6, s, s], codebook_loss, indices [B, s, s])``."""
        z_q, loss, (_, _, indices) = self.vq.quantize(z)
        return z_q, loss, indices.view(z.shape[0], *z.shape[-2:])

    def decode(self, z_q: Tensor) -> Tensor:
        """D_VQ: a (quantized) latent [B, 6, s, s] → T_res [B, 21, S, S], without re-quantizing."""
        return self.vq.decode(z_q, force_not_quantize=True).sample

    def forward(self, texture: Tensor) -> VQOutput:
        z_q, loss, indices = self.quantize(self.encode(texture))
        return VQOutput(texture=self.decode(z_q), latent=z_q, indices=indices, codebook_loss=loss)


def _check_texture(texture: Tensor, config: VQConfig) -> None:
    S = config.texture_size
    if texture.dim() != 4 or texture.shape[1:] != (config.channels, S, S):
        raise ValueError(f"expected textures [B, {config.channels}, {S}, {S}], got {tuple(texture.shape)}")


@torch.no_grad()
def encode_texture(model: TextureVQModel, texture: Tensor) -> Tensor:
    """T [B, 21, S, S] → the quantized latent T_c = E_VQ(T) [B, 6, s, s] (paper 3.3)."""
    z_q, _, _ = model.quantize(model.encode(texture))
    return z_q


@torch.no_grad()
def decode_latent(model: TextureVQModel, latent: Tensor, quantize: bool = True) -> Tensor:
    """T_c [B, 6, s, s] → T_res = D_VQ(T_c) [B, 21, S, S] (paper 3.4).

    ``quantize`` first snaps the latent to the codebook, as latent diffusion decodes the samples of
    a VQ first stage (a diffusion sample lies near, not on, the codebook).
    """
    if quantize:
        latent, _, _ = model.quantize(latent)
    return model.decode(latent)


# ----------------------------------------------------------------------------------------------------
# Patch discriminator
# ----------------------------------------------------------------------------------------------------


class PatchDiscriminator(nn.Module):
    """VQGAN's patch discriminator (pix2pix ``NLayerDiscriminator``): T → [B, 1, h, w] realism logits.

    4×4 convs, stride 2 for the first ``n_layers``, LeakyReLU 0.2, BatchNorm after the first layer,
    N(0, 0.02) weights (taming-transformers). Each logit judges a patch of the texture.
    """

    def __init__(self, config: PatchDiscriminatorConfig):
        super().__init__()
        self.config = config
        ndf = config.ndf
        layers: list[nn.Module] = [nn.Conv2d(config.channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, config.n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < config.n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=False), nn.BatchNorm2d(ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, texture: Tensor) -> Tensor:
        """texture [B, 21, S, S] → logits [B, 1, h, w]."""
        if texture.dim() != 4 or texture.shape[1] != self.config.channels:
            raise ValueError(f"expected [B, {self.config.channels}, S, S], got {tuple(texture.shape)}")
        return self.net(texture)
