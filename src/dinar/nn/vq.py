"""The texture VQGAN of stage 2 (paper 3.3, 4.1): T [21, S, S] → T_c [6, S/4, S/4] → T_res.

Why diffusers' ``VQModel`` rather than a hand-written VQGAN: it is maintained and tested, and it is
exactly the VQGAN first stage of latent diffusion (taming-transformers' encoder/decoder: ResNet
blocks, a mid block with self-attention, GroupNorm + SiLU; a nearest-neighbour vector quantizer with
the straight-through estimator), which is what the paper compresses its textures with ("analogously
to the reduction of an RGB image size performed in [43]"). What the library leaves to us is small:
the patch discriminator of VQGAN, the loss weighting, and reports (codebook usage, error per group).

Textures, channel by channel (paper eq. 2): T_gen (0:16, unbounded network features), T_rgb
(16:19, colours in [-1, 1]), B_smp and B_fill (19:21, 0/1). The model sees them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import VQModel
from torch import Tensor, nn

from .config_stage23 import (
    CHANNEL_GROUPS,
    PatchDiscriminatorConfig,
    VQConfig,
    VQLossConfig,
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


# ----------------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------------


def reconstruction_loss(pred: Tensor, target: Tensor, config: VQLossConfig) -> tuple[Tensor, dict[str, Tensor]]:
    """``sum_g w_g · mean_g(l1 · |T − T_res| + l2 · (T − T_res)²)`` over the channel groups gen/rgb/masks.

    Each group is averaged over its own channels, so the 3 RGB channels weigh as much as the 16
    generated ones. Returns the total and the per-group terms (for logging).
    """
    terms = {}
    total = pred.new_zeros(())
    for (name, sl), w in zip(CHANNEL_GROUPS.items(), config.group_weights):
        diff = pred[:, sl] - target[:, sl]
        terms[name] = config.l1 * diff.abs().mean() + config.l2 * diff.pow(2).mean()
        total = total + w * terms[name]
    return total, terms


def adaptive_weight(rec_loss: Tensor, g_loss: Tensor, last_layer: Tensor, max_weight: float = 1e4) -> Tensor:
    """VQGAN's ``λ = ‖∇_L rec‖ / (‖∇_L adv‖ + 1e-4)`` at the decoder's last layer L (Esser et al. eq. 7).

    Balances the adversarial gradient against the reconstruction gradient; detached, clamped to
    ``[0, max_weight]``. Both losses must come from the same graph that produced ``last_layer``'s use.
    """
    rec_grad = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_grad = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    return (rec_grad.norm() / (g_grad.norm() + 1e-4)).clamp(0.0, max_weight).detach()


# ----------------------------------------------------------------------------------------------------
# Reports
# ----------------------------------------------------------------------------------------------------


@dataclass
class CodebookUsage:
    """How much of the codebook a set of latents uses."""

    used: int  # codes used at least once
    total: int  # codebook size K
    perplexity: float  # exp(entropy of the code histogram); K when all codes are equally used

    @property
    def fraction(self) -> float:
        return self.used / self.total


def codebook_usage(indices: Tensor, num_embeddings: int) -> CodebookUsage:
    """Usage report of codebook ``indices`` (any shape, int64) out of ``num_embeddings`` codes."""
    counts = torch.bincount(indices.reshape(-1).long(), minlength=num_embeddings).double()
    p = counts / counts.sum().clamp_min(1)
    entropy = -(p[p > 0] * p[p > 0].log()).sum()
    return CodebookUsage(used=int((counts > 0).sum()), total=num_embeddings, perplexity=float(entropy.exp()))


@dataclass
class GroupErrors:
    """Reconstruction error of one channel group."""

    l1: float  # mean absolute error
    mse: float  # mean squared error
    psnr: float  # 10 log10(range² / mse), range = max − min of the target group (∞ if exact)


def reconstruction_errors(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> dict[str, GroupErrors]:
    """Error per channel group (gen 0:16, rgb 16:19, masks 19:21) of T_res against T.

    ``mask [B, 1, S, S]`` restricts the averages (e.g. to the texels of the UV islands). PSNR uses
    the target group's value range (2 for RGB in [-1, 1], 1 for the masks).
    """
    out = {}
    for name, sl in CHANNEL_GROUPS.items():
        p, t = pred[:, sl].double(), target[:, sl].double()
        w = torch.ones_like(t[:, :1]) if mask is None else mask.double()
        n = (w.sum() * t.shape[1]).clamp_min(1)
        diff = (p - t) * w
        l1 = float(diff.abs().sum() / n)
        mse = float(diff.pow(2).sum() / n)
        value_range = float(t.max() - t.min()) or 1.0
        psnr = float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(value_range**2 / mse)).item()
        out[name] = GroupErrors(l1=l1, mse=mse, psnr=psnr)
    return out


def psnr(pred: Tensor, target: Tensor, mask: Tensor | None = None, value_range: float = 2.0) -> float:
    """PSNR in dB of ``pred`` against ``target`` (``[B, C, H, W]``), over ``mask [B, 1, H, W]`` if given."""
    w = torch.ones_like(target[:, :1]) if mask is None else mask.to(target.dtype)
    n = (w.sum() * target.shape[1]).clamp_min(1)
    mse = float(((pred - target) * w).double().pow(2).sum() / n)
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(value_range**2 / mse)).item()
