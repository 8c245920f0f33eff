"""Save and load each network dinar trains, in the one format of :mod:`dinar.weights.format`.

A stage-1 export is self-contained: beside E, G and θ it carries the UV atlas it was trained with
(``atlas.safetensors``: per-corner UVs plus the digest of the mesh topology they belong to) and,
optionally, its discriminator (``discriminator/``)::

    STAGE1/model.safetensors + config.json     E, G, θ       kind "dinar-avatar-model"
    STAGE1/atlas.safetensors                   face_uvs [F, 3, 2] float32; header: body, atlas name,
                                               topology_sha256, atlas_sha256
    STAGE1/discriminator/model.safetensors + config.json   D (RGB tuning's adversarial term)
    VQ/model.safetensors + config.json         the texture VQGAN           kind "texture-vq"
    DIFFUSION/model.safetensors + config.json  the latent inpainter (EMA)  kind "texture-inpainter"

Loading a stage-1 model uses the atlas in its folder, never a recomputation: an atlas is computed by
numerical code (LSCM) whose last bits differ between machines, and a model must render the same
everywhere. What is checked is that the installed body model has the atlas' topology.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from dinar.digests import (
    config_digest,
    sha256_file,
    state_digest,
    topology_digest,
    uv_digest,
)
from dinar.utils import atomic_path
from dinar.weights.format import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    WeightsError,
    load_network,
    network_dir,
    save_network,
)

STAGE1_KIND = "dinar-avatar-model"
DISCRIMINATOR_KIND = "dinar-stage1-discriminator"
VQ_KIND = "texture-vq"
INPAINTER_KIND = "texture-inpainter"
ATLAS_FILE = "atlas.safetensors"
ATLAS_FORMAT = "dinar-atlas/1"
DISCRIMINATOR_DIR = "discriminator"
STAGE1_DIR = "stage1"
VQ_STATE_KEY = "vq_state_sha256"
"""Key of an inpainter's config.json: the state digest of the VQ in whose latent it was trained."""


# -- the UV atlas a stage-1 model was trained with ----------------------------------------------------
@dataclass(frozen=True)
class AtlasFile:
    """An atlas as stored beside a stage-1 model."""

    face_uvs: Tensor  # [F, 3, 2] float32, v up
    body_model: str
    name: str  # "front" | "native"
    topology_sha256: str

    @property
    def sha256(self) -> str:
        return uv_digest(self.face_uvs)


def save_atlas(directory: str | Path, face_uvs: Tensor, faces: Tensor, body_model: str, name: str) -> Path:
    """Write ``DIR/atlas.safetensors`` (module docstring)."""
    from safetensors.torch import save_file

    path = Path(directory) / ATLAS_FILE
    uvs = face_uvs.detach().to("cpu", torch.float32).contiguous()
    meta = {"format": ATLAS_FORMAT, "body_model": body_model, "atlas": name,
            "topology_sha256": topology_digest(faces), "atlas_sha256": uv_digest(uvs)}
    with atomic_path(path) as tmp:
        save_file({"face_uvs": uvs}, str(tmp), metadata=meta)
    return path


def read_atlas(directory: str | Path) -> AtlasFile:
    """The atlas stored in a stage-1 folder (its digest checked)."""
    from safetensors import SafetensorError, safe_open

    path = Path(directory) / ATLAS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; a stage-1 model folder carries the UV atlas it was trained with "
                                "(re-export it with this dinar)")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            uvs = f.get_tensor("face_uvs")
    except (SafetensorError, OSError) as err:
        raise WeightsError(f"{path}: unreadable or corrupt ({err}); re-export or reinstall the model") from err
    if meta.get("format") != ATLAS_FORMAT:
        raise WeightsError(f"{path}: format {meta.get('format')!r}, expected {ATLAS_FORMAT!r}")
    atlas = AtlasFile(uvs, meta["body_model"], meta["atlas"], meta["topology_sha256"])
    if atlas.sha256 != meta.get("atlas_sha256"):
        raise WeightsError(f"{path}: the UVs do not match their recorded SHA-256 (corrupt file); re-export or reinstall the model")
    return atlas


def check_topology(atlas: AtlasFile, body: Any, where: str | Path) -> None:
    """The installed body model must have the mesh the atlas was made for."""
    got = topology_digest(body.faces)
    if got != atlas.topology_sha256 or atlas.face_uvs.shape[0] != body.faces.shape[0]:
        raise WeightsError(
            f"{where}: the model's UV atlas belongs to a {atlas.body_model!r} mesh with topology {atlas.topology_sha256[:12]} "
            f"({atlas.face_uvs.shape[0]} faces), but the installed {getattr(body, 'name', '?')!r} body model has topology "
            f"{got[:12]} ({body.faces.shape[0]} faces); install the body-model version the model was trained with, or retrain"
        )


