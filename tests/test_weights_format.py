"""The one weights format (dinar.weights): round trips, refusals, and self-contained stage-1 exports
that render through the atlas they carry, never a recomputed one."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dinar.avatar import Avatar
from dinar.digests import topology_digest, uv_digest
from dinar.nn import preset
from dinar.nn.avatar_model import AvatarModelConfig, avatar_model_from_body
from dinar.nn.config_stage23 import NoiseScheduleConfig, UNetConfig, VQConfig
from dinar.nn.diffusion import LatentInpainter
from dinar.nn.discriminator import Discriminator
from dinar.nn.vq import TextureVQModel
from dinar.weights.format import CONFIG_FILE, WeightsError, load_network, save_network
from dinar.weights.networks import (
    ATLAS_FILE,
    CheckpointIdentity,
    load_discriminator,
    load_inpainter,
    load_stage1,
    load_stage1_model,
    load_vq,
    read_atlas,
    save_inpainter,
    save_stage1,
    save_vq,
    training_atlas,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_network_round_trip_and_refusals(tmp_path):
    state = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.tensor([1, 2], dtype=torch.int64)}
    save_network(tmp_path / "net", state, {"width": 3}, "toy", {"step": 5})
    back, config, doc = load_network(tmp_path / "net", "toy")
    assert config == {"width": 3} and doc["step"] == 5
    assert all(torch.equal(back[k], state[k]) for k in state)
    back, _, _ = load_network(tmp_path / "net" / "model.safetensors", "toy")  # the file works as well as its folder
    with pytest.raises(WeightsError, match="holds a 'toy' model, expected 'other'"):
        load_network(tmp_path / "net", "other")
    doc["config"]["width"] = 4  # an edited config would rebuild another network
    (tmp_path / "net" / CONFIG_FILE).write_text(json.dumps(doc))
    with pytest.raises(WeightsError, match="not the one model.safetensors was saved with"):
        load_network(tmp_path / "net", "toy")
    with pytest.raises(FileNotFoundError, match="missing"):
        load_network(tmp_path / "nowhere", "toy")


def test_vq_and_inpainter_round_trip(tmp_path):
    torch.manual_seed(0)
    vq = TextureVQModel(VQConfig(texture_size=16, num_embeddings=8, block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4))
    save_vq(vq, tmp_path / "vq", {"step": 3})
    assert torch.equal(load_vq(tmp_path / "vq").codebook, vq.codebook)
    unet = LatentInpainter(UNetConfig(latent_size=8, latent_channels=vq.config.latent_channels, block_out_channels=(8, 16),
                                      layers_per_block=1, attention=(False, False), attention_head_dim=8, norm_num_groups=4))
    schedule = NoiseScheduleConfig(num_train_timesteps=10)
    save_inpainter(unet, schedule, tmp_path / "dm")
    back, back_schedule = load_inpainter(tmp_path / "dm")
    assert back_schedule == schedule
    assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), unet.state_dict().values(), strict=True))


@pytest.fixture(scope="module")
def shifted_export(body, tmp_path_factory) -> tuple[Path, torch.Tensor]:
    """A stage-1 export whose atlas no machine would compute: every UV moved by 1e-3."""
    torch.manual_seed(0)
    config = AvatarModelConfig(networks=preset("tiny"))
    face_uvs = training_atlas(body, "front") + 1e-3
    model = avatar_model_from_body(config, body, face_uvs=face_uvs).eval()
    directory = tmp_path_factory.mktemp("export") / "stage1"
    save_stage1(model, directory, {"step": 1}, discriminator=Discriminator(config.networks.discriminator))
    return directory, face_uvs


def test_a_stage1_export_renders_through_the_atlas_it_carries(shifted_export, body, monkeypatch):
    directory, face_uvs = shifted_export
    import dinar.body.atlas as atlas_module

    def no_recomputation(*args, **kwargs):
        raise AssertionError("loading a model must not compute or read a cached atlas")

    monkeypatch.setattr(atlas_module, "load_atlas", no_recomputation)
    monkeypatch.setattr(atlas_module, "front_cut_atlas", no_recomputation)
    model = load_stage1_model(directory, body=body)
    assert torch.equal(model.face_uvs, face_uvs.float())
    stored = read_atlas(directory)
    assert stored.topology_sha256 == topology_digest(body.faces) and stored.sha256 == uv_digest(face_uvs)
    assert load_discriminator(directory) is not None


def test_another_mesh_topology_is_refused_naming_both(shifted_export, body):
    directory, _ = shifted_export

    class OtherMesh(torch.nn.Module):
        name = "anny"
        faces = body.faces.flip(1)  # same size, other winding: another topology

    with pytest.raises(WeightsError, match=r"topology .* installed 'anny' body model has topology"):
        load_stage1_model(directory, body=OtherMesh())


def test_a_damaged_atlas_is_refused(shifted_export, body, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    directory = tmp_path / "stage1"
    shutil.copytree(shifted_export[0], directory)
    path = directory / ATLAS_FILE
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    uvs = load_file(str(path))["face_uvs"]
    uvs[0, 0, 0] += 0.5
    save_file({"face_uvs": uvs}, str(path), metadata=meta)
    with pytest.raises(WeightsError, match="do not match their recorded SHA-256"):
        load_stage1_model(directory, body=body)
    path.unlink()
    with pytest.raises(FileNotFoundError, match="carries the UV atlas it was trained with"):
        load_stage1_model(directory, body=body)


def test_the_avatar_records_its_atlas_and_refuses_another(shifted_export, body):
    directory, _ = shifted_export
    model, identity = load_stage1(directory, body=body)
    texture = torch.zeros(21, 64, 64)
    avatar = Avatar(texture=texture, shape=body.neutral_shape()[0], body_model="anny", atlas="front", checkpoint=identity,
                    metadata={"atlas_sha256": uv_digest(model.face_uvs)})
    avatar.bind(model, body=body)  # its own atlas: fine
    other = avatar_model_from_body(model.config, body, face_uvs=model.face_uvs + 1e-3)
    other.load_state_dict(model.state_dict())
    assert CheckpointIdentity.of_model(other).matches(identity)  # same weights, other atlas
    with pytest.raises(ValueError, match="UV atlas"):
        Avatar(texture=texture, shape=avatar.shape, body_model="anny", atlas="front", checkpoint=identity,
               metadata=dict(avatar.metadata)).bind(other, body=body)


def test_the_shipped_model_carries_its_atlas():
    from dinar.weights import default_model_dir

    stage1 = default_model_dir() / "stage1"
    atlas = read_atlas(stage1)
    doc = json.loads((stage1 / CONFIG_FILE).read_text())
    assert atlas.sha256 == doc["atlas_sha256"] and (atlas.body_model, atlas.name) == ("anny", "front")


def test_inference_imports_no_training_code():
    code = ("import sys, dinar.pipeline, dinar.commands.avatar, dinar.demo; "
            "print(sorted(m for m in sys.modules if m.startswith(('dinar.train', 'lightning'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
