"""Stage 3: training the latent DDPM inpainter (paper 3.3, 4.1) in the latent space of a trained VQ.

``dinar train diffusion --textures DIR --vq RUN_VQ --preset tiny --out RUN``:

1. every (single-view texture, merged texture) pair of the ``train`` people
   (:class:`~dinar.train.textures.InpaintingDataset`; all views by default, so back and side photos
   work too — the paper trains on front views only) is encoded once by the frozen VQ:
   condition ``T_c^j`` and ``b(B_fill^j)``, ground truth ``T_c`` of the eq.-5 merge;
2. the latents are scaled to unit variance (``latent_scale``, from the training targets), and the
   sampler's x̂_0 is clipped to the largest scaled training latent (``latent_bound``);
3. ε_θ is trained with the DDPM loss (paper eq. 1), AdamW, an EMA of the weights (diffusers'
   ``EMAModel``, :class:`~dinar.train.ema.EMAShadow`);
4. each validation logs the EMA model's denoising loss at fixed noise, and samples inpaintings of a
   few ``val`` people (DDIM, ``sample_steps`` steps, fixed seed): PSNR of the RGB channels on the
   texels the input view does not cover, and an image grid (input view | merged GT | inpainted).

``--preset rgb`` needs no VQ: the pairs are the single-view textures shrunk to 64² (the condition, all 21
channels) and the T_rgb of the merges at 64² (the target) (:func:`colour_pairs`), and the denoiser predicts x_0.

The released ``model.safetensors`` holds the EMA weights (with ``latent_scale``) and the schedule;
``checkpoints/last.safetensors`` holds the EMA state too (``checkpoint["ema"]``), so ``--resume``
continues the average. After training, :func:`train_diffusion_and_report` scores the inpainting on
the ``test`` people (:func:`inpainting_report`, ``RUN/report.json``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from dinar.config import ConfigMixin
from dinar.losses.diffusion import diffusion_loss
from dinar.losses.vq import pooled_psnr
from dinar.nn.config_stage23 import (
    CHANNEL_GROUPS,
    FILL_CHANNEL,
    NoiseScheduleConfig,
    Stage23Config,
    UNetConfig,
    stage23_preset,
)
from dinar.nn.diffusion import (
    LatentInpainter,
    inpaint_texture,
    make_scheduler,
    resize_fill_mask,
)
from dinar.nn.vq import TextureVQModel, encode_texture
from dinar.texture.resize import shrink_texture
from dinar.train.ema import EMAShadow
from dinar.train.textures import (
    InpaintingDataset,
    TextureIndex,
    rgb_preview,
    split_with_people,
)
from dinar.train.trainer import TrainerSettings, make_trainer, prepare_run, write_report
from dinar.weights.networks import load_inpainter, load_vq, save_inpainter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DiffusionTrainConfig(ConfigMixin):
    """Optimization settings of the diffusion training."""

    steps: int = 50_000
    batch_size: int = 128
    lr: float = 1e-6
    """The paper's value. (Latent diffusion configs state a *base* rate of 1e-6 that their launcher
    multiplies by the batch size, 1.28e-4 at batch 128; if paper-scale training barely moves, that
    is the first thing to try.)"""
    weight_decay: float = 0.01
    ema_decay: float = 0.9999
    views: str = "all"
    """Input views for training: ``all`` or ``front`` (the paper's)."""
    val_every: int = 2000
    checkpoint_every: int = 2000
    val_samples: int = 4
    sample_steps: int = 50
    """DDIM steps M of the validation samples."""
    num_workers: int = 0
    seed: int = 0


DIFFUSION_TRAIN_PRESETS: dict[str, DiffusionTrainConfig] = {
    "paper": DiffusionTrainConfig(),
    "small": DiffusionTrainConfig(steps=50_000, batch_size=64, lr=5e-5, ema_decay=0.9999),
    "tiny": DiffusionTrainConfig(steps=2000, batch_size=32, lr=2e-4, ema_decay=0.999, val_every=500, checkpoint_every=500,
                                 sample_steps=25),
}
DIFFUSION_TRAIN_PRESETS["wide"] = dataclasses.replace(DIFFUSION_TRAIN_PRESETS["tiny"], steps=3000)
DIFFUSION_TRAIN_PRESETS["rgb"] = dataclasses.replace(DIFFUSION_TRAIN_PRESETS["tiny"], steps=2500, batch_size=16, lr=3e-4,
                                                     checkpoint_every=250)


# ----------------------------------------------------------------------------------------------------
# Latent pairs
# ----------------------------------------------------------------------------------------------------


@dataclass
class LatentPairs(Dataset):
    """Encoded training pairs: items ``{"cond": [6, s, s], "mask": [1, s, s], "target": [6, s, s]}``."""

    cond: Tensor  # [N, 6, s, s] T_c^j of each single-view texture
    mask: Tensor  # [N, 1, s, s] b(B_fill^j)
    target: Tensor  # [P, 6, s, s] T_c of each person's merged texture
    target_index: Tensor  # [N] int64 row of ``target`` for each pair

    def __len__(self) -> int:
        return self.cond.shape[0]

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"cond": self.cond[i], "mask": self.mask[i], "target": self.target[self.target_index[i]]}


