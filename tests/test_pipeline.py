"""The avatar pipeline (dinar.pipeline): each step, each switch, seeds, several photos, the model folder.

Random-init ``tiny`` networks (stage 1, VQ, diffusion) written once per module to a model folder and
read back with ``from_pretrained``; one synthetic person (1 pose, 4 views at 128²) as the photos.
Steps run with few iterations (what they do does not depend on how many).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dinar.data.layout import list_people, read_mask, read_params, read_rgb
from dinar.nn.avatar_model import AvatarModelConfig, avatar_model_from_body
from dinar.nn.config import preset
from dinar.nn.config_stage23 import stage23_preset
from dinar.nn.diffusion import LatentInpainter
from dinar.nn.vq import TextureVQModel
from dinar.pipeline import (
    AvatarPipeline,
    PipelineOptions,
    apply_color_adjustment,
    fit_color_adjustment,
    save_models,
)
from dinar.pipeline.blending import known_mask
from dinar.pipeline.color_adjust import visible_pixels
from dinar.pipeline.partial import partial_texture, with_occlusion
from dinar.pipeline.photos import render_composite, square_and_resize
from dinar.pipeline.rgb_tuning import RGB, texel_weights, tune_rgb
from dinar.texture.merging import merge_textures

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = PipelineOptions(rgb_tuning_steps=2, lpips_net="alex", diffusion_steps=2, color_adjust_steps=2)
"""Every step on, few iterations of each."""
PLAIN = dataclasses.replace(FAST, rgb_tuning=False, color_adjust=False)
"""Partial texture, inpainting and eq. 6 only."""


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, body) -> Path:
    from dinar.nn import Discriminator

    torch.manual_seed(0)
    stage1 = avatar_model_from_body(AvatarModelConfig(networks=preset("tiny")), body)
    discriminator = Discriminator(stage1.config.networks.discriminator)
    tiny = stage23_preset("tiny")
    vq, inpainter = TextureVQModel(tiny.vq), LatentInpainter(tiny.unet)
    return save_models(tmp_path_factory.mktemp("models") / "tiny", stage1, vq, inpainter, tiny.schedule, discriminator)


@pytest.fixture(scope="module")
def pipe(model_dir, body) -> AvatarPipeline:
    return AvatarPipeline.from_pretrained(model_dir, device="cpu", body=body)


@pytest.fixture(scope="module")
def person(tmp_path_factory, body):
    """Views 0 (front) and 2 (back) of one synthetic person: (images, masks, fits)."""
    from dinar.data.synth import SynthConfig, generate

    root = tmp_path_factory.mktemp("person")
    generate(SynthConfig(people=1, poses=1, views=4, size=128, seed=0), root, progress=False)
    folder = list_people(root)[0]
    stems = ["pose000_view000", "pose000_view002"]
    images = [read_rgb(folder / "rgb" / f"{s}.png") for s in stems]
    masks = [read_mask(folder / "segm" / f"{s}.png") for s in stems]
    fits = [read_params(folder / "params" / f"{s}.json").fit for s in stems]
    return images, masks, fits


@pytest.fixture(scope="module")
def front(pipe, person):
    """The front photo at the model's size and its partial texture (step 1)."""
    images, masks, fits = person
    photo = pipe.prepare_photos(images[0], masks[0], fits[0])[0]
    return photo, partial_texture(pipe.stage1, photo, pipe.layout)


@pytest.fixture(scope="module")
def plain_avatars(pipe, person):
    """One-photo avatars with inpainting (seeds 0, 0, 1) and without, RGB tuning and colour adjustment off."""
    images, masks, fits = person
    run = lambda **kw: pipe(images[0], masks[0], fits[0], dataclasses.replace(PLAIN, **kw), progress=False)
    return {"seed0": run(seed=0), "again": run(seed=0), "seed1": run(seed=1), "none": run(inpainting=False)}


# -- the model folder ------------------------------------------------------------------------------
def test_from_pretrained_reads_the_three_stages(model_dir, pipe):
    from dinar.avatar import file_sha256

    for rel in ("stage1/config.json", "stage1/model.safetensors", "stage1/discriminator/model.safetensors", "stage1/atlas.safetensors", "vq/model.safetensors",
                "diffusion/model.safetensors"):
        assert (model_dir / rel).is_file(), rel
    assert pipe.can_inpaint and not pipe.stage1.training and not pipe.vq.training
    assert pipe.discriminator is not None and not any(p.requires_grad for p in pipe.discriminator.parameters())
    assert pipe.identity.weights_sha256 == file_sha256(model_dir / "stage1" / "model.safetensors")
    assert pipe.identity.source == str(model_dir.resolve())


