"""Stage 2: training the texture VQGAN (paper 3.3, 4.1) on a neural-texture folder.

``dinar train vq --textures DIR --preset tiny --out RUN`` trains :class:`~dinar.nn.vq.TextureVQModel`
on every view texture and every merged texture of the folder's ``train`` people
(:mod:`dinar.train.textures`), with

- reconstruction ``l1 |T − T_res| + l2 (T − T_res)²`` per channel group (T_gen, T_rgb, masks),
- the codebook + commitment loss of the quantizer,
- after ``disc_start`` of the steps, VQGAN's patch discriminator with the non-saturating loss
  (:mod:`dinar.losses.adversarial`) and the adaptive weight at the decoder's last layer.

One optimizer holds both networks (Adam, β = (0.5, 0.9) as VQGAN): the generator terms are computed
with the discriminator frozen and the discriminator term on detached reconstructions, so one backward
pass gives each network only its own gradients, and Lightning's step counter counts batches.

Validation (``val`` people, or ``train`` when there are none) logs the error per channel group,
codebook usage (used codes, perplexity) and input | reconstruction images (RGB channels) to
TensorBoard. After training, :func:`train_vq_and_report` scores the released weights on the ``test``
people (:func:`vq_report`, ``RUN/report.json``). The paper's second step — fine-tuning renderer and VQ end to end against images — needs
the stage-1 renderer and lives with the stage-1 training.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from dinar.config import ConfigMixin
from dinar.losses.adversarial import d_logistic_loss, g_nonsaturating_loss
from dinar.losses.vq import (
    adaptive_weight,
    codebook_usage,
    reconstruction_errors,
    reconstruction_loss,
)
from dinar.nn.config_stage23 import (
    FILL_CHANNEL,
    Stage23Config,
    stage23_preset,
)
from dinar.nn.vq import (
    PatchDiscriminator,
    TextureVQModel,
    VQOutput,
)
from dinar.train.textures import (
    TextureDataset,
    TextureIndex,
    rgb_preview,
    split_with_people,
)
from dinar.train.trainer import TrainerSettings, make_trainer, prepare_run, write_report
from dinar.weights.networks import load_vq, save_vq

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VQTrainConfig(ConfigMixin):
    """Optimization settings of the VQGAN training."""

    steps: int = 300_000
    batch_size: int = 8
    lr: float = 3.6e-5
    """VQGAN's rule: 4.5e-6 × batch size."""
    betas: tuple[float, float] = (0.5, 0.9)
    val_every: int = 5000
    checkpoint_every: int = 5000
    val_batches: int = 16
    restart_dead_codes_every: int = 200
    """Every N steps, codes no batch used since the last check are moved onto random encoder outputs
    of the current batch (the "random restart" of Jukebox / SoundStream against codebook collapse);
    0 = off."""
    num_workers: int = 4
    seed: int = 0


VQ_TRAIN_PRESETS: dict[str, VQTrainConfig] = {
    "paper": VQTrainConfig(steps=300_000, batch_size=8, lr=3.6e-5),
    "small": VQTrainConfig(steps=100_000, batch_size=16, lr=7.2e-5),
    "tiny": VQTrainConfig(steps=1000, batch_size=16, lr=3e-4, val_every=250, checkpoint_every=250, val_batches=4,
                          restart_dead_codes_every=50, num_workers=0),
}
VQ_TRAIN_PRESETS["wide"] = dataclasses.replace(VQ_TRAIN_PRESETS["tiny"], steps=2000)
VQ_TRAIN_PRESETS["rgb"] = VQ_TRAIN_PRESETS["tiny"]  # the rgb preset's VQ entry is tiny's (its diffusion needs none)