@torch.no_grad()
def make_pairs(dataset: InpaintingDataset, encode: Callable[[Tensor], Tensor], target: Callable[[Tensor], Tensor],
               mask_size: int, batch_size: int = 32) -> LatentPairs:
    """Every pair of ``dataset``: the condition ``encode(partial)`` with B_fill at ``mask_size``², and the target
    ``target(merged)`` once per person (the two kinds of pairs below differ only in these functions)."""
    conds, masks, people = [], [], []
    for batch in DataLoader(dataset, batch_size=batch_size):
        partial = batch["partial"]
        conds.append(encode(partial))
        masks.append(resize_fill_mask(partial[:, FILL_CHANNEL : FILL_CHANNEL + 1], mask_size))
        people += list(batch["person_id"])
    order = sorted(set(people))
    merged = torch.stack([_merged_of(dataset, pid) for pid in order])
    targets = torch.cat([target(merged[i : i + batch_size]) for i in range(0, len(order), batch_size)])
    row = {pid: i for i, pid in enumerate(order)}
    return LatentPairs(torch.cat(conds), torch.cat(masks), targets, torch.tensor([row[p] for p in people]))


def encode_pairs(vq: TextureVQModel, dataset: InpaintingDataset, batch_size: int = 32) -> LatentPairs:
    """Encode every pair of ``dataset`` with the (frozen) VQ; each merged texture once."""
    device = next(vq.parameters()).device

    def latent(texture: Tensor) -> Tensor:
        return encode_texture(vq, texture.to(device)).cpu()

    return make_pairs(dataset, latent, latent, vq.config.latent_size, batch_size)


def colour_pairs(dataset: InpaintingDataset, size: int, batch_size: int = 32) -> LatentPairs:
    """The ``rgb``-space pairs (no VQ): condition = each single-view texture shrunk to ``size`` (21 channels),
    target = T_rgb of the person's merged texture at that size (:mod:`dinar.texture.resize`)."""
    return make_pairs(dataset, lambda t: shrink_texture(t, size),
                      lambda t: shrink_texture(t, size)[:, CHANNEL_GROUPS["rgb"]].contiguous(), size, batch_size)


def _merged_of(dataset: InpaintingDataset, pid: str) -> Tensor:
    from dinar.train.textures import read_merged

    return read_merged(dataset.index, pid)["merged"]


# ----------------------------------------------------------------------------------------------------
# Reports
# ----------------------------------------------------------------------------------------------------


def unknown_texels(partial: Tensor, covered: Tensor) -> Tensor:
    """``[B, 1, S, S]`` texels the merged ground truth has but the input view does not (B_fill = 0)."""
    return covered * (1 - (partial[:, FILL_CHANNEL : FILL_CHANNEL + 1] > 0.5).to(covered.dtype))


def mean_colour_fill(partial: Tensor) -> Tensor:
    """A no-network baseline: unknown texels get the mean of the known ones, channel by channel."""
    fill = (partial[:, FILL_CHANNEL : FILL_CHANNEL + 1] > 0.5).to(partial.dtype)
    mean = (partial * fill).sum((2, 3), keepdim=True) / fill.sum((2, 3), keepdim=True).clamp_min(1)
    return partial * fill + mean * (1 - fill)


def rgb_psnr_unknown(texture: Tensor, merged: Tensor, partial: Tensor, covered: Tensor) -> float:
    """PSNR (dB, RGB in [-1, 1]) of ``texture`` against the merged ground truth on :func:`unknown_texels`:
    one PSNR over all textures' unknown texels, as if the batch were one image."""
    rgb = CHANNEL_GROUPS["rgb"]
    return pooled_psnr(texture[:, rgb], merged[:, rgb], unknown_texels(partial, covered), peak=2.0)


