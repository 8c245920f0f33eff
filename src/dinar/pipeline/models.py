"""The three trained stages of a model folder, loaded and checked against each other.

Layout of a model folder (what :meth:`AvatarPipeline.from_pretrained` reads; every network is
``model.safetensors`` + ``config.json``, :mod:`dinar.weights.format`)::

    MODEL_DIR/
      stage1/                    E, G, θ (`dinar train avatar`'s export) and atlas.safetensors, the UV atlas
                                 it was trained with; optionally discriminator/ (RGB tuning's adversarial term)
      vq/                        the texture VQGAN (`dinar train vq`)
      diffusion/                 the latent inpainter's EMA weights and noise schedule (`dinar train diffusion`)

``vq/`` and ``diffusion/`` may be missing together (a pipeline without inpainting), and ``vq/`` alone when
the inpainter diffuses the texture's colours (``rgb`` space, :class:`~dinar.nn.config_stage23.UNetConfig`),
which needs no VQ. A stage folder may also be a whole run folder. Reading and writing go through :mod:`dinar.weights.networks`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from dinar.nn.avatar_model import AvatarModel
from dinar.nn.config_stage23 import NoiseScheduleConfig
from dinar.nn.diffusion import LatentInpainter
from dinar.nn.discriminator import Discriminator
from dinar.nn.vq import TextureVQModel
from dinar.weights.format import CONFIG_FILE, WEIGHTS_FILE
from dinar.weights.networks import (
    STAGE1_DIR,
    CheckpointIdentity,
    load_discriminator,
    load_inpainter,
    load_stage1,
    load_vq,
    save_inpainter,
    save_stage1,
    save_vq,
    stage1_dir,
)

log = logging.getLogger(__name__)

VQ_DIR = "vq"
DIFFUSION_DIR = "diffusion"


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
    """Texture size of the VQ divides stage 1's; latent of the VQ = the inpainter's; both or neither (an
    ``rgb``-space inpainter needs no VQ, and its size must divide stage 1's texture size)."""
    if inpainter is not None and inpainter.config.space == "rgb":
        S, s = stage1.config.texture_size, inpainter.config.latent_size
        if s > S or S % s:
            raise ValueError(f"the inpainter restores {s}² colours, which the stage-1 model's {S}² texture cannot be shrunk to")
        return
    if (vq is None) != (inpainter is None):
        raise ValueError("the VQ model and the inpainter come together: give both (inpainting) or neither")
    if vq is None:
        return
    S, s = stage1.config.texture_size, vq.config.texture_size
    if s > S or S % s:
        raise ValueError(f"the VQ model takes {s}² textures, which the stage-1 model's {S}² cannot be shrunk to (not a divisor)")
    u, v = inpainter.config, vq.config
    if (u.latent_size, u.latent_channels) != (v.latent_size, v.latent_channels):
        raise ValueError(f"the inpainter's latent ({u.latent_channels} × {u.latent_size}²) is not the VQ's "
                         f"({v.latent_channels} × {v.latent_size}²)")


def _network(folder: Path) -> Path | None:
    return folder if (folder / WEIGHTS_FILE).is_file() else None


def load_models(model_dir: str | Path, device: torch.device, body=None) -> PipelineModels:
    """Read a model folder (module docstring) onto ``device``, every network in eval mode."""
    model_dir = Path(model_dir)
    stage1, identity = load_stage1(model_dir, body=body, device=device)
    doc = json.loads((stage1_dir(model_dir) / CONFIG_FILE).read_text())
    background = float(doc.get("train_config", {}).get("background", 1.0))
    discriminator = load_discriminator(stage1_dir(model_dir), device)
    if discriminator is not None:
        discriminator.requires_grad_(False)

    vq = inpainter = schedule = None
    vq_path, dm_path = _network(model_dir / VQ_DIR), _network(model_dir / DIFFUSION_DIR)
    if vq_path is not None:
        vq = load_vq(vq_path, device)
    if dm_path is not None:
        inpainter, schedule = load_inpainter(dm_path, device, vq=vq)
    if (vq_path is None) != (dm_path is None) and (inpainter is None or inpainter.config.space != "rgb"):
        missing = model_dir / (VQ_DIR if vq_path is None else DIFFUSION_DIR) / WEIGHTS_FILE
        raise FileNotFoundError(f"{missing}: missing (a model folder has both {VQ_DIR}/ and {DIFFUSION_DIR}/, or neither)")
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
    """Write a model folder (module docstring); returns it."""
    check_compatible(stage1, vq, inpainter)
    model_dir = Path(model_dir)
    save_stage1(stage1, model_dir / STAGE1_DIR, discriminator=discriminator)
    if vq is not None:
        save_vq(vq, model_dir / VQ_DIR)
    if inpainter is not None:  # an rgb-space inpainter belongs to no VQ, so it records none
        save_inpainter(inpainter, schedule or NoiseScheduleConfig(), model_dir / DIFFUSION_DIR,
                       vq=vq if inpainter.config.space == "latent" else None)
    return model_dir