def test_pipeline_without_stage23_refuses_inpainting_but_makes_avatars(pipe, person, body):
    images, masks, fits = person
    bare = AvatarPipeline(pipe.stage1, body=body)
    with pytest.raises(ValueError, match="inpainting=False"):
        bare(images[0], masks[0], fits[0], FAST, progress=False)
    avatar = bare(images[0], masks[0], fits[0], dataclasses.replace(FAST, inpainting=False), progress=False)
    assert avatar.texture.shape == (21, 64, 64)


def test_a_model_folder_with_an_rgb_space_inpainter_needs_no_vq(pipe, person, body, tmp_path):
    """diffusion/ without vq/ is a complete model folder when the inpainter diffuses the colours; the avatar's
    unseen texels get new colours and keep T_gen; a latent-space inpainter without its VQ is refused."""
    from dinar.pipeline.models import load_models

    torch.manual_seed(0)
    rgb = stage23_preset("rgb")
    folder = save_models(tmp_path / "rgb", pipe.stage1, None, LatentInpainter(rgb.unet), rgb.schedule)
    assert (folder / "diffusion" / "model.safetensors").is_file() and not (folder / "vq").exists()
    colours = AvatarPipeline.from_pretrained(folder, device="cpu", body=body)
    assert colours.can_inpaint and colours.vq is None
    images, masks, fits = person
    avatar = colours(images[0], masks[0], fits[0], PLAIN, progress=False)
    none = colours(images[0], masks[0], fits[0], dataclasses.replace(PLAIN, inpainting=False), progress=False)
    unknown = none.texture[20] < 0.5
    torch.testing.assert_close(avatar.texture[:16], none.texture[:16])  # T_gen as the generator made it (eq. 6 blends it with itself)
    assert (avatar.texture[16:19, unknown] != none.texture[16:19, unknown]).any(0).float().mean() > 0.9
    with pytest.raises(ValueError, match="come together"):
        save_models(tmp_path / "latent", pipe.stage1, None, LatentInpainter(stage23_preset("tiny").unet))
    both = save_models(tmp_path / "both", pipe.stage1, pipe.vq, LatentInpainter(rgb.unet), rgb.schedule)
    assert "vq_state_sha256" not in json.loads((both / "diffusion" / "config.json").read_text())  # it belongs to no VQ
    assert AvatarPipeline.from_pretrained(both, device="cpu", body=body).can_inpaint
    (tmp_path / "bad").mkdir()
    import shutil

    shutil.copytree(folder / "stage1", tmp_path / "bad" / "stage1")
    shutil.copytree(Path(pipe.identity.source) / "diffusion", tmp_path / "bad" / "diffusion")
    with pytest.raises(FileNotFoundError, match="vq"):
        load_models(tmp_path / "bad", torch.device("cpu"), body)


# -- inputs ----------------------------------------------------------------------------------------
def test_padding_and_resizing_keep_the_camera_consistent(person):
    _, _, fits = person
    camera = fits[0].camera
    rgb, mask = torch.rand(3, 128, 96), torch.ones(1, 128, 96)
    from dinar.geometry.camera import Camera

    narrow = Camera(K=camera.K.clone(), R=camera.R, t=camera.t, width=96, height=128)
    big_rgb, big_mask, big = square_and_resize(rgb, mask, narrow, 64)
    assert big_rgb.shape == (1, 3, 64, 64) and big.width == big.height == 64
    points = torch.randn(1, 10, 3) * 0.3
    (before, _), (after, _) = narrow.project(points), big.project(points)
    torch.testing.assert_close(after, (before + torch.tensor([16.0, 0.0])) * 0.5)  # 16 px pad left, 128 → 64
    assert big_mask[..., :, :8].max() == 0 and big_mask[..., :, 8:56].min() == 1  # padding is background


