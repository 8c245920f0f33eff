"""Stage 1: train E, G and the renderer θ end to end on pairs of frames of one person (paper 3.1, 4.1).

Each step takes an input frame and a target frame of the same person (another pose and camera), builds
the neural texture T from the input (:class:`dinar.nn.avatar_model.AvatarModel`), renders it in the
target view and minimizes (paper eq. 4, 4.1)::

    2.2·L2 + 1·LPIPS(random crop of half the image size) + 1·Dice(mask) + 0.01·Adv
      + 0.1·(L2 + LPIPS) on the face box                                   generator step
    softplus(D(fake)) + softplus(−D(real)) + (0.1 / 2)·16·R1 every 16 steps  discriminator step

with Adam (lr 2e-3, betas (0, 0.99) as StyleGAN2; D's lr and betas corrected for the lazy R1 as in
StyleGAN2), batch 4 per process, 100k steps in ``paper``. Images are compared as composites over a
constant background: the render ``rgb·mask + bg·(1 − mask)`` against the target matted with its own
segmentation, so the background of the photos never enters the loss.

On Lightning: manual optimization (two optimizers), DDP across GPUs and nodes (``--devices``,
``--num-nodes``; BatchNorm becomes SyncBatchNorm on GPUs), bf16/fp16 mixed precision on GPUs,
TensorBoard logs (tensorboardX), periodic validation on held-out people, ``RUN/checkpoints/last.safetensors``
for ``--resume`` and the exported inference artifact ``RUN/model.safetensors`` + ``RUN/config.json``
(the one trainer set-up, :mod:`dinar.train.trainer`). The loss is :func:`dinar.losses.stage1.generator_losses`.

Steps: Lightning's ``global_step`` counts optimizer steps, two per iteration here (G and D), so an
iteration is ``global_step // 2`` and ``--steps N`` means N iterations (N generator updates).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from dinar.body import load_body_model
from dinar.config import ConfigMixin
from dinar.losses import (
    LPIPS,
    body_patches,
    d_logistic_loss,
    generator_losses,
    l2,
    psnr,
    r1_penalty,
)
from dinar.nn import Discriminator, preset
from dinar.nn.avatar_model import (
    AvatarModel,
    AvatarModelConfig,
    avatar_model_from_body,
    crop_patches,
    no_autocast,
)
from dinar.nn.renderer import composite
from dinar.train import common
from dinar.train.stage1_data import Stage1DataModule
from dinar.train.trainer import TrainerSettings, make_trainer, prepare_run
from dinar.weights.format import WEIGHTS_FILE, load_network
from dinar.weights.networks import (
    ATLAS_FILE,
    DISCRIMINATOR_DIR,
    DISCRIMINATOR_KIND,
    STAGE1_KIND,
    read_atlas,
    save_stage1,
    stage1_dir,
    training_atlas,
)

log = logging.getLogger(__name__)

MODEL_KIND = STAGE1_KIND


# ---------------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stage1TrainConfig(ConfigMixin):
    """How stage 1 is trained; ``model`` decides the networks (saved with the exported weights)."""

    model: AvatarModelConfig = field(default_factory=AvatarModelConfig)
    steps: int = 100_000
    """Iterations (one G and one D update each)."""
    batch_size: int = 4
    """Per process; the global batch is batch_size × devices × nodes."""
    lr: float = 2e-3
    betas: tuple[float, float] = (0.0, 0.99)
    l2_weight: float = 2.2
    lpips_weight: float = 1.0
    dice_weight: float = 1.0
    adv_weight: float = 0.01
    r1_weight: float = 0.1
    r1_every: int = 16
    face_weight: float = 0.1
    """Weight of L2 and of LPIPS on the face crop (each)."""
    face_size: int = 0
    """Side of the resized face crop; 0 = image_size // 4."""
    lpips_crop: int = 0
    """Side of the random LPIPS crop; 0 = image_size // 2 (256 of 512 in the paper)."""
    lpips_net: str = "vgg"
    patch_face_share: float = 0.25
    """With patches (a D smaller than the image, ``hd``): the share of patches centred on the face, the rest
    on random pixels of the person."""
    init_from: str = ""
    """A stage-1 export (or model folder) whose networks start this run: every weight must have the same
    shape (``hd`` starts from a trained ``tiny``). Empty: random initialisation."""
    background: float = 1.0
    """Constant background of the composites in [-1, 1] (1 = white, as the synthetic photos)."""
    seed: int = 0
    num_workers: int = 2
    log_every: int = 50
    image_every: int = 1000
    val_every: int = 5000
    val_batches: int = 16
    checkpoint_every: int = 5000

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1 or self.r1_every < 1:
            raise ValueError("steps, batch_size and r1_every must be >= 1")
        if self.lpips_net not in ("vgg", "alex"):
            raise ValueError(f"lpips_net must be 'vgg' or 'alex', got {self.lpips_net!r}")

    @property
    def image_size(self) -> int:
        return self.model.image_size

    @property
    def patch_size(self) -> int:
        """Side of the images the losses see: the patch θ renders (``hd``), else the whole image."""
        return self.model.networks.patch_size

    @property
    def patches(self) -> bool:
        return self.patch_size < self.image_size

    @property
    def resolved_face_size(self) -> int:
        return self.face_size or max(16, min(self.image_size // 4, self.patch_size))

    @property
    def resolved_lpips_crop(self) -> int:
        return min(self.lpips_crop or self.image_size // 2, self.patch_size)


_SCHEDULES = {
    # steps, log_every, image_every, val_every, checkpoint_every
    "paper": (100_000, 50, 1000, 5000, 5000),
    "small": (50_000, 50, 1000, 2500, 2500),
    "tiny": (2_000, 10, 100, 200, 100),
    "hd": (2_000, 10, 100, 500, 100),
}


def stage1_train_preset(name: str, **overrides: Any) -> Stage1TrainConfig:
    """The training config of a network preset (``paper``: 100k steps, batch 4, as in paper 4.1).

    ``overrides`` set fields of :class:`Stage1TrainConfig`, or of :class:`AvatarModelConfig` for its
    keys (``networks`` — a custom :class:`~dinar.nn.config.Stage1Config` —, ``texture``, ``occlusion``,
    ``atlas``, ``body_model``, ``occlusion_band``, ``use_person_mask``).
    """
    steps, log_every, image_every, val_every, ckpt_every = _SCHEDULES[preset(name).name]
    model_keys = {f.name for f in dataclasses.fields(AvatarModelConfig)}
    model_over = {k: overrides.pop(k) for k in list(overrides) if k in model_keys}
    model_over.setdefault("networks", preset(name))
    model = AvatarModelConfig(**model_over)
    base = {"model": model, "steps": steps, "log_every": log_every, "image_every": image_every, "val_every": val_every, "checkpoint_every": ckpt_every}
    base.update(overrides)
    return Stage1TrainConfig(**base)


# ---------------------------------------------------------------------------------------------------
# The LightningModule
# ---------------------------------------------------------------------------------------------------
class Stage1Module(L.LightningModule):
    """E, G, θ (``self.model``) and D, trained with manual optimization (module docstring)."""

    def __init__(self, config: Stage1TrainConfig | Mapping[str, Any], face_uvs: Tensor | None = None):
        """``face_uvs``: the UV atlas to train on ([F, 3, 2]); None: the one a model folder already holds
        for this body and atlas name (:func:`dinar.weights.networks.training_atlas`), else computed."""
        super().__init__()
        if isinstance(config, Mapping):
            config = Stage1TrainConfig.from_dict(config)
        self.config = config
        self.save_hyperparameters({"config": config.to_dict()})  # plain types: loads with weights_only=True
        self.automatic_optimization = False
        body = load_body_model(config.model.body_model)
        if face_uvs is None:
            face_uvs = training_atlas(body, config.model.atlas)
        self.model: AvatarModel = avatar_model_from_body(config.model, body, face_uvs)
        self.discriminator = Discriminator(config.model.networks.discriminator)
        if config.init_from:
            self.init_weights(Path(config.init_from))
        # Shared, frozen assets: not submodules, so they stay out of checkpoints and DDP.
        object.__setattr__(self, "_body", body)
        object.__setattr__(self, "_lpips_loss", None)
        object.__setattr__(self, "_lpips_metric", None)
        self.crop_generator = None

    def init_weights(self, source: Path) -> None:
        """Start from another stage-1 export's E, G, θ and D (``init_from``): every weight must have the shape here."""
        folder = stage1_dir(source)
        state, _, _ = load_network(folder, STAGE1_KIND)
        try:
            self.model.load_state_dict(state, strict=True)
            if (folder / DISCRIMINATOR_DIR / WEIGHTS_FILE).is_file():
                self.discriminator.load_state_dict(load_network(folder / DISCRIMINATOR_DIR, DISCRIMINATOR_KIND)[0], strict=True)
        except RuntimeError as err:
            raise ValueError(f"{folder}: its networks do not have this preset's shapes, so it cannot start this run ({str(err).splitlines()[0]})") from None
        log.info("stage 1: networks initialised from %s", folder)

    # -- assets on the right device ------------------------------------------------------------
    def body(self):
        if self._body.faces.device != self.device:
            self._body.to(self.device)
        return self._body

    def lpips_loss(self) -> LPIPS:
        if self._lpips_loss is None:
            object.__setattr__(self, "_lpips_loss", LPIPS(self.config.lpips_net))
        return self._lpips_loss.to(self.device)

    def lpips_metric(self) -> LPIPS:
        """LPIPS-AlexNet, the usual choice for reporting (the loss uses VGG, as the official code)."""
        if self._lpips_metric is None:
            object.__setattr__(self, "_lpips_metric", LPIPS("alex"))
        return self._lpips_metric.to(self.device)

    @property
    def iteration(self) -> int:
        return self.global_step // 2

    # -- optimizers ------------------------------------------------------------------------------
    def configure_optimizers(self):
        c = self.config
        opt_g = torch.optim.Adam(self.model.parameters(), lr=c.lr, betas=c.betas)
        ratio = c.r1_every / (c.r1_every + 1)  # StyleGAN2 lazy regularization
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=c.lr * ratio, betas=(c.betas[0] ** ratio, c.betas[1] ** ratio))
        return [opt_g, opt_d]

    # -- one iteration ---------------------------------------------------------------------------
    def prepare(self, frame: Mapping[str, Any]):
        """Resize a batched frame to the model's size and pose its body: (frame, BodyView, matted target)."""
        frame = common.resize_frame(frame, self.config.image_size)
        view = common.frame_view(self.body(), frame)
        matted = composite(frame["rgb"], frame["mask"], self.config.background)
        return frame, view, matted

    def render_pair(self, batch: Mapping[str, Any], patches: bool = False):
        """Input and target frames, the model's output and the (fake, real) composites; with ``patches``
        (training ``hd``) θ renders one patch of each target (:func:`dinar.losses.crops.body_patches`) and
        the target's image and mask are cut to it."""
        inp, in_view, _ = self.prepare(batch["input"])
        tgt, tgt_view, real = self.prepare(batch["target"])
        corners, tgt, real = self.target_patches(tgt, tgt_view, real) if patches else (None, tgt, real)
        out = self.model(inp["rgb"], inp["mask"], in_view, tgt_view, patches=corners)
        fake = out.render.composite(self.config.background)
        return inp, tgt, out, fake, real

    def target_patches(self, tgt: Mapping[str, Any], tgt_view, real: Tensor) -> tuple[Tensor, dict[str, Any], Tensor]:
        """Corners [B, 2] of one patch per target (:func:`dinar.losses.crops.body_patches`), and the target
        frame's image and mask and the matted target cut to them."""
        c = self.config
        corners = body_patches(tgt["mask"], c.patch_size, self.crop_generator, self.model.face_boxes(tgt_view), c.patch_face_share)
        size = c.patch_size
        cut = {**tgt, "rgb": crop_patches(tgt["rgb"], corners, size), "mask": crop_patches(tgt["mask"], corners, size)}
        return corners, cut, crop_patches(real, corners, size)

    def training_step(self, batch, batch_idx):
        c = self.config
        it = self.iteration
        opt_g, opt_d = self.optimizers()
        inp, tgt, out, fake, real = self.render_pair(batch, patches=c.patches)

        # Generator step: E, G, θ.
        self.toggle_optimizer(opt_g)
        fake_score = self.discriminator(fake).score if c.adv_weight > 0 else None
        losses = generator_losses(
            fake, real, out.render.mask, tgt["mask"], out.target.face_box, self.lpips_loss(), c, fake_score, self.crop_generator
        )
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(losses.total)
        opt_g.step()
        self.untoggle_optimizer(opt_g)

        # Discriminator step, with lazy R1 every r1_every iterations.
        self.toggle_optimizer(opt_d)
        real_d = real.detach()
        d_loss = d_logistic_loss(self.discriminator(real_d).score, self.discriminator(fake.detach()).score)
        logs = {f"train/{k}": v.detach() for k, v in losses.as_dict().items()}
        logs["train/d_loss"] = d_loss.detach()
        if it % c.r1_every == 0:
            real_r1 = real_d.float().requires_grad_(True)
            with no_autocast(self.device):
                r1 = r1_penalty(self.discriminator(real_r1).score, real_r1)
            d_loss = d_loss + (c.r1_weight / 2) * c.r1_every * r1
            logs["train/r1"] = r1.detach()
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        opt_d.step()
        self.untoggle_optimizer(opt_d)

        self.log_dict(logs, prog_bar=False, batch_size=fake.shape[0])
        self.log("loss", losses.total.detach(), prog_bar=True, logger=False, batch_size=fake.shape[0])
        if c.image_every and it % c.image_every == 0:
            self.log_images("train/images", inp, tgt, out, fake, it)
        return losses.total.detach()

    # -- validation ------------------------------------------------------------------------------
    def validation_step(self, batch, batch_idx):
        inp, tgt, out, fake, real = self.render_pair(batch)
        n = fake.shape[0]
        self.log("val/psnr", psnr(fake, real, peak=2.0).mean(), sync_dist=True, batch_size=n)
        self.log("val/lpips", self.lpips_metric()(fake.float(), real.float()).mean(), sync_dist=True, batch_size=n)
        self.log("val/l2", l2(fake.float(), real.float()), sync_dist=True, batch_size=n)
        if batch_idx == 0:
            self.log_images("val/images", inp, tgt, out, fake, self.iteration)

    def log_images(self, tag: str, inp, tgt, out, fake, step: int) -> None:
        """input | target (matted) | render | rendered mask, to TensorBoard (rank 0)."""
        if self.logger is None or self.global_rank != 0 or not hasattr(self.logger.experiment, "add_image"):
            return
        real = composite(tgt["rgb"], tgt["mask"], self.config.background)
        if real.shape[-1] != inp["rgb"].shape[-1]:  # patches: shown at the input's size
            real, fake, mask = (F.interpolate(x, size=inp["rgb"].shape[-2:], mode="nearest") for x in (real, fake, out.render.mask))
        else:
            mask = out.render.mask
        grid = common.image_grid([inp["rgb"], real, fake, mask], max_rows=4)
        self.logger.experiment.add_image(tag, grid, step)

    # -- fit start and export --------------------------------------------------------------------
    def on_fit_start(self) -> None:
        self.crop_generator = torch.Generator().manual_seed(self.config.seed + self.global_rank)

    def export_weights(self, run_dir: Path) -> None:
        """Write ``RUN/model.safetensors`` + ``RUN/config.json`` (called by the trainer's checkpoint callback on rank 0)."""
        export_avatar_model(self.model, run_dir, train_config=self.config, step=self.iteration, discriminator=self.discriminator)


# ---------------------------------------------------------------------------------------------------
# The exported inference artifact
# ---------------------------------------------------------------------------------------------------
def export_avatar_model(
    model: AvatarModel,
    directory: str | Path,
    train_config: Stage1TrainConfig | None = None,
    step: int | None = None,
    discriminator: torch.nn.Module | None = None,
) -> Path:
    """The stage-1 export (:func:`dinar.weights.networks.save_stage1`: E, G, θ, the atlas, optionally D)
    with the training config and iteration recorded in ``config.json``."""
    extra: dict[str, Any] = {}
    if train_config is not None:
        extra["train_config"] = train_config.to_dict()
    if step is not None:
        extra["step"] = int(step)
    return save_stage1(model, directory, extra, discriminator)


# ---------------------------------------------------------------------------------------------------
# Training entry point
# ---------------------------------------------------------------------------------------------------
@dataclass
class RunOptions:
    """Where and on what a run trains (not part of the model)."""

    data_dir: Path
    run_dir: Path
    device: str = "auto"
    devices: int = 1
    num_nodes: int = 1
    precision: str = "auto"
    resume: bool = False
    max_minutes: float | None = None
    progress: bool = True


def train_stage1(config: Stage1TrainConfig, options: RunOptions) -> Stage1Module:
    """Train (or resume) stage 1 into ``options.run_dir``; returns the trained module."""
    run_dir = Path(options.run_dir)
    info = {"stage": "avatar", "preset": config.model.networks.name, "model": config.model.to_dict(), "train": config.to_dict(),
            "data": {"dataset": str(Path(options.data_dir).resolve())}}
    ckpt = prepare_run(run_dir, info, resume=options.resume)

    L.seed_everything(config.seed, workers=True, verbose=False)
    data = Stage1DataModule(options.data_dir, config.batch_size, config.num_workers, config.val_batches, config.model.body_model)
    atlas = read_atlas(run_dir).face_uvs if (ckpt is not None and (run_dir / ATLAS_FILE).is_file()) else None
    module = Stage1Module(config, atlas)  # a resumed run keeps the atlas it started with
    trainer = make_trainer(TrainerSettings(
        run_dir=run_dir, max_steps=2 * config.steps, checkpoint_every=2 * config.checkpoint_every,
        val_every=config.val_every if data.has_val else None, val_batches=config.val_batches, log_every=config.log_every,
        device=options.device, devices=options.devices, num_nodes=options.num_nodes, precision=options.precision,
        max_minutes=options.max_minutes, progress=options.progress,
        # G's step leaves D unused and D's step leaves E, G, θ unused: DDP must look for unused parameters.
        find_unused_parameters=True, sync_batchnorm=True,
    ))
    trainer.fit(module, datamodule=data, ckpt_path=str(ckpt) if ckpt is not None else None)
    if trainer.global_rank == 0:
        log.info("stage 1: %d iterations; exported %s", module.iteration, run_dir / WEIGHTS_FILE)
    return module
