"""The stage-1 avatar model (nn/avatar_model.py): image + fit → 21-channel T → render in another view.

Runs on a handful of synthetic people (dinar.data.synth at 128², made once per session) with a
``micro`` network config (64² images, 32² textures) so each forward takes milliseconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from dinar.nn.avatar_model import (
    AvatarModelConfig,
    avatar_model_from_body,
    head_vertex_indices,
)
from dinar.nn.config import (
    DiscriminatorConfig,
    EncoderConfig,
    GeneratorConfig,
    RendererConfig,
    Stage1Config,
)

MICRO = Stage1Config(
    name="micro",
    image_size=64,
    texture_size=32,
    encoder=EncoderConfig(image_size=64, code_dim=32, channel_base=512, channel_max=16),
    generator=GeneratorConfig(texture_size=32, style_dim=32, channel_base=512, channel_max=16),
    renderer=RendererConfig(ngf=8, n_blocks=1, outer_kernel=3, head_channels=8, rgb_head_convs=1, mask_head_convs=1),
    discriminator=DiscriminatorConfig(image_size=64, channel_base=512, channel_max=16),
)
"""Networks small enough for tests (not a shipped preset)."""


def make_stage1_dataset(root: Path) -> Path:
    """3 synthetic people x 2 poses x 2 views at 128² (once per session): p0, p1 train, p2 val."""
    if (root / "splits.json").is_file():
        return root
    from dinar.data.synth import SynthConfig, generate, person_id

    generate(SynthConfig(people=3, poses=2, views=2, size=128, seed=0), root, progress=False)
    ids = [person_id(0, i) for i in range(3)]
    (root / "splits.json").write_text(json.dumps({"train": ids[:2], "val": ids[2:], "test": []}))
    return root


@pytest.fixture(scope="session")
def stage1_data(tmp_path_factory) -> Path:
    return make_stage1_dataset(tmp_path_factory.getbasetemp() / "stage1_synth")


@pytest.fixture(scope="module")
def pair_batch(stage1_data, body):
    """One batch of 4 (input, target) pairs, resized to the micro size, with their body views."""
    from dinar.data.datasets import FramePairDataset
    from dinar.train.common import frame_view, resize_frame

    ds = FramePairDataset(stage1_data, split="train")
    batch = next(iter(DataLoader(ds, batch_size=4, shuffle=False)))
    inp = resize_frame(batch["input"], MICRO.image_size)
    tgt = resize_frame(batch["target"], MICRO.image_size)
    return inp, frame_view(body, inp), tgt, frame_view(body, tgt)


def build(body, texture="both", occlusion=True, seed=0):
    torch.manual_seed(seed)
    return avatar_model_from_body(AvatarModelConfig(networks=MICRO, texture=texture, occlusion=occlusion), body)


def test_texture_channels_follow_the_ablation_switch(body, pair_batch):
    inp, in_view, _, _ = pair_batch
    textures = {}
    for mode in ("both", "rgb", "neural"):
        model = build(body, mode).eval()
        with torch.no_grad():
            t = model.build_texture(inp["rgb"], inp["mask"], in_view)
        assert t.texture.shape == (4, 21, 32, 32), mode
        assert t.texture.dtype == torch.float32
        assert t.sample.filled.sum() > 0  # Algorithm 1 runs in every mode (B_fill is needed later)
        textures[mode] = (model, t)
    # both: T = T_gen ⊕ T_rgb ⊕ B_smp ⊕ B_fill (paper eq. 2)
    _, t = textures["both"]
    assert torch.equal(t.texture[:, :16], t.generated)
    assert torch.equal(t.texture[:, 16:19], t.sample.rgb)
    assert torch.equal(t.texture[:, 19:20], t.sample.sampled) and torch.equal(t.texture[:, 20:21], t.sample.filled)
    # rgb: T_gen channels zero, no E and G at all
    model, t = textures["rgb"]
    assert model.encoder is None and model.generator is None and t.generated is None and t.code is None
    assert not t.texture[:, :16].any() and torch.equal(t.texture[:, 16:], textures["both"][1].texture[:, 16:])
    n_rgb = sum(p.numel() for p in model.parameters())
    assert n_rgb == sum(p.numel() for p in textures["both"][0].renderer.parameters())
    # neural: the five RGB-derived channels zero, T_gen kept
    _, t = textures["neural"]
    assert not t.texture[:, 16:].any() and t.texture[:, :16].abs().sum() > 0
    # renderer input is always the 21-channel layout
    assert all(m.renderer.config.texture_channels == 21 for m, _ in textures.values())


def test_forward_renders_the_target_view(body, pair_batch):
    inp, in_view, tgt, tgt_view = pair_batch
    model = build(body).eval()
    with torch.no_grad():
        out = model(inp["rgb"], inp["mask"], in_view, tgt_view)
    assert out.render.rgb.shape == (4, 3, 64, 64) and out.render.mask.shape == (4, 1, 64, 64)
    assert out.target.rasterized.shape == (4, 21, 64, 64)
    # the rasterized texture is zero off the body, and the body is where the target's person is
    off_body = out.target.raster.mask == 0
    assert not out.target.rasterized.masked_select(off_body).any()
    overlap = (out.target.raster.mask * (tgt["mask"] > 0.5)).sum() / out.target.raster.mask.sum()
    assert overlap > 0.8
    # hard mask: the body itself is always foreground
    assert (out.render.mask >= out.target.raster.mask - 1e-6).all()
    # the RGB channels rasterized in the target view resemble the target photo where both see the body
    both = (out.target.rasterized[:, 20:21] > 0.99) & (tgt["mask"] > 0.99)
    err = (out.target.rasterized[:, 16:19] - tgt["rgb"]).abs().mean(1, keepdim=True)[both]
    assert err.numel() > 100 and err.median() < 0.35


def test_eval_is_deterministic_train_draws_noise(body, pair_batch):
    inp, in_view, _, tgt_view = pair_batch
    model = build(body)
    with torch.no_grad():
        model.eval()
        a = model(inp["rgb"], inp["mask"], in_view, tgt_view).render.rgb
        b = model(inp["rgb"], inp["mask"], in_view, tgt_view).render.rgb
        model.train()
        t1 = model.build_texture(inp["rgb"], inp["mask"], in_view).generated
        t2 = model.build_texture(inp["rgb"], inp["mask"], in_view).generated
    assert torch.equal(a, b)
    assert not torch.equal(t1, t2)


def test_gradients_reach_every_network_not_the_geometry(body, pair_batch):
    inp, in_view, _, tgt_view = pair_batch
    model = build(body).train()
    out = model(inp["rgb"], inp["mask"], in_view, tgt_view)
    assert not out.target.raster.uv.requires_grad and not out.texture.sampled_pixels.requires_grad
    assert not out.texture.sample.rgb.requires_grad  # sampled from the data image
    (out.render.rgb.square().mean() + out.render.mask_logits.mean()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    for net in (model.encoder, model.generator, model.renderer):
        assert sum(p.grad.abs().sum() for p in net.parameters()) > 0


def test_occlusion_switch_only_removes_pixels(body, pair_batch):
    inp, in_view, _, _ = pair_batch
    with torch.no_grad():
        on = build(body, occlusion=True).eval().build_texture(inp["rgb"], inp["mask"], in_view).sampled_pixels
        off = build(body, occlusion=False).eval().build_texture(inp["rgb"], inp["mask"], in_view).sampled_pixels
    assert (on <= off).all()
    # without the band: every pixel on the body and inside the person mask is used
    raster = build(body, occlusion=False).uv_render(in_view)
    assert torch.equal(off, raster.mask * (inp["mask"] > 0.5).float())


def test_face_boxes_hold_the_projected_head(body, pair_batch):
    _, _, _, tgt_view = pair_batch
    model = build(body)
    boxes = model.face_boxes(tgt_view)
    assert boxes.shape == (4, 4)
    pix, _ = tgt_view.camera.project(tgt_view.vertices[:, head_vertex_indices(body)])
    side = boxes[:, 2] - boxes[:, 0]
    assert torch.allclose(side, boxes[:, 3] - boxes[:, 1])  # square
    inside = (pix[..., 0] >= boxes[:, None, 0] - 1e-3) & (pix[..., 0] <= boxes[:, None, 2] + 1e-3)
    inside &= (pix[..., 1] >= boxes[:, None, 1] - 1e-3) & (pix[..., 1] <= boxes[:, None, 3] + 1e-3)
    assert inside.float().mean() > 0.99
    assert (side < 64 / 2).all()  # a head, not the whole body


def test_batch1_texture_renders_in_many_views(body, pair_batch):
    inp, in_view, _, tgt_view = pair_batch
    model = build(body).eval()
    with torch.no_grad():
        t = model.build_texture(inp["rgb"][:1], inp["mask"][:1], type(in_view)(in_view.vertices[:1], in_view.camera[:1]))
        r = model.render(t.texture, tgt_view)
    assert r.render.rgb.shape == (4, 3, 64, 64)


def test_bf16_autocast_keeps_geometry_in_float32(body, pair_batch):
    inp, in_view, _, tgt_view = pair_batch
    model = build(body).eval()
    with torch.no_grad():
        ref = model(inp["rgb"], inp["mask"], in_view, tgt_view)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(inp["rgb"], inp["mask"], in_view, tgt_view)
    assert out.target.raster.uv.dtype == torch.float32 and out.texture.texture.dtype == torch.float32
    assert torch.equal(out.target.raster.uv, ref.target.raster.uv)
    assert torch.equal(out.texture.sample.rgb, ref.texture.sample.rgb)
    assert (out.render.rgb.float() - ref.render.rgb).abs().mean() < 0.1