def inpainting_grid(partial: Tensor, merged: Tensor, inpainted: Tensor, covered: Tensor | None = None) -> Tensor:
    """``[3, B·S, 3·S]`` in [0, 1]: one row per texture, input view | merged GT | inpainted (RGB channels)."""
    gt = merged.clone()
    if covered is not None:
        gt[:, FILL_CHANNEL : FILL_CHANNEL + 1] = covered
    inp = inpainted.clone()
    inp[:, FILL_CHANNEL : FILL_CHANNEL + 1] = 1.0  # show every texel the model produced
    rows = torch.cat([rgb_preview(partial), rgb_preview(gt), rgb_preview(inp)], dim=-1)
    return torch.cat(list(rows), dim=-2)


# ----------------------------------------------------------------------------------------------------
# Lightning module
# ----------------------------------------------------------------------------------------------------


class DiffusionLightning(pl.LightningModule):
    """ε_θ, its EMA and the DDPM schedule under Lightning (module docstring). The frozen VQ and the
    validation textures are kept outside the module's state (they are not part of this run's weights)."""

    def __init__(self, config: Stage23Config, train: DiffusionTrainConfig, latent_scale: float = 1.0, latent_bound: float = 0.0,
                 vq: TextureVQModel | None = None, val_textures: dict[str, Tensor] | None = None):
        super().__init__()
        self.config = config
        self.train_config = train
        self.model = LatentInpainter(config.unet)
        self.model.latent_scale.fill_(latent_scale)
        self.model.latent_bound.fill_(latent_bound)
        self.ema = EMAShadow(self.model, train.ema_decay)
        self.scheduler = make_scheduler(config.schedule, "ddpm")
        self._aux = {"vq": vq, "val": val_textures}
        self._val_losses: list[Tensor] = []

    def configure_optimizers(self):
        t = self.train_config
        return torch.optim.AdamW(self.model.parameters(), lr=t.lr, weight_decay=t.weight_decay)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss = diffusion_loss(self.model, self.scheduler, batch["target"], batch["cond"], batch["mask"],
                              condition_dropout=self.config.unet.condition_dropout)
        self.log("train/loss", loss.detach())
        self.log("loss", loss.detach(), prog_bar=True, logger=False)
        return loss

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """The optimizer step, then the EMA step: before any callback of the batch, so a checkpoint (and an
        export) at step N holds the average of N updates."""
        super().optimizer_step(*args, **kwargs)
        self.ema.update(self.model)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["ema"] = self.ema.state_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "ema" not in checkpoint:
            raise ValueError("the checkpoint holds no EMA state (an older dinar kept it among the weights); its "
                             "model.safetensors is usable, but the run cannot be resumed: start a new one with another --out")
        self.ema.load_state_dict(checkpoint["ema"])

    def on_validation_epoch_start(self) -> None:
        self._val_losses = []

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        g = torch.Generator().manual_seed(1000 + batch_idx)  # the same noise and steps at every validation
        B = batch["cond"].shape[0]
        t = torch.linspace(0, self.scheduler.config.num_train_timesteps - 1, B).long().to(self.device)
        loss = diffusion_loss(self.ema.shadow, self.scheduler, batch["target"], batch["cond"], batch["mask"], generator=g, timesteps=t)
        self._val_losses.append(loss.detach())

    def on_validation_epoch_end(self) -> None:
        if self._val_losses:
            self.log("val/loss_ema", torch.stack(self._val_losses).mean(), sync_dist=True)
        vq, val = self._aux["vq"], self._aux["val"]
        if (vq is None and self.config.unet.space != "rgb") or val is None or not self.trainer.is_global_zero:
            return
        if vq is not None:
            vq.to(self.device)
        partial, merged, covered = (val[k].to(self.device) for k in ("partial", "merged", "covered"))
        sampler = make_scheduler(self.config.schedule, "ddim")
        g = torch.Generator().manual_seed(0)
        inpainted = inpaint_texture(vq, self.ema.shadow, sampler, partial, self.train_config.sample_steps, g)
        value = rgb_psnr_unknown(inpainted, merged, partial, covered)
        self.log("val/psnr_unknown_rgb", value, rank_zero_only=True)
        self.log("val_psnr", value, prog_bar=True, logger=False, rank_zero_only=True)
        if self.logger is not None and hasattr(self.logger.experiment, "add_image"):
            self.logger.experiment.add_image("val/input_gt_inpainted", inpainting_grid(partial, merged, inpainted, covered).cpu(), self.global_step)

    def export_weights(self, run_dir: Path) -> None:
        save_inpainter(self.ema.shadow, self.config.schedule, run_dir, {"step": self.global_step}, vq=self._aux["vq"])


