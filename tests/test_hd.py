"""The ``hd`` preset's pieces (paper resolution at tiny cost): networks smaller than the image and the
texture (E downscales, G upsamples, D judges patches), patch training, a trained tiny model as a start,
textures shrunk for the inpainting stages and grown back, θ on the body's box only, tiles for the
steps that compare renders with photos, and a GLB texture padded past every chart."""

from __future__ import annotations

import dataclasses

import lightning as L
import pytest
import torch
from test_avatar_model import MICRO, make_stage1_dataset
from torch.utils.data import DataLoader, Subset

from dinar.data.datasets import FramePairDataset
from dinar.losses.crops import body_patches
from dinar.nn.avatar_model import (
    AvatarModel,
    AvatarModelConfig,
    avatar_model_from_body,
    crop_patches,
)
from dinar.nn.config import (
    DiscriminatorConfig,
    EncoderConfig,
    GeneratorConfig,
    preset,
)
from dinar.pipeline.photos import body_tiles
from dinar.texture.resize import grow_texture, shrink_angles, shrink_texture
from dinar.train.stage1 import Stage1Module, stage1_train_preset

# MICRO with a 2x smaller E input, G output and D input: the hd preset's shape, at test size.
PATCHED = dataclasses.replace(
    MICRO, name="micro-patched",
    encoder=EncoderConfig(image_size=32, code_dim=32, channel_base=512, channel_max=16),
    generator=GeneratorConfig(texture_size=16, style_dim=32, channel_base=512, channel_max=16),
    discriminator=DiscriminatorConfig(image_size=32, channel_base=512, channel_max=16),
)


def test_hd_preset_has_tiny_networks_at_paper_resolution():
    hd, tiny = preset("hd"), preset("tiny")
    assert (hd.image_size, hd.texture_size) == (512, 256)  # the paper's 512² renders from 256² textures
    assert (hd.encoder_size, hd.neural_texture_size, hd.patch_size) == (128, 64, 128)
    for part in ("encoder", "generator", "renderer", "discriminator"):
        assert getattr(hd, part) == getattr(tiny, part), part  # a trained tiny model can start it


def test_network_sizes_must_divide_the_image_and_texture():
    with pytest.raises(ValueError, match="must divide"):
        dataclasses.replace(PATCHED, encoder=EncoderConfig(image_size=48, code_dim=32, channel_base=512, channel_max=16))
    with pytest.raises(ValueError, match="must divide"):
        dataclasses.replace(MICRO, discriminator=DiscriminatorConfig(image_size=128, channel_base=512, channel_max=16))


def test_shrink_texture_by_hand():
    """One 2x2 block per coarse texel: RGB averaged over the known texels only, B_fill by majority."""
    t = torch.zeros(1, 21, 4, 4)
    t[0, :16] = 0.5  # T_gen
    t[0, 16, 0, 0], t[0, 16, 0, 1], t[0, 16, 1, 0] = 0.2, 0.4, 0.6  # red of three known texels of block (0, 0)
    t[0, 20, 0, 0] = t[0, 20, 0, 1] = t[0, 20, 1, 0] = 1  # their B_fill
    t[0, 19, 0, 0] = 1  # one B_smp
    t[0, 16, 2, 2] = 0.9  # block (1, 1): one known texel of four
    t[0, 20, 2, 2] = 1
    small = shrink_texture(t, 2)
    assert small.shape == (1, 21, 2, 2)
    assert torch.allclose(small[0, :16], torch.full((16, 2, 2), 0.5))
    assert small[0, 16, 0, 0].item() == pytest.approx(0.4)  # (0.2 + 0.4 + 0.6) / 3, not / 4
    assert small[0, 20].tolist() == [[1.0, 0.0], [0.0, 0.0]]  # 3/4 known -> known; 1/4 -> unknown
    assert small[0, 16, 1, 1].item() == 0.0  # an unknown coarse texel carries no colour
    assert small[0, 19].tolist() == [[0.0, 0.0], [0.0, 0.0]]  # 1/4 sampled is not a sample
    assert shrink_angles(torch.arange(16.0).view(1, 1, 4, 4), 2)[0, 0].tolist() == [[2.5, 4.5], [10.5, 12.5]]
    assert grow_texture(small, 4).shape == (1, 21, 4, 4)
    assert shrink_texture(t, 4) is t
    with pytest.raises(ValueError, match="divisor"):
        shrink_texture(t, 3)


def test_patches_show_the_person_and_stay_inside():
    mask = torch.zeros(3, 1, 64, 64)
    mask[0, :, 40:50, 50:60] = 1
    mask[1, :, 0:4, 0:4] = 1  # in a corner: the patch is moved inside
    g = torch.Generator().manual_seed(0)
    corners = body_patches(mask, 16, g)
    assert corners.shape == (3, 2)
    assert (corners >= 0).all() and (corners <= 64 - 16).all()
    cut = crop_patches(mask, corners, 16)
    assert cut[0].sum() > 0 and cut[1].sum() > 0  # the person is in the patch
    face = torch.tensor([[0.0, 0.0, 10.0, 10.0]] * 3)
    assert body_patches(mask, 16, g, face, face_share=1.0).tolist() == [[0, 0]] * 3  # centred on the face box


def test_tiles_cover_the_persons_box():
    mask = torch.zeros(1, 1, 64, 64)
    mask[0, 0, 10:50, 20:30] = 1
    tiles = body_tiles(mask, 16)
    covered = torch.zeros(64, 64)
    for x, y in tiles:
        covered[y : y + 16, x : x + 16] = 1
    assert covered[10:50, 20:30].all()
    assert len(tiles) == 3 * 1  # 40 rows / 16 -> 3, 10 columns -> 1
    assert body_tiles(mask, 64) == [(0, 0)]