class VQLightning(pl.LightningModule):
    """The VQGAN and its patch discriminator under Lightning (module docstring)."""

    def __init__(self, config: Stage23Config, train: VQTrainConfig):
        super().__init__()
        self.config = config
        self.train_config = train
        self.model = TextureVQModel(config.vq)
        self.disc = PatchDiscriminator(config.discriminator)
        self.register_buffer("code_hits", torch.zeros(config.vq.num_embeddings, dtype=torch.int64), persistent=False)
        self._latents: Tensor | None = None
        self._val: dict[str, Any] = {}

    @property
    def disc_start_step(self) -> int:
        return int(self.config.vq_loss.disc_start * self.train_config.steps)

    def configure_optimizers(self):
        t = self.train_config
        return torch.optim.Adam(list(self.model.parameters()) + list(self.disc.parameters()), lr=t.lr, betas=t.betas)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        cfg = self.config.vq_loss
        target = batch["texture"]
        z = self.model.encode(target)
        z_q, codebook_loss, indices = self.model.quantize(z)
        out = VQOutput(texture=self.model.decode(z_q), latent=z_q, indices=indices, codebook_loss=codebook_loss)
        self.code_hits += torch.bincount(indices.reshape(-1), minlength=self.code_hits.numel())
        self._latents = z.detach().permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        rec, terms = reconstruction_loss(out.texture, target, cfg)
        loss = rec + cfg.codebook * out.codebook_loss
        logs = {f"train/rec_{k}": v.detach() for k, v in terms.items()}
        logs["train/rec"] = rec.detach()
        logs["train/codebook"] = out.codebook_loss.detach()
        if cfg.adversarial > 0 and self.global_step >= self.disc_start_step:
            self.disc.requires_grad_(False)
            g_loss = g_nonsaturating_loss(self.disc(out.texture))
            weight = adaptive_weight(rec, g_loss, self.model.last_decoder_layer) if cfg.adaptive else torch.ones(())
            self.disc.requires_grad_(True)
            d_loss = d_logistic_loss(self.disc(target), self.disc(out.texture.detach()))
            loss = loss + cfg.adversarial * weight * g_loss + d_loss
            logs.update({"train/g_adv": g_loss.detach(), "train/d": d_loss.detach(), "train/adaptive_weight": weight})
        logs["train/loss"] = loss.detach()
        self.log_dict(logs, prog_bar=False)
        self.log("rec", rec.detach(), prog_bar=True, logger=False)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        every = self.train_config.restart_dead_codes_every
        if every > 0 and self.global_step % every == 0 and self._latents is not None:
            restarted = restart_dead_codes(self.model.codebook, self.code_hits, self._latents)
            self.log("train/codes_restarted", float(restarted))
            self.code_hits.zero_()

    # Validation --------------------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._val = {"indices": [], "pred": [], "target": [], "images": None}

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        target = batch["texture"]
        out = self.model(target)
        self._val["indices"].append(out.indices.cpu())
        self._val["pred"].append(out.texture.cpu())
        self._val["target"].append(target.cpu())
        if self._val["images"] is None:
            n = min(4, target.shape[0])
            self._val["images"] = torch.cat([rgb_preview(target[:n]), rgb_preview(out.texture[:n])], dim=-1).cpu()

    def on_validation_epoch_end(self) -> None:
        if not self._val.get("indices"):
            return
        usage = codebook_usage(torch.cat(self._val["indices"]), self.config.vq.num_embeddings)
        errors = reconstruction_errors(torch.cat(self._val["pred"]), torch.cat(self._val["target"]))
        logs = {"val/codes_used": float(usage.used), "val/perplexity": usage.perplexity}
        for name, e in errors.items():
            logs[f"val/l1_{name}"] = e.l1
            logs[f"val/psnr_{name}"] = e.psnr if math.isfinite(e.psnr) else 99.0
        self.log_dict(logs, sync_dist=True)
        self.log("val_rgb_psnr", logs["val/psnr_rgb"], prog_bar=True, logger=False)
        images = self._val["images"]
        if images is not None and self.logger is not None and hasattr(self.logger.experiment, "add_image"):
            grid = torch.cat(list(images), dim=-2)  # rows: textures; columns: input | reconstruction
            self.logger.experiment.add_image("val/input_recon_rgb", grid, self.global_step)
        self._val = {}

    # Weights -------------------------------------------------------------------------------------------
    def export_weights(self, run_dir: Path) -> None:
        save_vq(self.model, run_dir, {"step": self.global_step})


@torch.no_grad()
def restart_dead_codes(codebook: Tensor, hits: Tensor, latents: Tensor, generator: torch.Generator | None = None) -> int:
    """Move the codes with ``hits == 0`` (``codebook [K, D]``, ``hits [K]``) onto random rows of
    ``latents [N, D]`` (encoder outputs); returns how many moved. Under DDP rank 0's codebook is
    broadcast so every replica keeps the same one."""
    dead = (hits == 0).nonzero()[:, 0]
    if dead.numel() and latents.shape[0]:
        pick = torch.randint(0, latents.shape[0], (dead.numel(),), generator=generator, device="cpu").to(latents.device)
        codebook[dead] = latents[pick].to(codebook.dtype)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.broadcast(codebook.data, 0)
    return int(dead.numel())