def mirror_index_of(index: TextureIndex, size: int) -> Tensor:
    """The front/back gather of :attr:`~dinar.nn.config_stage23.UNetConfig.mirror_map` at ``size``² for the textures of
    ``index``: on the atlas of the stage 1 that made them (else the atlas they name) and its body model, in the rest
    pose (:func:`dinar.texture.fills.mirror_texels`). Made once, here; it travels in the inpainter's weights."""
    from dinar.body import load_body_model
    from dinar.texture.fills import mirror_texels, texel_surface
    from dinar.weights.networks import read_atlas, training_atlas

    stage1 = index.info.get("stage1")
    if stage1 and Path(stage1).is_dir():
        atlas = read_atlas(stage1)
        body = load_body_model(atlas.body_model)
        face_uvs = atlas.face_uvs
    else:
        body = load_body_model("anny")
        face_uvs = training_atlas(body, index.info.get("atlas", "front"))
    return mirror_texels(texel_surface(body, face_uvs, size))


def _read_model(model: dict[str, Any]) -> dict[str, Any]:
    """A ``run.json`` ``model`` record as today's configs write it (fields added since take their defaults)."""
    return {"unet": UNetConfig.from_dict(model["unet"]).to_dict(), "schedule": NoiseScheduleConfig.from_dict(model["schedule"]).to_dict()}


def _val_textures(textures: str | Path, split: str, n: int) -> dict[str, Tensor] | None:
    """The front views of the first ``n`` people of ``split`` with their merged ground truth."""
    if n <= 0:
        return None
    dataset = InpaintingDataset(textures, split, views="front")
    items = [dataset[i] for i in range(min(n, len(dataset)))]
    return {k: torch.stack([it[k] for it in items]) for k in ("partial", "merged", "covered")}


def train_diffusion(
    textures: str | Path,
    vq_run: str | Path | None,
    out: str | Path,
    preset: str = "tiny",
    train: DiffusionTrainConfig | None = None,
    resume: bool = False,
    device: str = "auto",
    devices: int = 1,
    precision: str = "32-true",
    progress: bool = True,
    unet: dict[str, Any] | None = None,
) -> Path:
    """Train the latent inpainter of ``preset`` on a texture folder with a trained VQ (module docstring); an
    ``rgb``-space preset diffuses the texture's colours and takes no VQ (``vq_run`` None). ``unet``: fields of
    the preset's :class:`~dinar.nn.config_stage23.UNetConfig` to change (``position_map``, ``mirror_map``, ``condition_dropout``)."""
    from dinar.utils import resolve_device

    config = stage23_preset(preset)
    if unet:
        config = dataclasses.replace(config, unet=dataclasses.replace(config.unet, **unet))
    train = train or DIFFUSION_TRAIN_PRESETS[preset]
    if train.views not in ("all", "front"):
        raise ValueError(f"views must be 'all' or 'front', got {train.views!r}")
    encode_device = resolve_device(device)
    if encode_device.type == "cuda":  # under DDP each process encodes on its own GPU
        encode_device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    index = TextureIndex.read(textures)
    if config.unet.space == "rgb":
        if vq_run is not None:
            raise ValueError(f"preset {preset!r} diffuses the texture's colours and takes no VQ: leave out --vq")
        if index.texture_size % config.unet.latent_size:
            raise ValueError(f"{textures}: {index.texture_size}² textures cannot be shrunk to the preset's {config.unet.latent_size}²")
        vq = None
    else:
        if vq_run is None:
            raise ValueError(f"preset {preset!r} diffuses in a VQ latent: pass the VQ run (--vq)")
        vq = load_vq(vq_run, encode_device).requires_grad_(False)
        if (vq.config.latent_channels, vq.config.latent_size) != (config.unet.latent_channels, config.unet.latent_size):
            raise ValueError(f"{vq_run}: the VQ latent is {vq.config.latent_channels} × {vq.config.latent_size}², "
                             f"preset {preset!r} expects {config.unet.latent_channels} × {config.unet.latent_size}²")
        config = dataclasses.replace(config, vq=vq.config, texture_size=vq.config.texture_size)
    out = Path(out)
    ckpt = prepare_run(out, {"stage": "diffusion", "preset": preset, "model": {"unet": config.unet.to_dict(), "schedule": config.schedule.to_dict()},
                             "train": train.to_dict(), "data": {"textures": str(Path(textures).resolve()), "vq": None if vq_run is None else str(Path(vq_run).resolve())}},
                       resume=resume, read_model=_read_model)
    pl.seed_everything(train.seed, workers=True, verbose=False)
    val_split = split_with_people(index, "val")
    if vq is None:
        size = config.unet.latent_size
        train_pairs = colour_pairs(InpaintingDataset(textures, "train", views=train.views), size)
        val_pairs = colour_pairs(InpaintingDataset(textures, val_split, views="front"), size)
    else:
        train_pairs = encode_pairs(vq, InpaintingDataset(textures, "train", views=train.views))
        val_pairs = encode_pairs(vq, InpaintingDataset(textures, val_split, views="front"))
    latent_scale = float(1.0 / train_pairs.target.std().clamp_min(1e-6))
    latent_bound = float(train_pairs.target.abs().max()) * latent_scale
    logger.info("%d training pairs, latent scale %.4g, bound %.4g", len(train_pairs), latent_scale, latent_bound)
    module = DiffusionLightning(config, train, latent_scale, latent_bound, vq=vq, val_textures=_val_textures(textures, val_split, train.val_samples))
    if config.unet.mirror_map:
        module.model.mirror_index.copy_(mirror_index_of(index, config.unet.latent_size))
    train_loader = DataLoader(train_pairs, batch_size=train.batch_size, shuffle=True, drop_last=len(train_pairs) >= train.batch_size,
                              num_workers=train.num_workers)
    val_loader = DataLoader(val_pairs, batch_size=train.batch_size, shuffle=False)
    trainer = make_trainer(TrainerSettings(
        run_dir=out, max_steps=train.steps, checkpoint_every=train.checkpoint_every, val_every=min(train.val_every, train.steps),
        device=device, devices=devices, precision=precision, progress=progress,
    ))
    trainer.fit(module, train_loader, val_loader, ckpt_path=str(ckpt) if ckpt else None)
    return out


