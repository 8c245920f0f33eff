"""What renders each target view of a benchmark run: the avatar pipeline (one per setting and
checkpoint), or the ground truth itself as a sanity check; and the image grid of the report."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor

from dinar.eval.people import PersonViews
from dinar.eval.settings import RENDER_BATCH, EvalError, Setting
from dinar.geometry.camera import Camera
from dinar.pipeline.options import PipelineOptions
from dinar.utils import resolve_device


# ---------------------------------------------------------------------------------------------------
# Predictors: what renders each target view (the avatar pipeline; ground truth as a sanity check)
# ---------------------------------------------------------------------------------------------------
@dataclass
class Renders:
    """Predicted views of a person, in the order of :attr:`PersonViews.targets`."""

    image: Tensor  # [B, 3, N, N] in [0, 1], composited over white
    mask: Tensor  # [B, 1, N, N] in [0, 1]
    seconds_avatar: float = 0.0
    """Time to make the avatar (0 when nothing was made)."""


class Predictor(Protocol):
    """Makes an avatar for a person under a setting and renders every target view."""

    image_size: int
    body_model: str
    num_joints: int
    up_axis: Sequence[float]
    front_axis: Sequence[float]

    def unavailable(self, setting: Setting) -> str | None:
        """None when ``setting`` can run, else why not (shown in the table: "not run: ...")."""

    def fingerprint(self, setting: Setting) -> dict[str, Any]:
        """JSON identifying what ``setting`` runs (checkpoint digests, options): part of the cache key."""

    def describe(self) -> dict[str, Any]:
        """Checkpoints and identity for metrics.json."""

    def predict(self, setting: Setting, person: PersonViews) -> Renders:
        """Renders of every target of ``person``."""


def model_fingerprint(model_dir: Path) -> dict[str, str]:
    """SHA-256 of every weight and config file of a model folder (relative path → digest)."""
    from dinar.digests import sha256_file as file_sha256
    from dinar.weights.networks import stage1_dir

    s1 = stage1_dir(model_dir)
    files = [s1 / "model.safetensors", s1 / "config.json", s1 / "atlas.safetensors", s1 / "discriminator" / "model.safetensors",
             model_dir / "vq" / "model.safetensors", model_dir / "diffusion" / "model.safetensors"]

    return {p.relative_to(model_dir).as_posix() if p.is_relative_to(model_dir) else p.name: file_sha256(p)
            for p in files if p.is_file()}


class PipelinePredictor:
    """The avatar pipeline (:class:`~dinar.pipeline.AvatarPipeline`) of the main checkpoint and of the
    ablation checkpoints; every avatar is rendered with each target's body fit and camera."""

    def __init__(
        self,
        checkpoint: Path | None,
        ablation_checkpoints: Mapping[str, Path] | None = None,
        options: PipelineOptions | None = None,
        device: str = "auto",
        body=None,
        image_size: int | None = None,
    ):
        """``image_size``: the size the avatars are scored at (None: the main checkpoint's); a model of
        another size renders at its own and its images are resized (a 128² model against 512² truth)."""
        from dinar.avatar import default_model_dir
        from dinar.pipeline import AvatarPipeline

        self.device = resolve_device(device)
        self.options = options or PipelineOptions()
        self.dirs: dict[str, Path] = {"main": Path(checkpoint) if checkpoint is not None else default_model_dir()}
        self.dirs.update({k: Path(v) for k, v in (ablation_checkpoints or {}).items()})
        self.pipes: dict[str, Any] = {}
        self.fingerprints: dict[str, dict[str, str]] = {}
        for key, folder in self.dirs.items():
            if not folder.is_dir():
                raise EvalError(f"{'--checkpoint' if key == 'main' else f'--ablation-checkpoint {key}='}{folder}: no such model folder")
            pipe = AvatarPipeline.from_pretrained(folder, self.device, body=body)
            body = pipe.body  # one body model for all
            self.pipes[key] = pipe
            self.fingerprints[key] = model_fingerprint(folder)
        main = self.pipes["main"].stage1.config
        for key, pipe in self.pipes.items():
            cfg = pipe.stage1.config
            if key != "main" and cfg.texture != key:
                raise EvalError(f"--ablation-checkpoint {key}={self.dirs[key]}: that checkpoint was trained with "
                                f"texture={cfg.texture!r}, not {key!r} (dinar train avatar --texture {key})")
            if cfg.image_size != main.image_size:
                raise EvalError(f"--ablation-checkpoint {key}={self.dirs[key]}: renders {cfg.image_size}² images, the main "
                                f"checkpoint {main.image_size}²; metrics at different resolutions are not comparable")
            if cfg.body_model != main.body_model:
                raise EvalError(f"--ablation-checkpoint {key}={self.dirs[key]}: body model {cfg.body_model!r}, the main "
                                f"checkpoint's is {main.body_model!r}")
        self.image_size = image_size or main.image_size
        self.body = body  # the body model of every pipeline (the per-part colour error rasterizes it)
        self.body_model = main.body_model
        self.num_joints = int(body.num_joints)
        self.up_axis = tuple(body.up_axis)
        self.front_axis = tuple(body.front_axis)

    def unavailable(self, setting: Setting) -> str | None:
        pipe = self.pipes.get(setting.checkpoint)
        if pipe is None:
            return "no checkpoint" if setting.checkpoint != "main" else "no main checkpoint"
        mode = pipe.stage1.config.texture
        if mode != setting.texture:
            return f"the checkpoint is {mode}-textured"
        if setting.inpainting and not pipe.can_inpaint:
            return "the checkpoint has no vq/ and diffusion/ (inpainting)"
        return None

    def fingerprint(self, setting: Setting) -> dict[str, Any]:
        options = setting.options(self.options)
        files = dict(self.fingerprints[setting.checkpoint])
        doc = options.to_dict()
        if not (setting.inpainting and options.fill == "diffusion"):  # no diffusion: its weights and settings do not matter
            files = {k: v for k, v in files.items() if not k.startswith(("vq/", "diffusion/"))}
            doc = {k: v for k, v in doc.items() if not k.startswith("diffusion_")}
        return {"files": files, "options": doc}

    def describe(self) -> dict[str, Any]:
        out = {}
        for key, pipe in self.pipes.items():
            ident = pipe.identity
            out[key] = {"model_dir": str(self.dirs[key].resolve()), "stage1": ident.to_json(), "short": ident.short,
                        "texture": pipe.stage1.config.texture, "image_size": pipe.stage1.config.image_size,
                        "texture_size": pipe.stage1.config.texture_size, "body_model": pipe.stage1.config.body_model,
                        "can_inpaint": pipe.can_inpaint, "files": self.fingerprints[key]}
        return out

    def predict(self, setting: Setting, person: PersonViews) -> Renders:
        pipe = self.pipes[setting.checkpoint]
        start = time.perf_counter()
        avatar = pipe(person.input_image, person.input_mask, person.input_fit, setting.options(self.options), progress=False)
        seconds = time.perf_counter() - start
        images, masks = [], []
        for chunk in _chunks(person.targets, RENDER_BATCH):
            fits = [t.fit for t in chunk]
            camera = Camera(K=torch.cat([f.camera.K for f in fits]), R=torch.cat([f.camera.R for f in fits]),
                            t=torch.cat([f.camera.t for f in fits]), width=self.image_size, height=self.image_size)
            frames = avatar.render(torch.stack([f.pose for f in fits]), camera, torch.stack([f.global_orient for f in fits]),
                                   torch.stack([f.transl for f in fits]))
            images.append(frames.image.float().cpu())
            masks.append(frames.mask.float().cpu())
        return Renders(torch.cat(images).clamp(0, 1), torch.cat(masks).clamp(0, 1), seconds)


