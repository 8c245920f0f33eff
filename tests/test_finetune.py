"""End-to-end fine-tuning of stage 1 through the frozen VQ (train/finetune.py): the renderer sees
D_VQ(quantize(E_VQ(T))) with gradients reaching T, eq. 6 keeps the known texels when asked, and a
2-step run through the CLI exports a loadable stage-1 model whose renderer moved while the VQ did not."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_avatar_model import MICRO, make_stage1_dataset
from torch.utils.data import DataLoader

from dinar.commands.train_finetune import add_arguments as add_finetune_arguments
from dinar.commands.train_finetune import run as cli_finetune
from dinar.data.datasets import FramePairDataset
from dinar.nn import Discriminator
from dinar.nn.avatar_model import AvatarModelConfig, avatar_model_from_body
from dinar.nn.config_stage23 import FILL_CHANNEL, VQConfig
from dinar.nn.vq import TextureVQModel, decode_latent, encode_texture
from dinar.train.finetune import (
    FinetuneModule,
    through_vq,
)
from dinar.train.stage1 import (
    export_avatar_model,
    stage1_train_preset,
)
from dinar.weights.format import CONFIG_FILE
from dinar.weights.networks import DISCRIMINATOR_DIR, load_vq, save_vq
from dinar.weights.networks import load_stage1_model as load_avatar_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MICRO_VQ = VQConfig(texture_size=MICRO.texture_size, num_embeddings=32, block_out_channels=(8, 16), layers_per_block=1,
                    norm_num_groups=8, mid_block_attention=False)


def micro_config(**overrides):
    base = {"networks": MICRO, "num_workers": 0, "image_every": 0}
    base.update(overrides)
    return stage1_train_preset("tiny", **base)


@pytest.fixture(scope="module")
def stage1_data(tmp_path_factory) -> Path:
    return make_stage1_dataset(tmp_path_factory.getbasetemp() / "stage1_synth")


@pytest.fixture(scope="module")
def vq_dir(tmp_path_factory) -> Path:
    torch.manual_seed(1)
    run = tmp_path_factory.mktemp("vq_run")
    save_vq(TextureVQModel(MICRO_VQ), run)
    return run


@pytest.fixture(scope="module")
def stage1_dir(tmp_path_factory, body) -> Path:
    torch.manual_seed(0)
    model = avatar_model_from_body(AvatarModelConfig(networks=MICRO), body)
    directory = tmp_path_factory.mktemp("stage1_run")
    export_avatar_model(model, directory, train_config=micro_config(), step=7, discriminator=Discriminator(MICRO.discriminator))
    return directory


def random_texture(batch: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    t = torch.randn(batch, 21, MICRO.texture_size, MICRO.texture_size, generator=g)
    t[:, FILL_CHANNEL] = (torch.rand(batch, MICRO.texture_size, MICRO.texture_size, generator=g) > 0.5).float()
    return t


def test_through_vq_is_decode_of_the_quantized_encoding_with_straight_through_gradients(vq_dir):
    vq = load_vq(vq_dir)
    texture = random_texture().requires_grad_(True)
    seen = through_vq(vq, texture)
    expected = decode_latent(vq, encode_texture(vq, texture.detach()), quantize=False)
    torch.testing.assert_close(seen.detach(), expected)
    seen.square().mean().backward()
    assert texture.grad is not None and texture.grad.abs().sum() > 0  # the quantizer lets the gradient through

    known = through_vq(vq, texture.detach(), keep_known=True)
    fill = texture.detach()[:, FILL_CHANNEL : FILL_CHANNEL + 1].expand_as(known) > 0.5
    torch.testing.assert_close(known[fill], texture.detach()[fill])  # eq. 6: known texels kept
    torch.testing.assert_close(known[~fill], expected[~fill])  # the rest from the VQ


def test_the_renderer_sees_the_vq_decoded_texture(stage1_data, vq_dir, body):
    module = FinetuneModule(micro_config(batch_size=2), load_vq(vq_dir))
    seen: dict[str, torch.Tensor] = {}
    build, render = module.model.build_texture, module.model.render

    def spy_build(*a, **k):
        out = build(*a, **k)
        seen["T"] = out.texture.detach().clone()
        return out

    def spy_render(texture, view, patches=None):
        seen["rendered"] = texture.detach().clone()
        return render(texture, view, patches)

    module.model.build_texture, module.model.render = spy_build, spy_render
    batch = next(iter(DataLoader(FramePairDataset(stage1_data, split="train"), batch_size=2)))
    _, _, out, fake, _ = module.render_pair(batch)
    with torch.no_grad():
        expected = decode_latent(module.vq(), encode_texture(module.vq(), seen["T"]), quantize=False)
    torch.testing.assert_close(seen["rendered"], expected)
    torch.testing.assert_close(out.texture.texture.detach(), seen["rendered"])  # what the renderer saw
    assert not torch.allclose(seen["rendered"], seen["T"])
    assert fake.requires_grad and all(not p.requires_grad for p in module.vq().parameters())
    assert not any(n.startswith("_vq") or "vq." in n for n in module.state_dict())  # VQ stays out of checkpoints


def test_mismatched_vq_is_refused():
    other = TextureVQModel(VQConfig(texture_size=2 * MICRO.texture_size, num_embeddings=8, block_out_channels=(8, 16),
                                    layers_per_block=1, norm_num_groups=8, mid_block_attention=False))
    with pytest.raises(ValueError, match="VQ takes"):
        FinetuneModule(micro_config(), other)


def test_two_step_cli_run_exports_a_tuned_stage1_and_leaves_the_vq_alone(stage1_data, stage1_dir, vq_dir, tmp_path, body):
    vq_before = load_file(str(vq_dir / "model.safetensors"))
    parser = argparse.ArgumentParser()
    add_finetune_arguments(parser)
    out = tmp_path / "tuned"
    args = parser.parse_args(["--data", str(stage1_data), "--stage1", str(stage1_dir), "--vq", str(vq_dir), "--out", str(out),
                              "--steps", "2", "--batch-size", "2", "--device", "cpu", "--num-workers", "0"])
    assert cli_finetune(args) == 0

    tuned = load_avatar_model(out, body=body)
    source = load_avatar_model(stage1_dir, body=body)
    assert (out / DISCRIMINATOR_DIR / "model.safetensors").is_file()
    moved = [k for k, v in tuned.renderer.state_dict().items() if not torch.equal(v, source.renderer.state_dict()[k])]
    assert moved, "the renderer did not train"
    assert any(not torch.equal(v, source.state_dict()[k]) for k, v in tuned.state_dict().items() if k.startswith("generator."))

    vq_after = load_file(str(vq_dir / "model.safetensors"))
    assert vq_before.keys() == vq_after.keys() and all(torch.equal(vq_before[k], vq_after[k]) for k in vq_before)

    doc = json.loads((out / CONFIG_FILE).read_text())
    assert doc["step"] == 2
    assert doc["train_config"]["lr"] == pytest.approx(0.1 * micro_config().lr)
    info = json.loads((out / "finetune.json").read_text())
    assert info["iterations"] == 2 and info["vq"] == str((vq_dir / "model.safetensors").resolve()) and not info["keep_known"]
