"""End-to-end fine-tuning of stage 1 through the frozen texture VQ (paper 3.3, 4.1).

"After the pretraining of VQGAN, the pipeline is finetuned end-to-end in order to adapt the renderer
to VQGAN decompression artifacts in the neural texture T_res" (20k steps in the paper). Each step
is a stage-1 step (:class:`~dinar.train.stage1.Stage1Module`: same losses, discriminator, R1, Adam
settings) except that the texture the renderer sees went through the VQ::

    T     = AvatarModel.build_texture(input)                 E, G (trained)
    T_vq  = D_VQ(quantize(E_VQ(T)))                          VQ frozen; straight-through quantizer,
                                                             so gradients reach E and G
    T_vq ← T_vq·(1 − B_fill) + T·B_fill                      optional (``keep_known``, paper eq. 6)
    render = θ(R(T_vq, target view))                         θ (trained)

E, G, θ train with the stage-1 optimiser at ``lr_scale`` × its learning rate (D too, lazily
corrected as in stage 1); the VQ is frozen (no optimiser holds it, ``requires_grad`` off, eval mode).

The output folder is a stage-1 export (``model.safetensors`` + ``config.json`` +
``discriminator/``, :func:`~dinar.train.stage1.export_avatar_model`) to be used with the
same VQ; ``finetune.json`` records which stage-1 and VQ runs it came from.

``dinar train finetune --data DIR --stage1 RUN --vq RUN_VQ --out RUN [--steps N] [--max-minutes M]``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
from torch import Tensor

from dinar.digests import sha256_file
from dinar.nn.avatar_model import TEXTURE_CHANNELS, AvatarOutput
from dinar.nn.config_stage23 import FILL_CHANNEL
from dinar.nn.vq import TextureVQModel
from dinar.texture.resize import grow_texture, shrink_texture
from dinar.train.stage1 import (
    Stage1Module,
    Stage1TrainConfig,
    stage1_train_preset,
)
from dinar.train.stage1_data import Stage1DataModule
from dinar.train.trainer import TrainerSettings, make_trainer
from dinar.weights.format import WEIGHTS_FILE, load_network
from dinar.weights.networks import (
    DISCRIMINATOR_DIR,
    STAGE1_KIND,
    load_discriminator,
    load_vq,
    read_atlas,
)

log = logging.getLogger(__name__)

FINETUNE_FILE = "finetune.json"
FINETUNE_STEPS = 20_000
"""The paper's end-to-end fine-tuning length (4.1)."""


# ---------------------------------------------------------------------------------------------------
# The texture the renderer sees
# ---------------------------------------------------------------------------------------------------
def through_vq(vq: TextureVQModel, texture: Tensor, keep_known: bool = False) -> Tensor:
    """T [B, 21, S, S] → T_vq = D_VQ(quantize(E_VQ(T))), differentiable w.r.t. ``texture``.

    diffusers' quantizer is straight-through (``z + (z_q − z).detach()``), so the gradient of T_vq
    flows through the decoder and the encoder back to T. ``keep_known`` keeps the texels of T where
    B_fill is set (paper eq. 6: ``T_vq·(1 − B_fill) + T·B_fill``).
    """
    z_q, _, _ = vq.quantize(vq.encode(shrink_texture(texture, vq.config.texture_size)))
    decoded = grow_texture(vq.decode(z_q).to(texture.dtype), texture.shape[-1])  # a coarser VQ (hd): dinar.texture.resize
    if keep_known:
        fill = texture[:, FILL_CHANNEL : FILL_CHANNEL + 1]
        decoded = decoded * (1 - fill) + texture * fill
    return decoded


class FinetuneModule(Stage1Module):
    """Stage-1 training with the texture passed through a frozen VQ before rendering (module docstring).

    The VQ is held outside the module's submodules (like the body model), so it is in no optimiser,
    no checkpoint and no DDP bucket, and Lightning's ``train()`` leaves it in eval mode.
    """

    def __init__(self, config: Stage1TrainConfig | Mapping[str, Any], vq: TextureVQModel, keep_known: bool = False,
                 face_uvs: Tensor | None = None):
        super().__init__(config, face_uvs)
        if vq.config.texture_size != self.config.model.texture_size or vq.config.channels != TEXTURE_CHANNELS:
            raise ValueError(
                f"the VQ takes [{vq.config.channels}, {vq.config.texture_size}²] textures, stage 1 makes "
                f"[{TEXTURE_CHANNELS}, {self.config.model.texture_size}²]"
            )
        vq.eval().requires_grad_(False)
        object.__setattr__(self, "_vq", vq)
        self.keep_known = keep_known

    def vq(self) -> TextureVQModel:
        if self._vq.codebook.device != self.device:
            self._vq.to(self.device)
        return self._vq

    def render_pair(self, batch: Mapping[str, Any], patches: bool = False):
        inp, in_view, _ = self.prepare(batch["input"])
        tgt, tgt_view, real = self.prepare(batch["target"])
        corners, tgt, real = self.target_patches(tgt, tgt_view, real) if patches else (None, tgt, real)
        texture = self.model.build_texture(inp["rgb"], inp["mask"], in_view)
        seen = through_vq(self.vq(), texture.texture, self.keep_known)
        # out.texture.texture is the texture the renderer saw (T_vq); T itself is not kept.
        out = AvatarOutput(texture=dataclasses.replace(texture, texture=seen), target=self.model.render(seen, tgt_view, corners))
        fake = out.render.composite(self.config.background)
        return inp, tgt, out, fake, real