@torch.no_grad()
def inpainting_report(
    vq: TextureVQModel | None,
    model: LatentInpainter,
    schedule: NoiseScheduleConfig,
    textures: str | Path,
    split: str = "test",
    steps: int = 50,
    sampler: str = "ddim",
    seed: int = 0,
    batch_size: int = 8,
) -> dict[str, Any]:
    """Front view → inpainted texture on held-out people, against the eq.-5 merge of all their views:
    PSNR of the RGB channels on the texels the front view does not cover, for the inpainting and for
    two no-inpainting baselines (unknown texels left at 0, and filled with the mean known colour)."""
    index = TextureIndex.read(textures)
    dataset = InpaintingDataset(textures, split_with_people(index, split), views="front")
    device = next(model.parameters()).device
    scheduler = make_scheduler(schedule, sampler)  # type: ignore[arg-type]
    g = torch.Generator().manual_seed(seed)
    results = {"inpainted": [], "zeros": [], "mean_colour": []}
    weights = []
    for batch in DataLoader(dataset, batch_size=batch_size):
        partial, merged, covered = (batch[k].to(device) for k in ("partial", "merged", "covered"))
        inpainted = inpaint_texture(vq, model, scheduler, partial, steps, g)
        for name, tex in (("inpainted", inpainted), ("zeros", partial), ("mean_colour", mean_colour_fill(partial))):
            results[name].append(rgb_psnr_unknown(tex, merged, partial, covered))
        weights.append(partial.shape[0])
    total = sum(weights)
    return {"people": len(dataset), "steps": steps, "sampler": sampler,
            "psnr_unknown_rgb": {k: round(sum(v * w for v, w in zip(vals, weights)) / total, 3) for k, vals in results.items()}}


def train_diffusion_and_report(textures: str | Path, vq_run: str | Path | None, out: str | Path, preset: str = "tiny",
                               train: DiffusionTrainConfig | None = None, **options: Any) -> dict[str, Any]:
    """``dinar train diffusion``: :func:`train_diffusion` (``options``: its ``resume``, ``device``,
    ``devices``, ``precision``, ``progress``, ``unet``), then :func:`inpainting_report` of the released (EMA)
    weights on the ``test`` people, written to ``RUN/report.json`` and returned."""
    train = train or DIFFUSION_TRAIN_PRESETS[preset]
    run = train_diffusion(textures, vq_run, out, preset, train, **options)
    vq = None if vq_run is None else load_vq(vq_run)
    model, schedule = load_inpainter(run, vq=vq)
    report = inpainting_report(vq, model, schedule, textures, "test", train.sample_steps)
    write_report(run, report)
    return report