def training_atlas(body: Any, name: str) -> Tensor:
    """The atlas to train a new model on: the one the shipped model holds when it is for this body
    model, atlas name and mesh topology (so models trained anywhere share it), else
    :func:`dinar.body.atlas.load_atlas` (computed once per machine; LSCM)."""
    from dinar.body.atlas import load_atlas
    from dinar.weights.model_dir import shipped_dir

    folder = shipped_dir() / STAGE1_DIR
    if (folder / ATLAS_FILE).is_file():
        atlas = read_atlas(folder)
        if (atlas.body_model, atlas.name, atlas.topology_sha256) == (body.name, name, topology_digest(body.faces)):
            return atlas.face_uvs.to(body.faces.device)
    return load_atlas(body, name).face_uvs


# -- stage 1 -----------------------------------------------------------------------------------------
def save_stage1(
    model: torch.nn.Module,  # dinar.nn.avatar_model.AvatarModel
    directory: str | Path,
    extra: Mapping[str, Any] | None = None,
    discriminator: torch.nn.Module | None = None,
) -> Path:
    """E, G, θ (BatchNorm statistics included; SyncBatchNorm saves under the same keys), the atlas,
    and with ``discriminator`` also ``DIR/discriminator/``; ``extra`` (train config, step) goes into
    ``config.json``."""
    directory = network_dir(directory)
    save_atlas(directory, model.face_uvs, model.faces, model.config.body_model, model.config.atlas)
    if discriminator is not None:
        save_network(directory / DISCRIMINATOR_DIR, discriminator.state_dict(), discriminator.config.to_dict(), DISCRIMINATOR_KIND)
    doc = {"atlas_sha256": uv_digest(model.face_uvs), **(extra or {})}
    return save_network(directory, model.state_dict(), model.config.to_dict(), STAGE1_KIND, doc)


