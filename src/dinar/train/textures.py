"""Neural-texture folders: the training data of stage 2 (VQGAN) and stage 3 (diffusion inpainting).

Layout (``dinar-textures/1``)::

    DIR/
      textures.json                 index: {"format": "dinar-textures/1", "texture_size": S, "channels": 21,
                                            "tgen": "stage1" | "zeros" | "projection", "atlas": ..., "source": ...,
                                            "people": {person_id: {"split": "train" | "val" | "test",
                                                                   "views": [stems], "front": stem}}}
      <person_id>/
        <stem>.safetensors          one view: texture [21, S, S] float32 T = T_gen ⊕ T_rgb ⊕ B_smp ⊕ B_fill
                                    (paper eq. 2) and angle [1, S, S] λ, the per-texel normal angle (3.2)
        merged.safetensors          all views of the person merged by eq. 5: merged [21, S, S] and
                                    covered [1, S, S] (texels some view covers)

A view texture is what one photo gives (the input of the inpainting, paper 3.3); ``merged`` is its
ground truth. ``front`` names the view that faces the person (view 0 of synthetic people).

Two ways to make such a folder (:func:`write_texture_folder` picks one):

- :func:`build_textures` — **without the stage-1 network**, for development and tests: T_rgb, B_smp
  and B_fill come from Algorithm 1 through the UV-render of each view's body fit, and T_gen is zeros
  (``tgen="zeros"``) or a fixed random projection of T_rgb ⊕ B_fill (``tgen="projection"``, so all
  21 channels carry signal). The occlusion detector (3.5) is not applied here.
- :func:`export_textures` — **with the trained stage-1 model** (``dinar train avatar`` run folder):
  :meth:`dinar.nn.avatar_model.AvatarModel.build_texture` on every image (occlusion detector, Algorithm
  1, T_gen = G(E(image)), in eval mode so it is deterministic), on the model's own atlas, at the size
  of G's T_gen (``hd``: T is made at 256² and shrunk to 64², :mod:`dinar.texture.resize`; stages 2-3
  inpaint there and eq. 6 keeps the photo's texels at 256²).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor
from torch.utils.data import Dataset

from dinar.nn.config import TEXTURE_CHANNELS, TEXTURE_GEN_CHANNELS
from dinar.nn.config_stage23 import CHANNEL_GROUPS, FILL_CHANNEL
from dinar.utils import atomic_path

logger = logging.getLogger(__name__)

TEXTURES_FORMAT = "dinar-textures/1"
INDEX_FILE = "textures.json"
MERGED_FILE = "merged.safetensors"
TGenMode = Literal["zeros", "projection"]


# ----------------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------------


def write_tensors(path: Path, tensors: dict[str, Tensor], metadata: dict[str, Any] | None = None) -> None:
    """Write tensors (contiguous CPU copies) to a safetensors file atomically, with JSON-able metadata."""
    meta = {k: json.dumps(v) for k, v in (metadata or {}).items()}
    with atomic_path(path) as tmp:
        save_file({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, str(tmp), metadata=meta)


@dataclass
class TextureIndex:
    """``textures.json`` of a texture folder."""

    root: Path
    texture_size: int
    people: dict[str, dict[str, Any]]  # person id -> {"split", "views", "front"}
    info: dict[str, Any]

    @classmethod
    def read(cls, root: str | Path) -> TextureIndex:
        root = Path(root)
        path = root / INDEX_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: missing; make a texture folder with build_textures or the stage-1 export") from None
        if data.get("format") != TEXTURES_FORMAT:
            raise ValueError(f"{path}: not a {TEXTURES_FORMAT} index (format {data.get('format')!r})")
        if data.get("channels") != TEXTURE_CHANNELS:
            raise ValueError(f"{path}: textures have {data.get('channels')} channels, dinar uses {TEXTURE_CHANNELS}")
        return cls(root=root, texture_size=int(data["texture_size"]), people=data["people"], info=data)

    def person_ids(self, split: str | None = None) -> list[str]:
        return sorted(p for p, rec in self.people.items() if split is None or rec["split"] == split)

    def view_path(self, pid: str, stem: str) -> Path:
        return self.root / pid / f"{stem}.safetensors"

    def merged_path(self, pid: str) -> Path:
        return self.root / pid / MERGED_FILE


def read_view(index: TextureIndex, pid: str, stem: str) -> dict[str, Tensor]:
    """``{"texture": [21, S, S], "angle": [1, S, S]}`` of one view."""
    return load_file(str(index.view_path(pid, stem)))


def read_merged(index: TextureIndex, pid: str) -> dict[str, Tensor]:
    """``{"merged": [21, S, S], "covered": [1, S, S]}`` of one person."""
    return load_file(str(index.merged_path(pid)))


# ----------------------------------------------------------------------------------------------------
# Building textures without the stage-1 network
# ----------------------------------------------------------------------------------------------------


def projection_tgen(rgb: Tensor, fill: Tensor, seed: int = 0) -> Tensor:
    """A stand-in T_gen: ``tanh(P [T_rgb; 1]) · B_fill`` with a fixed random ``P [16, 4]`` (seeded).

    rgb [B, 3, S, S], fill [B, 1, S, S] → [B, 16, S, S]. Smooth, bounded and tied to the colours, so a
    VQ model and an inpainter have something texture-like to learn in every channel.
    """
    g = torch.Generator().manual_seed(seed)
    P = torch.randn(TEXTURE_GEN_CHANNELS, 4, generator=g).to(rgb)
    x = torch.cat([rgb, torch.ones_like(fill)], dim=1)
    return torch.tanh(torch.einsum("kc,bchw->bkhw", P, x)) * fill


def view_textures(
    body,  # dinar.body.BodyModel
    views: dict[str, Tensor],  # a PersonViewsDataset item: rgb [V, 3, H, W], mask [V, 1, H, W], pose, shape, K, R, t, ...
    face_uvs: Tensor,  # [F, 3, 2] the atlas
    texture_size: int,
    tgen: TGenMode = "zeros",
) -> tuple[Tensor, Tensor]:
    """Per-view textures ``T [V, 21, S, S]`` and normal angles ``λ [V, 1, S, S]`` of one person and pose.

    Algorithm 1 through the UV-render of each view's fit (pixels used: on the rendered body and inside
    the person mask); λ from :func:`dinar.texture.normal_angle_texture`; T_gen per ``tgen``.
    """
    from dinar.geometry.camera import Camera
    from dinar.geometry.raster import rasterize
    from dinar.geometry.texture_lookup import uv_layout
    from dinar.texture import (
        normal_angle_texture,
        sample_rgb_texture,
    )

    rgb, mask = views["rgb"], views["mask"]
    V, _, H, W = rgb.shape
    posed = body(pose=views["pose"], shape=views["shape"], global_orient=views["global_orient"], transl=views["transl"])
    verts = posed.vertices.float()
    camera = Camera(K=views["K"].float(), R=views["R"].float(), t=views["t"].float(), width=W, height=H)
    faces = body.faces
    raster = rasterize(verts, faces, camera, face_uvs)
    used = raster.mask * (mask > 0.5).to(raster.mask.dtype)
    sample = sample_rgb_texture(rgb, raster.uv, used, texture_size)
    layout = uv_layout(face_uvs, texture_size)
    angle = normal_angle_texture(raster, posed.normals.float(), faces, verts, camera, layout=layout)
    if tgen == "zeros":
        gen = rgb.new_zeros(V, TEXTURE_GEN_CHANNELS, texture_size, texture_size)
    elif tgen == "projection":
        gen = projection_tgen(sample.rgb, sample.filled)
    else:
        raise ValueError(f"tgen must be 'zeros' or 'projection', got {tgen!r}")
    texture = torch.cat([gen, sample.rgb, sample.sampled, sample.filled], dim=1)
    return texture, angle


def merge_views(textures: Tensor, angles: Tensor, tau: float = 0.1) -> tuple[Tensor, Tensor]:
    """Eq.-5 merge of ``[V, 21, S, S]`` view textures over the texels each covers (its B_fill):
    ``(merged [21, S, S], covered [1, S, S])``."""
    from dinar.texture import merge_textures

    valid = textures[:, TEXTURE_CHANNELS - 1 :]
    out = merge_textures(textures, angles, valid=valid, tau=tau)
    return out.texture, out.covered


def _splits(data_dir: Path) -> dict[str, str]:
    path = data_dir / "splits.json"
    if not path.exists():
        return {}
    return {pid: name for name, pids in json.loads(path.read_text()).items() for pid in pids}


def build_textures(
    data_dir: str | Path,
    out_dir: str | Path,
    texture_size: int = 64,
    tgen: TGenMode = "zeros",
    atlas: str = "front",
    body_model: str = "anny",
    tau: float = 0.1,
    progress: bool = True,
) -> TextureIndex:
    """Write a texture folder for every person of a dataset (:mod:`dinar.data.layout`), without the
    stage-1 network (module docstring). All poses and views of a person are merged into one
    ``merged``; ``front`` is the view with the lowest view index of the first pose."""
    from tqdm import tqdm

    from dinar.body import load_body_model
    from dinar.data.datasets import PersonViewsDataset

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    body = load_body_model(body_model)
    from dinar.weights.networks import training_atlas

    face_uvs = training_atlas(body, atlas)
    dataset = PersonViewsDataset(data_dir, body_model=body_model)

    def groups():
        with torch.no_grad():
            for i in tqdm(range(len(dataset)), desc="textures", disable=None if progress else True):
                item = dataset[i]
                textures, angles = view_textures(body, item, face_uvs, texture_size, tgen)
                yield item["person_id"], int(item["pose_id"]), list(item["stem"]), item["view"].tolist(), textures, angles

    info = {"texture_size": texture_size, "tgen": tgen, "atlas": atlas, "source": str(data_dir)}
    return _write_folder(out_dir, groups(), _splits(data_dir), info, tau)


def _write_folder(
    out_dir: Path,
    groups,  # iterable of (person id, pose id, stems, views [V], textures [V, 21, S, S], angles [V, 1, S, S])
    splits: dict[str, str],
    info: dict[str, Any],
    tau: float,
) -> TextureIndex:
    per_person: dict[str, tuple[list[Tensor], list[Tensor], list[str]]] = {}
    for pid, pose_id, stems, views, textures, angles in groups:
        for stem, view, T, lam in zip(stems, views, textures, angles):
            write_tensors(out_dir / pid / f"{stem}.safetensors", {"texture": T, "angle": lam},
                          {"person_id": pid, "stem": stem, "view": view, "pose_id": pose_id})
        acc = per_person.setdefault(pid, ([], [], []))
        acc[0].append(textures.cpu())
        acc[1].append(angles.cpu())
        acc[2].extend(stems)
    people = {}
    for pid, (textures, angles, stems) in per_person.items():
        merged, covered = merge_views(torch.cat(textures), torch.cat(angles), tau)
        write_tensors(out_dir / pid / MERGED_FILE, {"merged": merged, "covered": covered}, {"person_id": pid, "views": stems})
        people[pid] = {"split": splits.get(pid, "train"), "views": stems, "front": stems[0]}
    index = {"format": TEXTURES_FORMAT, "channels": TEXTURE_CHANNELS, **info, "tau": tau, "people": people}
    with atomic_path(out_dir / INDEX_FILE) as tmp:
        tmp.write_text(json.dumps(index, indent=1) + "\n")
    logger.info("wrote textures of %d people to %s", len(people), out_dir)
    return TextureIndex.read(out_dir)


@torch.no_grad()
def export_textures(
    stage1_run: str | Path,
    data_dir: str | Path,
    out_dir: str | Path,
    device: str | torch.device = "cpu",
    tau: float = 0.1,
    progress: bool = True,
) -> TextureIndex:
    """Write a texture folder with the trained stage-1 model of ``stage1_run`` (module docstring):
    per view ``T`` from :meth:`~dinar.nn.avatar_model.AvatarModel.build_texture` and λ on the
    model's atlas; per person the eq.-5 merge. Images are resized to the model's image size."""
    from tqdm import tqdm

    from dinar.body import load_body_model
    from dinar.data.datasets import PersonViewsDataset
    from dinar.geometry.normals import vertex_normals
    from dinar.geometry.texture_lookup import uv_layout
    from dinar.nn.avatar_model import pose_body
    from dinar.texture import normal_angle_texture, shrink_angles, shrink_texture
    from dinar.train.common import frame_camera, resize_frame
    from dinar.weights.format import read_config
    from dinar.weights.networks import STAGE1_KIND, load_stage1_model

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    config = read_config(stage1_run, STAGE1_KIND)["config"]
    body = load_body_model(config["body_model"]).to(device)
    model = load_stage1_model(stage1_run, body, device)
    size, S = model.config.image_size, model.config.texture_size
    coarse = model.config.networks.neural_texture_size  # stages 2-3 inpaint at T_gen's size (dinar.texture.resize)
    layout = uv_layout(model.face_uvs, S)
    dataset = PersonViewsDataset(data_dir, body_model=model.config.body_model)

    def groups():
        for i in tqdm(range(len(dataset)), desc="textures", disable=None if progress else True):
            item = dataset[i]
            frame = resize_frame({k: item[k].to(device) for k in ("rgb", "mask", "pose", "shape", "global_orient", "transl", "K", "R", "t")}, size)
            view = pose_body(body, frame["pose"], frame["shape"], frame["global_orient"], frame["transl"], frame_camera(frame))
            nt = model.build_texture(frame["rgb"], frame["mask"], view)
            normals = vertex_normals(view.vertices, model.faces)
            angles = normal_angle_texture(nt.raster, normals, model.faces, view.vertices, view.camera, layout=layout)
            yield (item["person_id"], int(item["pose_id"]), list(item["stem"]), item["view"].tolist(),
                   shrink_texture(nt.texture, coarse), shrink_angles(angles, coarse))

    info = {"texture_size": coarse, "tgen": "stage1", "atlas": model.config.atlas, "source": str(data_dir),
            "stage1": str(Path(stage1_run).resolve())}
    return _write_folder(out_dir, groups(), _splits(data_dir), info, tau)


def write_texture_folder(
    data_dir: str | Path,
    out_dir: str | Path,
    stage1_run: str | Path | None = None,
    texture_size: int = 64,
    tgen: TGenMode = "zeros",
    atlas: str = "front",
    tau: float = 0.1,
    device: str = "auto",
) -> TextureIndex:
    """``dinar data textures``: :func:`export_textures` with the stage-1 model of ``stage1_run`` (its own
    texture size and atlas, on ``device``), else :func:`build_textures` (``texture_size``, ``tgen``, ``atlas``)."""
    from dinar.utils import resolve_device

    if stage1_run is not None:
        return export_textures(stage1_run, data_dir, out_dir, resolve_device(device), tau)
    return build_textures(data_dir, out_dir, texture_size, tgen, atlas, tau=tau)


# ----------------------------------------------------------------------------------------------------
# Datasets
# ----------------------------------------------------------------------------------------------------


class TextureDataset(Dataset):
    """Every view texture (and, with ``include_merged``, every merged texture) of a split: what the
    VQGAN learns to reconstruct. Items: ``{"texture": [21, S, S]}``."""

    def __init__(self, root: str | Path, split: str | None = "train", include_merged: bool = True):
        self.index = TextureIndex.read(root)
        self.items: list[tuple[str, str | None]] = []
        for pid in self.index.person_ids(split):
            self.items += [(pid, stem) for stem in self.index.people[pid]["views"]]
            if include_merged:
                self.items.append((pid, None))
        if not self.items:
            raise ValueError(f"{root}: no textures in split {split!r}")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        pid, stem = self.items[i]
        if stem is None:
            return {"texture": read_merged(self.index, pid)["merged"]}
        return {"texture": read_view(self.index, pid, stem)["texture"]}


class InpaintingDataset(Dataset):
    """(single-view texture, merged texture) pairs of a split: the stage-3 training data (paper 3.3).

    ``views="all"`` uses every view as an input (so a back or side photo works too), ``"front"`` only
    the front view (the paper's evaluation). Items: ``{"partial": [21, S, S], "merged": [21, S, S],
    "covered": [1, S, S], "person_id", "stem"}``.
    """

    def __init__(self, root: str | Path, split: str | None = "train", views: Literal["all", "front"] = "all"):
        self.index = TextureIndex.read(root)
        self.items: list[tuple[str, str]] = []
        for pid in self.index.person_ids(split):
            rec = self.index.people[pid]
            stems = rec["views"] if views == "all" else [rec["front"]]
            self.items += [(pid, s) for s in stems]
        if not self.items:
            raise ValueError(f"{root}: no people in split {split!r}")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        pid, stem = self.items[i]
        merged = read_merged(self.index, pid)
        return {"partial": read_view(self.index, pid, stem)["texture"], "merged": merged["merged"],
                "covered": merged["covered"], "person_id": pid, "stem": stem}


def rgb_preview(textures: Tensor) -> Tensor:
    """RGB channels of ``[B, 21, S, S]`` textures as ``[B, 3, S, S]`` in [0, 1], grey where B_fill = 0."""
    rgb = (textures[:, CHANNEL_GROUPS["rgb"]] + 1) / 2
    fill = (textures[:, FILL_CHANNEL : FILL_CHANNEL + 1] > 0.5).to(rgb.dtype)
    return (rgb * fill + 0.5 * (1 - fill)).clamp(0, 1)


def split_with_people(index: TextureIndex, split: str, fallback: str = "train") -> str:
    """``split`` when the texture folder has people in it, else ``fallback`` (with a warning)."""
    if index.person_ids(split):
        return split
    logger.warning("%s: no %s people; using the %s people instead", index.root, split, fallback)
    return fallback