def test_a_camera_for_another_resolution_is_scaled_to_the_photo(pipe, person):
    images, masks, fits = person
    half = dataclasses.replace(fits[0], camera=dataclasses.replace(fits[0].camera, K=fits[0].camera.K * torch.tensor([[0.5], [0.5], [1.0]]), width=64, height=64))
    a = pipe.prepare_photos(images[0], masks[0], fits[0])[0]
    b = pipe.prepare_photos(images[0], masks[0], half)[0]
    torch.testing.assert_close(a.view.camera.K, b.view.camera.K)
    float_image = torch.tensor(images[0]).permute(2, 0, 1).float() / 255
    c = pipe.prepare_photos(float_image, masks[0].astype(np.float32) / 255, fits[0])[0]
    torch.testing.assert_close(a.rgb, c.rgb)
    torch.testing.assert_close(a.mask, c.mask)


# -- step 1: partial texture and the occlusion switch ----------------------------------------------
def test_occlusion_switch_removes_sampled_texels_without_touching_the_model(pipe, front, body):
    photo, with_band = front
    assert pipe.stage1.config.occlusion
    off = with_occlusion(pipe.stage1, False, body)
    without_band = partial_texture(off, photo, pipe.layout)
    assert pipe.stage1.config.occlusion and off.config.occlusion is False  # the shared model is unchanged
    on, plain = with_band.filled > 0.5, without_band.filled > 0.5
    assert on.sum() < plain.sum() and not (on & ~plain).any()  # the band only takes texels away
    # and turning it on for a model built without it gives that model the part colours, not the original
    built_off = avatar_model_from_body(AvatarModelConfig(networks=preset("tiny"), occlusion=False), body)
    turned_on = with_occlusion(built_off, True, body)
    assert turned_on.part_colors is not None and built_off.part_colors is None
    assert (partial_texture(turned_on, photo, pipe.layout).filled > 0.5).sum() < (partial_texture(built_off, photo, pipe.layout).filled > 0.5).sum()


def test_a_loose_fit_widens_the_band_only_with_occlusion_fit(pipe, front, body):
    """With ``occlusion_fit`` the band grows to the fit's silhouette error: the exact fit of the synthetic photo keeps
    the same texels; with its person mask grown 6 px round the body (a loose fit) fewer texels are sampled, and only
    texels the 1-px band kept are taken away."""
    photo, with_band = front
    fitted = with_occlusion(pipe.stage1, True, body, fit_band=True)
    assert not pipe.stage1.config.occlusion_band_fit  # the shared model is unchanged
    torch.testing.assert_close(partial_texture(fitted, photo, pipe.layout).filled, with_band.filled)
    grown = torch.nn.functional.max_pool2d(photo.raster.mask, 13, stride=1, padding=6)
    loose = dataclasses.replace(photo, mask=grown)
    narrow, wide = (partial_texture(m, loose, pipe.layout).filled > 0.5 for m in (pipe.stage1, fitted))
    assert wide.sum() < narrow.sum() and not (wide & ~narrow).any()


def test_partial_texture_layout_and_normal_angles(front):
    _, p = front
    t = p.texture[0]
    assert t.shape == (21, 64, 64)
    torch.testing.assert_close(t[20:21], p.filled[0])  # B_fill is channel 20 in the "both" mode
    assert p.angle.min() >= 0 and p.angle.max() <= 1 and (p.angle > 0).any()
    assert ((p.angle > 0) & (p.filled < 0.5)).sum() < 0.5 * (p.angle > 0).sum()  # what it sees it mostly sampled


# -- step 2: RGB tuning ----------------------------------------------------------------------------
def test_rgb_tuning_lowers_the_input_view_l2_and_moves_only_seen_known_texels(pipe, front):
    photo, p = front
    target = photo.target(pipe.background)
    weights = texel_weights(p.angle, p.filled)
    out = tune_rgb(pipe.stage1, p.texture, weights, target, photo.raster, steps=4, lr=0.05, lpips=None)

    def l2(texture):
        with torch.no_grad():
            fake, _ = render_composite(pipe.stage1, texture, photo.raster.uv, photo.raster.mask, pipe.background)
        return float((fake - target).pow(2).mean())

    assert l2(out.texture) < l2(p.texture)
    assert out.losses[-1] < out.losses[0]
    moved = (out.texture != p.texture).any(1, keepdim=True)
    assert moved.any() and not (moved & (weights == 0)).any()  # unseen or unknown texels stay
    assert torch.equal(out.texture[:, : RGB.start], p.texture[:, : RGB.start])
    assert torch.equal(out.texture[:, RGB.stop :], p.texture[:, RGB.stop :])
    assert all(param.grad is None for param in pipe.stage1.parameters())