# ---------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------
def _stage1_train_config(stage1_dir: Path) -> tuple[Stage1TrainConfig, dict[str, Tensor], dict[str, Any]]:
    """The training config a stage-1 export was trained with (its ``train_config``, else the defaults of
    its networks), its weights and its config document."""
    from dinar.nn.avatar_model import AvatarModelConfig

    state, config_dict, doc = load_network(stage1_dir, STAGE1_KIND)
    model = AvatarModelConfig.from_dict(config_dict)
    if "train_config" in doc:
        train = Stage1TrainConfig.from_dict(doc["train_config"])
        train = dataclasses.replace(train, model=model)
    else:
        train = dataclasses.replace(stage1_train_preset("tiny"), model=model)
    return train, state, doc


def finetune_stage1(
    data_dir: str | Path,
    stage1_dir: str | Path,
    vq_dir: str | Path,
    out_dir: str | Path,
    steps: int = FINETUNE_STEPS,
    batch_size: int = 4,
    lr_scale: float = 0.1,
    device: str = "auto",
    max_minutes: float | None = None,
    seed: int = 0,
    keep_known: bool = False,
    num_workers: int = 2,
    precision: str = "auto",
    progress: bool = True,
) -> Path:
    """Fine-tune the stage-1 export in ``stage1_dir`` through the VQ of ``vq_dir`` on the frame pairs of
    ``data_dir`` for ``steps`` iterations (one G and one D update each); returns ``out_dir``, a stage-1
    export (model, config, discriminator) plus ``finetune.json``."""
    if steps < 1 or batch_size < 1 or lr_scale <= 0:
        raise ValueError("steps and batch_size must be >= 1 and lr_scale > 0")
    stage1_dir, vq_dir, out_dir = Path(stage1_dir), Path(vq_dir), Path(out_dir)
    if (out_dir / WEIGHTS_FILE).exists() and out_dir.resolve() != stage1_dir.resolve():
        raise ValueError(f"{out_dir} already holds {WEIGHTS_FILE}; choose another --out")
    if out_dir.resolve() == stage1_dir.resolve():
        raise ValueError("--out must differ from --stage1 (the fine-tuned model does not replace its source)")
    base, state, doc = _stage1_train_config(stage1_dir)
    config = dataclasses.replace(
        base, steps=steps, batch_size=batch_size, lr=base.lr * lr_scale, seed=seed, num_workers=num_workers,
        checkpoint_every=max(steps, 1), val_every=max(steps, 1),
    )
    vq_path = vq_dir / WEIGHTS_FILE if vq_dir.is_dir() else vq_dir
    vq = load_vq(vq_path)

    L.seed_everything(seed, workers=True, verbose=False)
    module = FinetuneModule(config, vq, keep_known=keep_known, face_uvs=read_atlas(stage1_dir).face_uvs)
    module.model.load_state_dict(state, strict=True)
    discriminator = load_discriminator(stage1_dir)
    if discriminator is not None:
        module.discriminator.load_state_dict(discriminator.state_dict(), strict=True)
    else:
        log.warning("%s: no %s/; the discriminator starts from random weights", stage1_dir, DISCRIMINATOR_DIR)

    out_dir.mkdir(parents=True, exist_ok=True)
    info = {
        "format": "dinar-finetune/1",
        "stage1": str(stage1_dir.resolve()),
        "stage1_step": doc.get("step"),
        "stage1_sha256": sha256_file(stage1_dir / WEIGHTS_FILE),
        "vq": str(vq_path.resolve()),
        "vq_sha256": sha256_file(vq_path),
        "data": str(Path(data_dir).resolve()),
        "steps": steps, "batch_size": batch_size, "lr_scale": lr_scale, "lr": config.lr,
        "keep_known": keep_known, "seed": seed,
    }
    (out_dir / FINETUNE_FILE).write_text(json.dumps(info, indent=1) + "\n")

    data = Stage1DataModule(data_dir, batch_size, num_workers, config.val_batches, config.model.body_model)
    # No validation and no Lightning state: the trainer's checkpoint callback exports the stage-1 artifact at the end.
    trainer = make_trainer(TrainerSettings(
        run_dir=out_dir, max_steps=2 * steps, checkpoint_every=0, save_state=False, log_every=max(1, min(config.log_every, steps)),
        device=device, precision=precision, max_minutes=max_minutes, progress=progress,
    ))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer.fit(module, datamodule=data)
    info["iterations"] = module.iteration
    (out_dir / FINETUNE_FILE).write_text(json.dumps(info, indent=1) + "\n")
    log.info("fine-tune: %d iterations; exported %s", module.iteration, out_dir / WEIGHTS_FILE)
    return out_dir