def train_vq(
    textures: str | Path,
    out: str | Path,
    preset: str = "tiny",
    train: VQTrainConfig | None = None,
    resume: bool = False,
    device: str = "auto",
    devices: int = 1,
    precision: str = "32-true",
    progress: bool = True,
    group_weights: tuple[float, float, float] | None = None,
) -> Path:
    """Train the texture VQGAN of ``preset`` on a texture folder; returns the run folder (module docstring).
    ``group_weights`` replaces the preset's reconstruction multipliers of T_gen / T_rgb / masks
    (:class:`~dinar.nn.config_stage23.VQLossConfig`); the run records it with the model config."""
    config = stage23_preset(preset)
    if group_weights is not None:
        config = dataclasses.replace(config, vq_loss=dataclasses.replace(config.vq_loss, group_weights=tuple(group_weights)))
    train = train or VQ_TRAIN_PRESETS[preset]
    index = TextureIndex.read(textures)
    if index.texture_size != config.texture_size:
        raise ValueError(f"{textures}: textures are {index.texture_size}² but preset {preset!r} expects {config.texture_size}²")
    out = Path(out)
    ckpt = prepare_run(out, {"stage": "vq", "preset": preset, "model": config.to_dict(), "train": train.to_dict(),
                             "data": {"textures": str(Path(textures).resolve())}}, resume=resume)
    pl.seed_everything(train.seed, workers=True, verbose=False)
    train_set = TextureDataset(textures, "train")
    val_set = TextureDataset(textures, split_with_people(index, "val"))
    loader_kw = {"num_workers": train.num_workers, "persistent_workers": train.num_workers > 0}
    train_loader = DataLoader(train_set, batch_size=train.batch_size, shuffle=True, drop_last=len(train_set) >= train.batch_size, **loader_kw)
    val_loader = DataLoader(val_set, batch_size=train.batch_size, shuffle=False, **loader_kw)
    module = VQLightning(config, train)
    trainer = make_trainer(TrainerSettings(
        run_dir=out, max_steps=train.steps, checkpoint_every=train.checkpoint_every, val_every=min(train.val_every, train.steps),
        val_batches=train.val_batches, device=device, devices=devices, precision=precision, progress=progress,
        find_unused_parameters=True,
    ))
    trainer.fit(module, train_loader, val_loader, ckpt_path=str(ckpt) if ckpt else None)
    return out


@torch.no_grad()
def vq_report(model: TextureVQModel, textures: str | Path, split: str = "test", batch_size: int = 16) -> dict[str, Any]:
    """Held-out report: codebook usage and reconstruction error per channel group (on the texels of
    the UV islands some view covers: B_fill of the view, ``covered`` of merged textures)."""
    index = TextureIndex.read(textures)
    dataset = TextureDataset(textures, split_with_people(index, split))
    device = next(model.parameters()).device
    indices, preds, targets = [], [], []
    for batch in DataLoader(dataset, batch_size=batch_size):
        T = batch["texture"].to(device)
        out = model(T)
        indices.append(out.indices.cpu())
        preds.append(out.texture.cpu())
        targets.append(T.cpu())
    pred, target = torch.cat(preds), torch.cat(targets)
    usage = codebook_usage(torch.cat(indices), model.config.num_embeddings)
    mask = target[:, FILL_CHANNEL : FILL_CHANNEL + 1]
    return {
        "textures": len(dataset),
        "codebook": {"used": usage.used, "total": usage.total, "perplexity": round(usage.perplexity, 2)},
        "errors_all_texels": {k: vars(v) for k, v in reconstruction_errors(pred, target).items()},
        "errors_filled_texels": {k: vars(v) for k, v in reconstruction_errors(pred, target, mask).items()},
    }


def train_vq_and_report(textures: str | Path, out: str | Path, preset: str = "tiny", train: VQTrainConfig | None = None,
                        **options: Any) -> dict[str, Any]:
    """``dinar train vq``: :func:`train_vq` (``options``: its ``resume``, ``device``, ``devices``,
    ``precision``, ``progress``), then :func:`vq_report` of the released weights on the ``test`` people,
    written to ``RUN/report.json`` and returned."""
    run = train_vq(textures, out, preset, train, **options)
    report = vq_report(load_vq(run), textures, "test")
    write_report(run, report)
    return report