def test_rgb_tuning_loss_l2_is_the_l2_term_alone(pipe, front, monkeypatch):
    """``rgb_tuning_loss="l2"`` tunes with 2.2·L2 only: the same texture as tune_rgb without LPIPS and
    discriminator, and the LPIPS network is never built; ``paper`` uses both."""
    photo, p = front
    options = PipelineOptions(rgb_tuning_steps=3, rgb_tuning_loss="l2")
    monkeypatch.setattr(type(pipe), "lpips", lambda self, net: pytest.fail("l2 tuning built LPIPS"))
    tuned = pipe.tune(p, photo, options).texture
    alone = tune_rgb(pipe.stage1, p.texture, texel_weights(p.angle, p.filled), photo.target(pipe.background), photo.raster,
                     steps=3, lr=options.rgb_tuning_lr, lpips=None, discriminator=None, background=pipe.background).texture
    assert torch.equal(tuned, alone)
    monkeypatch.undo()
    paper = pipe.tune(p, photo, dataclasses.replace(options, rgb_tuning_loss="paper")).texture
    assert not torch.equal(paper, alone)
    with pytest.raises(ValueError, match="rgb_tuning_loss"):
        PipelineOptions(rgb_tuning_loss="lpips")


# -- steps 4 and 6: inpainting and eq. 6 -----------------------------------------------------------
def test_inpainting_changes_only_texels_outside_b_fill(plain_avatars, front, pipe):
    _, p = front
    with_inpainting, without = plain_avatars["seed0"].texture, plain_avatars["none"].texture
    torch.testing.assert_close(without, p.texture[0])  # no inpainting: the partial texture as it is
    m = known_mask(p.filled, *PLAIN.blend_radii(64))[0, 0]
    assert m.max() == 1 and m[p.filled[0, 0] < 0.5].max() == 0  # the soft mask lies inside B_fill
    keep = m == 1
    assert torch.equal(with_inpainting[:, keep], without[:, keep])
    unknown = p.filled[0, 0] < 0.5
    assert (with_inpainting[:, unknown] != without[:, unknown]).any(0).float().mean() > 0.9
    border = (m > 0) & (m < 1)
    assert border.any() and (with_inpainting[:, border] != without[:, border]).any()  # blended, not a hard seam


def test_same_seed_same_texture_other_seed_other_inpainting(plain_avatars, front):
    _, p = front
    a, again, other = (plain_avatars[k].texture for k in ("seed0", "again", "seed1"))
    assert torch.equal(a, again)
    unknown = p.filled[0, 0] < 0.5
    assert not torch.equal(a[:, unknown], other[:, unknown])
    keep = known_mask(p.filled, *PLAIN.blend_radii(64))[0, 0] == 1
    assert torch.equal(a[:, keep], other[:, keep])


# -- step 5: colour adjustment ---------------------------------------------------------------------
def test_color_adjustment_starts_at_the_identity_and_fits_a_known_affine_shift(pipe, front):
    photo, p = front
    texture = p.texture
    assert torch.equal(apply_color_adjustment(texture, torch.ones(3), torch.zeros(3)), texture)
    alpha, beta = torch.tensor([0.8, 1.0, 1.1]), torch.tensor([0.1, -0.1, 0.0])
    uv, uv_mask = photo.raster.uv, photo.raster.mask
    with torch.no_grad():
        target, _ = render_composite(pipe.stage1, apply_color_adjustment(texture, alpha, beta), uv, uv_mask, pipe.background)
    pixels = visible_pixels(photo.mask, uv_mask)
    none = fit_color_adjustment(pipe.stage1, texture, target, uv, uv_mask, pixels, steps=0)
    assert torch.equal(none.alpha, torch.ones(3)) and torch.equal(none.beta, torch.zeros(3))
    fit = fit_color_adjustment(pipe.stage1, texture, target, uv, uv_mask, pixels, steps=12, lr=0.03)
    assert fit.losses[-1] < 0.3 * fit.losses[0]
    assert (fit.alpha - alpha).abs().sum() + (fit.beta - beta).abs().sum() < 0.5 * ((1 - alpha).abs().sum() + beta.abs().sum())