@pytest.fixture(scope="module")
def stage1_data(tmp_path_factory):
    return make_stage1_dataset(tmp_path_factory.getbasetemp() / "stage1_synth")


def first_pair(data, body, size: int) -> tuple[dict, dict]:
    """The first training pair at ``size``²: (input, target), each with its posed body as ``view``."""
    from dinar.train import common

    batch = next(iter(DataLoader(FramePairDataset(data, split="train"), batch_size=1)))
    frames = [common.resize_frame(batch[k], size) for k in ("input", "target")]
    return tuple({**f, "view": common.frame_view(body, f)} for f in frames)


def test_patched_model_builds_a_full_texture_and_renders_patches(body, stage1_data):
    torch.manual_seed(0)
    model = avatar_model_from_body(AvatarModelConfig(networks=PATCHED), body).eval()
    inp, tgt = first_pair(stage1_data, body, 64)
    with torch.no_grad():
        nt = model.build_texture(inp["rgb"], inp["mask"], inp["view"])
        assert nt.texture.shape == (1, 21, 32, 32)  # T at the texture size, T_gen upsampled from 16²
        assert nt.generated.shape == (1, 16, 32, 32)
        corners = torch.tensor([[8, 16]])
        patch = model.render(nt.texture, tgt["view"], corners)
        whole = model.render(nt.texture, tgt["view"])
    assert patch.render.rgb.shape == (1, 3, 32, 32)
    assert torch.equal(patch.rasterized, crop_patches(whole.rasterized, corners, 32))  # the whole view's inputs, cut


def test_render_frames_runs_the_renderer_on_the_bodys_box_only(body, stage1_data):
    """The same picture as θ on the whole frame, up to θ's border effects (the shipped model)."""
    from dinar.weights import default_model_dir
    from dinar.weights.networks import load_stage1_model, stage1_dir

    model: AvatarModel = load_stage1_model(stage1_dir(default_model_dir()), body)
    inp, tgt = first_pair(stage1_data, body, model.config.image_size)
    with torch.no_grad():
        nt = model.build_texture(inp["rgb"], inp["mask"], inp["view"])
        full = model.render(nt.texture, tgt["view"]).render
        boxed = model.render_frames(nt.texture, tgt["view"])
    over_white = [(r.rgb + 1) / 2 * r.mask + (1 - r.mask) for r in (full, boxed)]
    diff = (over_white[0] - over_white[1]).abs()
    assert diff.mean() < 2e-3 and diff.amax() < 0.1, (float(diff.mean()), float(diff.amax()))


def test_patch_training_step_runs_and_starts_from_another_run(tmp_path, body, stage1_data):
    """Two patch-trained iterations (θ on 32² patches of 64² frames), then a new run initialised from their export."""
    from dinar.train.stage1 import export_avatar_model

    data = stage1_data
    cfg = stage1_train_preset("tiny", networks=PATCHED, num_workers=0, image_every=0, steps=2, batch_size=2)
    assert cfg.patches and cfg.resolved_lpips_crop == 32 and cfg.resolved_face_size == 16
    L.seed_everything(0, verbose=False)
    module = Stage1Module(cfg)
    pairs = Subset(FramePairDataset(data, split="train"), [0, 1, 2, 3])
    trainer = L.Trainer(accelerator="cpu", max_steps=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.fit(module, train_dataloaders=DataLoader(pairs, batch_size=2))
    assert module.iteration == 2
    export_avatar_model(module.model, tmp_path / "run", discriminator=module.discriminator)
    started = Stage1Module(dataclasses.replace(cfg, init_from=str(tmp_path / "run")))
    for (name, a), b in zip(module.model.state_dict().items(), started.model.state_dict().values()):
        assert torch.equal(a, b), name
    with pytest.raises(ValueError, match="shapes"):
        Stage1Module(stage1_train_preset("tiny", networks=MICRO, num_workers=0, init_from=str(tmp_path / "run")))


def test_glb_texture_is_at_least_512_and_padded_past_every_chart():
    """Light texels between charts (what the VQ decoder leaves there) must not reach a chart's edge."""
    from types import SimpleNamespace

    import torch.nn.functional as F

    from dinar.export.avatar_glb import avatar_rgb_texture
    from dinar.geometry.texture_lookup import uv_layout
    from dinar.weights import default_model_dir
    from dinar.weights.networks import read_atlas, stage1_dir

    face_uvs = read_atlas(stage1_dir(default_model_dir())).face_uvs
    size = 64
    inside = uv_layout(face_uvs, size).mask[0]  # [1, S, S]
    texture = torch.zeros(21, size, size)
    texture[16:19] = torch.where(inside > 0, torch.tensor(-0.6), torch.tensor(1.0))  # dark charts, white between
    image = avatar_rgb_texture(SimpleNamespace(texture=texture, model=SimpleNamespace(face_uvs=face_uvs)), scale=2)
    assert image.shape == (512, 512, 3)  # 64 * 2 = 128 < 512: upsampled to 512
    charts = uv_layout(face_uvs, 512).mask[0, 0] > 0
    near = F.max_pool2d(charts[None, None].float(), 5, stride=1, padding=2)[0, 0] > 0  # within 2 texels of a chart
    dark = round((1 - 0.6) * 127.5)
    assert abs(int(image[charts.numpy()].max()) - dark) <= 2  # the charts keep their colour
    assert int(image[near.numpy()].max()) <= dark + 2  # and so does their border: no light seam