def load_stage1_model(directory: str | Path, body: Any = None, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The exported stage-1 :class:`~dinar.nn.avatar_model.AvatarModel` of ``directory``, in eval mode,
    rendering through the atlas stored beside it."""
    from dinar.body import load_body_model
    from dinar.nn.avatar_model import AvatarModelConfig, avatar_model_from_body

    directory = network_dir(directory)
    state, config_dict, doc = load_network(directory, STAGE1_KIND)
    config = AvatarModelConfig.from_dict(config_dict)
    atlas = read_atlas(directory)
    if (atlas.body_model, atlas.name) != (config.body_model, config.atlas) or atlas.sha256 != doc.get("atlas_sha256"):
        raise WeightsError(f"{directory / ATLAS_FILE}: not the atlas {CONFIG_FILE} was trained with; re-export the model")
    body = body or load_body_model(config.body_model)
    check_topology(atlas, body, directory)
    model = avatar_model_from_body(config, body, face_uvs=atlas.face_uvs)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()


def load_discriminator(directory: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module | None:
    """Stage 1's discriminator saved beside it (``DIR/discriminator/``), in eval mode, or None."""
    from dinar.nn.config import DiscriminatorConfig
    from dinar.nn.discriminator import Discriminator

    folder = network_dir(directory) / DISCRIMINATOR_DIR
    if not (folder / WEIGHTS_FILE).is_file():
        return None
    state, config, _ = load_network(folder, DISCRIMINATOR_KIND)
    model = Discriminator(DiscriminatorConfig.from_dict(config))
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()


# -- stages 2 and 3 ----------------------------------------------------------------------------------
def save_vq(model: torch.nn.Module, directory: str | Path, extra: Mapping[str, Any] | None = None) -> Path:
    """The texture VQGAN (:class:`~dinar.nn.vq.TextureVQModel`)."""
    return save_network(directory, model.state_dict(), model.config.to_dict(), VQ_KIND, extra)


def load_vq(directory: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The texture VQGAN of a folder (or its ``model.safetensors``), in eval mode."""
    from dinar.nn.config_stage23 import VQConfig
    from dinar.nn.vq import TextureVQModel

    state, config, _ = load_network(directory, VQ_KIND, device)
    model = TextureVQModel(VQConfig.from_dict(config))
    model.load_state_dict(state)
    return model.to(device).eval()


def save_inpainter(model: torch.nn.Module, schedule: Any, directory: str | Path, extra: Mapping[str, Any] | None = None,
                   vq: torch.nn.Module | None = None) -> Path:
    """The latent inpainter (:class:`~dinar.nn.diffusion.LatentInpainter`) with its noise schedule; with
    ``vq``, the state digest of the VQ it works in (:data:`VQ_STATE_KEY`), which loading checks."""
    pairing = {VQ_STATE_KEY: state_digest(vq.state_dict())} if vq is not None else {}
    return save_network(directory, model.state_dict(), model.config.to_dict(), INPAINTER_KIND,
                        {"schedule": schedule.to_dict(), **(extra or {}), **pairing})


def load_inpainter(directory: str | Path, device: str | torch.device = "cpu",
                   vq: torch.nn.Module | None = None) -> tuple[torch.nn.Module, Any]:
    """``(inpainter in eval mode, NoiseScheduleConfig)`` of a folder (or its ``model.safetensors``). With
    ``vq``: raises :class:`WeightsError` when the inpainter records another VQ (its latents would mean
    something else); folders that record none are trusted."""
    from dinar.nn.config_stage23 import NoiseScheduleConfig, UNetConfig
    from dinar.nn.diffusion import LatentInpainter

    state, config, doc = load_network(directory, INPAINTER_KIND, device)
    expected = doc.get(VQ_STATE_KEY)
    if vq is not None and expected and expected != state_digest(vq.state_dict()):
        raise WeightsError(f"{network_dir(directory)}: this inpainter was trained in the latent of another VQ "
                           f"(state {expected[:12]}); put it beside the vq/ it was trained with")
    model = LatentInpainter(UNetConfig.from_dict(config))
    model.load_state_dict(state)
    return model.to(device).eval(), NoiseScheduleConfig.from_dict(doc["schedule"])


# -- which stage-1 checkpoint ------------------------------------------------------------------------
def stage1_dir(model_dir: str | Path) -> Path:
    """The stage-1 folder of a model folder: ``DIR/stage1`` (pipeline layout) or ``DIR`` itself when it
    holds ``model.safetensors`` + ``config.json`` (a ``dinar train avatar`` run folder)."""
    model_dir = Path(model_dir)
    if (model_dir / STAGE1_DIR / WEIGHTS_FILE).is_file():
        return model_dir / STAGE1_DIR
    if (model_dir / WEIGHTS_FILE).is_file() and (model_dir / CONFIG_FILE).is_file():
        return model_dir
    raise FileNotFoundError(
        f"{model_dir}: no stage-1 weights (expected {STAGE1_DIR}/{WEIGHTS_FILE} + {STAGE1_DIR}/{CONFIG_FILE}, "
        "as `dinar train avatar` exports them)"
    )


@dataclass(frozen=True)
class CheckpointIdentity:
    """Which stage-1 checkpoint (E, G, θ) a texture was made for."""

    config_sha256: str
    """SHA-256 of the model config's canonical JSON (:func:`~dinar.digests.config_digest`)."""
    state_sha256: str
    """:func:`~dinar.digests.state_digest` of the weights."""
    weights_sha256: str = ""
    """SHA-256 of the ``model.safetensors`` file ("" for a model that never came from a file)."""
    source: str = ""
    """Where it was read from (a folder), for messages only."""

    @property
    def short(self) -> str:
        """12 hex digits naming the checkpoint in messages (the file's SHA-256 when known)."""
        return (self.weights_sha256 or self.state_sha256)[:12]

    def matches(self, other: CheckpointIdentity) -> bool:
        return self.config_sha256 == other.config_sha256 and self.state_sha256 == other.state_sha256

    @classmethod
    def of_model(cls, model: torch.nn.Module, weights_sha256: str = "", source: str = "") -> CheckpointIdentity:
        """The identity of a stage-1 :class:`~dinar.nn.avatar_model.AvatarModel` in memory."""
        return cls(config_digest(model.config.to_dict()), state_digest(model.state_dict()), weights_sha256, source)

    def to_json(self) -> dict[str, str]:
        return {"config_sha256": self.config_sha256, "state_sha256": self.state_sha256,
                "weights_sha256": self.weights_sha256, "source": self.source}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CheckpointIdentity:
        return cls(str(d["config_sha256"]), str(d["state_sha256"]), str(d.get("weights_sha256", "")), str(d.get("source", "")))


def load_stage1(model_dir: str | Path, body: Any = None, device: str | torch.device = "cpu"):
    """``(AvatarModel in eval mode, CheckpointIdentity)`` of the stage-1 weights in ``model_dir``
    (:func:`stage1_dir`); ``body`` is loaded from the config's body model when not given."""
    directory = stage1_dir(model_dir)
    model = load_stage1_model(directory, body=body, device=device)
    identity = CheckpointIdentity.of_model(model, sha256_file(directory / WEIGHTS_FILE), str(Path(model_dir).resolve()))
    return model, identity