def test_every_step_on_makes_a_valid_avatar_and_records_how(pipe, person, plain_avatars):
    images, masks, fits = person
    steps: list[str] = []
    avatar = pipe(images[0], masks[0], fits[0], FAST, progress=False, on_step=steps.append)
    assert avatar.texture.shape == (21, 64, 64) and torch.isfinite(avatar.texture).all()
    assert set(steps) == {"inputs", "partial_texture", "rgb_tuning", "merge", "inpainting", "color_adjust", "blend"}
    assert not torch.equal(avatar.texture, plain_avatars["seed0"].texture)  # tuning and colour adjustment did something
    meta = avatar.metadata
    assert meta["options"]["texture"] == "both" and meta["options"]["rgb_tuning_steps"] == 2
    assert meta["color_adjustment"]["alpha"] != [1.0, 1.0, 1.0] and meta["adversarial_tuning"]
    assert meta["sources"][0]["width"] == 128 and len(meta["sources"][0]["sha256"]) == 64
    assert avatar.is_bound and avatar.checkpoint.matches(pipe.identity)


def test_every_switch_off_still_makes_a_valid_avatar(pipe, person, front):
    images, masks, fits = person
    off = PipelineOptions(occlusion=False, rgb_tuning=False, inpainting=False, color_adjust=False)
    avatar = pipe(images[0], masks[0], fits[0], off, progress=False)
    assert avatar.texture.shape == (21, 64, 64) and torch.isfinite(avatar.texture).all()
    assert (avatar.texture[20] > 0.5).sum() > (front[1].filled > 0.5).sum()  # no occlusion band: more texels sampled
    frames = avatar.render(fits[0].pose, fits[0].camera, fits[0].global_orient, fits[0].transl)
    assert frames.image.shape == (1, 3, 128, 128)


# -- step 3: several photos ------------------------------------------------------------------------
def test_several_photos_merge_by_eq5_with_the_union_of_b_fill(pipe, person):
    images, masks, fits = person
    photos = pipe.prepare_photos(images, masks, fits)
    partials = [partial_texture(pipe.stage1, ph, pipe.layout) for ph in photos]
    known, filled = pipe.merge(partials, tau=0.1)
    reference = merge_textures(torch.cat([q.texture for q in partials]), torch.cat([q.angle for q in partials]),
                               valid=torch.cat([q.filled for q in partials]), tau=0.1)
    torch.testing.assert_close(known[0], reference.texture)
    union = torch.maximum(partials[0].filled, partials[1].filled)
    torch.testing.assert_close(filled, union)
    assert union.sum() > max(q.filled.sum() for q in partials)
    avatar = pipe(images, masks, fits, dataclasses.replace(PLAIN, inpainting=False), progress=False)
    torch.testing.assert_close(avatar.texture, known[0])
    assert len(avatar.metadata["sources"]) == 2


# -- options ---------------------------------------------------------------------------------------
def test_texture_mode_must_match_the_checkpoint(pipe, person):
    images, masks, fits = person
    with pytest.raises(ValueError, match="trained with texture='both'.*pass a checkpoint trained with that mode"):
        pipe(images[0], masks[0], fits[0], PipelineOptions(texture="rgb"), progress=False)
    with pytest.raises(ValueError, match="texture must be one of"):
        PipelineOptions(texture="colour")
    assert PipelineOptions().blend_radii(64) == (0, 1) and PipelineOptions(blend_erode=2).blend_radii(256) == (2, 2)


@pytest.mark.parametrize("mode", ["rgb", "neural"])
def test_ablation_checkpoints_make_avatars_in_their_own_layout(body, person, mode):
    images, masks, fits = person
    torch.manual_seed(0)
    stage1 = avatar_model_from_body(AvatarModelConfig(networks=preset("tiny"), texture=mode), body)
    avatar = AvatarPipeline(stage1, body=body)(images[0], masks[0], fits[0], dataclasses.replace(FAST, inpainting=False, texture=mode),
                                               progress=False)
    zero = slice(0, 16) if mode == "rgb" else slice(16, 21)
    assert (avatar.texture[zero] == 0).all() and (avatar.texture != 0).any()
    assert avatar.metadata["texture_mode"] == mode


def test_mismatched_inputs_are_refused(pipe, person):
    images, masks, fits = person
    with pytest.raises(ValueError, match="as many masks and fits"):
        pipe(images, masks[:1], fits, PLAIN, progress=False)
    with pytest.raises(ValueError, match="mask is"):
        pipe(images[0], np.zeros((64, 64), np.uint8), fits[0], PLAIN, progress=False)
