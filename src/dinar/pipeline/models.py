"""The three trained stages on disk: one model folder, read and written as the training modules do.

Layout of a model folder (what :meth:`AvatarPipeline.from_pretrained` reads)::

    MODEL_DIR/
      stage1/config.json               E, G, θ: `dinar train avatar`'s export (dinar.train.stage1)
      stage1/model.safetensors
      stage1/discriminator.safetensors optional: D's weights, for the adversarial term of RGB tuning
      vq/model.safetensors             the texture VQGAN (dinar.train.vq), config in the header
      diffusion/model.safetensors      the latent inpainter's EMA weights and noise schedule (dinar.train.diffusion)

``vq/`` and ``diffusion/`` may be missing together (a pipeline without inpainting). A stage folder
may also be a whole run folder (``RUN/model.safetensors`` is what is read).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from dinar.avatar import STAGE1_DIR, CheckpointIdentity, load_stage1, stage1_dir
from dinar.nn.avatar_model import AvatarModel
from dinar.nn.config_stage23 import NoiseScheduleConfig
from dinar.nn.diffusion import LatentInpainter
from dinar.nn.discriminator import Discriminator
from dinar.nn.vq import TextureVQModel
from dinar.train.common import DISCRIMINATOR_FILE, DISCRIMINATOR_KIND
from dinar.utils import atomic_path

log = logging.getLogger(__name__)

VQ_DIR = "vq"
DIFFUSION_DIR = "diffusion"
WEIGHTS_FILE = "model.safetensors"


@dataclass
class PipelineModels:
    """Everything :class:`~dinar.pipeline.AvatarPipeline` runs, loaded and checked against each other."""

    stage1: AvatarModel
    identity: CheckpointIdentity
    vq: TextureVQModel | None
    inpainter: LatentInpainter | None
    schedule: NoiseScheduleConfig | None
    discriminator: Discriminator | None
    background: float  # composite background of stage-1 training, in [-1, 1]


def check_compatible(stage1: AvatarModel, vq: TextureVQModel | None, inpainter: LatentInpainter | None) -> None:
    """Texture size of stage 1 = the VQ's; latent of the VQ = the inpainter's; both or neither."""
    if (vq is None) != (inpainter is None):
        raise ValueError("the VQ model and the inpainter come together: give both (inpainting) or neither")
    if vq is None:
        return
    S = stage1.config.texture_size
    if vq.config.texture_size != S:
        raise ValueError(f"the VQ model takes {vq.config.texture_size}² textures, the stage-1 model makes {S}²")
    u, v = inpainter.config, vq.config
    if (u.latent_size, u.latent_channels) != (v.latent_size, v.latent_channels):
        raise ValueError(f"the inpainter's latent ({u.latent_channels} × {u.latent_size}²) is not the VQ's "
                         f"({v.latent_channels} × {v.latent_size}²)")


def _weights(folder: Path) -> Path | None:
    path = folder / WEIGHTS_FILE if folder.is_dir() else folder
    return path if path.is_file() else None


def load_models(model_dir: str | Path, device: torch.device, body=None) -> PipelineModels:
    """Read a model folder (module docstring) onto ``device``, every network in eval mode."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    stage1, identity = load_stage1(model_dir, body=body, device=device)
    doc = json.loads((stage1_dir(model_dir) / "config.json").read_text())
    background = float(doc.get("train_config", {}).get("background", 1.0))

    discriminator = None
    disc_path = stage1_dir(model_dir) / DISCRIMINATOR_FILE
    if disc_path.is_file():
        with safe_open(str(disc_path), framework="pt") as f:
            kind = (f.metadata() or {}).get("kind")
        if kind != DISCRIMINATOR_KIND:
            raise ValueError(f"{disc_path}: not stage-1 discriminator weights (kind {kind!r})")
        discriminator = Discriminator(stage1.config.networks.discriminator)
        discriminator.load_state_dict(load_file(str(disc_path)))
        discriminator = discriminator.to(device).eval().requires_grad_(False)

    vq = inpainter = schedule = None
    vq_path, dm_path = _weights(model_dir / VQ_DIR), _weights(model_dir / DIFFUSION_DIR)
    if (vq_path is None) != (dm_path is None):
        missing = model_dir / (VQ_DIR if vq_path is None else DIFFUSION_DIR) / WEIGHTS_FILE
        raise FileNotFoundError(f"{missing}: missing (a model folder has both {VQ_DIR}/ and {DIFFUSION_DIR}/, or neither)")
    if vq_path is not None:
        from dinar.train.diffusion import load_inpainter
        from dinar.train.vq import load_vq

        vq = load_vq(vq_path, device)
        inpainter, schedule = load_inpainter(dm_path, device)
    check_compatible(stage1, vq, inpainter)
    return PipelineModels(stage1, identity, vq, inpainter, schedule, discriminator, background)


def save_models(
    model_dir: str | Path,
    stage1: AvatarModel,
    vq: TextureVQModel | None = None,
    inpainter: LatentInpainter | None = None,
    schedule: NoiseScheduleConfig | None = None,
    discriminator: Discriminator | None = None,
) -> Path:
    """Write a model folder (module docstring) with the training modules' own writers; returns it."""
    from safetensors.torch import save_file

    from dinar.train.runs import save_weights
    from dinar.train.stage1 import export_avatar_model

    check_compatible(stage1, vq, inpainter)
    model_dir = Path(model_dir)
    export_avatar_model(stage1, model_dir / STAGE1_DIR)
    if discriminator is not None:
        state = {k: v.detach().cpu().contiguous() for k, v in discriminator.state_dict().items()}
        with atomic_path(model_dir / STAGE1_DIR / DISCRIMINATOR_FILE) as tmp:
            save_file(state, str(tmp), metadata={"kind": DISCRIMINATOR_KIND})
    if vq is not None:
        save_weights(model_dir / VQ_DIR / WEIGHTS_FILE, vq.state_dict(), {"kind": "texture-vq", "config": vq.config.to_dict()})
        meta = {"kind": "texture-inpainter", "config": inpainter.config.to_dict(),
                "schedule": (schedule or NoiseScheduleConfig()).to_dict()}
        save_weights(model_dir / DIFFUSION_DIR / WEIGHTS_FILE, inpainter.state_dict(), meta)
    return model_dir