class GroundTruthPredictor:
    """Returns the ground truth itself: the metrics' and the aggregation's perfect case (PSNR 100 dB,
    MS-SSIM 1, LPIPS / DISTS 0, identity 1, KID ≈ 0) — a check of the evaluation protocol, not a method."""

    def __init__(self, image_size: int, body=None, body_model: str = "anny", num_joints: int | None = None):
        self.image_size = image_size
        self.body = body
        self.body_model = getattr(body, "name", body_model)
        self.num_joints = int(body.num_joints) if body is not None else num_joints  # type: ignore[assignment]
        self.up_axis = tuple(getattr(body, "up_axis", (0.0, 0.0, 1.0)))
        self.front_axis = tuple(getattr(body, "front_axis", (0.0, -1.0, 0.0)))

    def unavailable(self, setting: Setting) -> str | None:
        return None

    def fingerprint(self, setting: Setting) -> dict[str, Any]:
        return {"ground_truth": True, "setting": setting.name}

    def describe(self) -> dict[str, Any]:
        return {"main": {"ground_truth": True, "short": "ground-truth"}}

    def predict(self, setting: Setting, person: PersonViews) -> Renders:
        return Renders(torch.stack([t.rgb for t in person.targets]), torch.stack([t.mask for t in person.targets]))


@dataclass
class GridViews:
    """What the report's image grid shows of a person besides the renders (kept instead of all views)."""

    input_stem: str
    back_stem: str | None
    input_image: Tensor  # [3, N, N] the input photo at the evaluation resolution, as given (its background)
    same: Tensor  # [3, N, N] ground truth of the same view, person over white (what the metrics see)
    back: Tensor | None  # [3, N, N] ground truth of the back view, person over white

    @classmethod
    def of(cls, person: PersonViews) -> GridViews:
        same = person.of_kind("same")[0]
        back = person.of_kind("back")
        return cls(person.input_stem, back[0].stem if back else None, same.rgb.clone(), same.over_white(),
                   back[0].over_white() if back else None)


def _chunks(items: Sequence, n: int) -> list[Sequence]:
    return [items[i : i + n] for i in range(0, len(items), n)]
