"""Stage 3: the latent DDPM inpainter (diffusers UNet2DModel + DDPM/DDIM), conditioning plumbing,
reproducible sampling, eq. 6 after decoding, EMA, a few training steps, the Lightning run."""

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F

from dinar.losses.diffusion import diffusion_loss
from dinar.nn.config_stage23 import NoiseScheduleConfig, UNetConfig, stage23_preset
from dinar.nn.diffusion import (
    LatentInpainter,
    drop_condition,
    guided_prediction,
    inpaint_latent,
    inpaint_texture,
    make_condition,
    make_scheduler,
    mirror_gather,
    position_map,
    resize_fill_mask,
    restore_latent_texture,
)
from dinar.nn.vq import TextureVQModel, decode_latent, encode_texture
from dinar.train.ema import EMAShadow

TINY = stage23_preset("tiny")


pytestmark = pytest.mark.usefixtures("one_torch_thread")
# A still smaller denoiser for the optimization test (same block types, 8² latents).
MINI = UNetConfig(latent_size=8, block_out_channels=(16, 32, 32), layers_per_block=1, attention=(False, True, True),
                  attention_head_dim=16, dropout=0.0, norm_num_groups=8)


def test_paper_unet_config_and_block_types():
    paper = stage23_preset("paper").unet
    assert paper.in_channels == 13 and paper.condition_channels == 7 and paper.latent_channels == 6
    assert paper.block_out_channels == (256, 512, 768, 1024) and paper.dropout == 0.5 and sum(paper.attention) == 3
    model = LatentInpainter(TINY.unet)
    unet = model.unet
    assert unet.config.in_channels == 13 and unet.config.out_channels == 6
    assert unet.config.resnet_time_scale_shift == "scale_shift"
    names = [type(b).__name__ for b in unet.down_blocks]
    assert names == ["ResnetDownsampleBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"]
    assert [type(b).__name__ for b in unet.up_blocks] == ["AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "ResnetUpsampleBlock2D"]
    # BigGAN-style: every resolution change is a residual block (resnet down/up-sampling), not a bare conv.
    down = [d for b in unet.down_blocks for d in (b.downsamplers or [])]
    up = [u for b in unet.up_blocks for u in (b.upsamplers or [])]
    assert len(down) == len(up) == 3 and all(type(m).__name__ == "ResnetBlock2D" for m in down + up)
    assert all(r.dropout.p == TINY.unet.dropout for b in unet.down_blocks for r in b.resnets)


def test_condition_is_latent_plus_bilinearly_resized_fill_mask():
    latent = torch.randn(2, 6, 16, 16)
    fill = torch.zeros(2, 1, 64, 64)
    fill[0, :, :, :32] = 1  # left half known
    cond = make_condition(latent, fill, latent_scale=2.0)
    assert cond.shape == (2, 7, 16, 16)
    torch.testing.assert_close(cond[:, :6], 2.0 * latent)
    expected = F.interpolate(fill, size=(16, 16), mode="bilinear", align_corners=False, antialias=True)
    torch.testing.assert_close(cond[:, 6:], expected)
    assert (cond[0, 6, :, :7] - 1).abs().max() < 1e-5 and cond[0, 6, :, 9:].abs().max() < 1e-5 and (cond[1, 6] == 0).all()
    edge = cond[0, 6, 0, 7:9]
    assert ((edge > 0) & (edge < 1)).all()  # a soft border, as a bilinear filter gives
    assert resize_fill_mask(torch.ones(1, 1, 16, 16), 16).shape == (1, 1, 16, 16)
    model = LatentInpainter(TINY.unet)
    out = model(torch.randn(2, 6, 16, 16), torch.tensor([3, 900]), cond)
    assert out.noise.shape == (2, 6, 16, 16)
    with pytest.raises(ValueError, match="condition"):
        model(torch.randn(2, 6, 16, 16), torch.tensor([3, 900]), cond[:, :6])


def test_schedulers_share_the_linear_betas():
    cfg = NoiseScheduleConfig()
    ddpm, ddim = make_scheduler(cfg, "ddpm"), make_scheduler(cfg, "ddim")
    assert ddpm.config.num_train_timesteps == 1000 and not ddpm.config.clip_sample
    torch.testing.assert_close(ddpm.betas, torch.linspace(3e-4, 2e-2, 1000))
    torch.testing.assert_close(ddim.alphas_cumprod, ddpm.alphas_cumprod)
    ddim.set_timesteps(10)
    assert len(ddim.timesteps) == 10 and int(ddim.timesteps[0]) == 999
    with pytest.raises(ValueError):
        make_scheduler(cfg, "euler")


@pytest.mark.parametrize("kind", ["ddpm", "ddim"])
def test_sampling_with_a_seed_is_reproducible_and_takes_m_steps(kind):
    torch.manual_seed(0)
    model = LatentInpainter(MINI).eval()
    model.latent_scale.fill_(0.5)
    calls = []
    model.unet.register_forward_hook(lambda *_: calls.append(1))
    sched = make_scheduler(NoiseScheduleConfig(), kind)
    cond, fill = torch.randn(2, 6, 8, 8), (torch.rand(2, 1, 32, 32) > 0.5).float()
    a = inpaint_latent(model, sched, cond, fill, steps=7, generator=torch.Generator().manual_seed(3))
    assert len(calls) == 7 and a.shape == (2, 6, 8, 8) and torch.isfinite(a).all()
    b = inpaint_latent(model, sched, cond, fill, steps=7, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    c = inpaint_latent(model, sched, cond, fill, steps=7, generator=torch.Generator().manual_seed(4))
    assert not torch.equal(a, c)
    assert sched.num_inference_steps is None  # the caller's scheduler is left untouched


def test_a_fill_start_runs_the_last_steps_from_the_noised_start():
    """SDEdit: strength s runs round(M·s) of M DDIM steps from the start noised to the first of them; a
    denoiser that predicts the start's own noise exactly gives the start back, and a weak start noise keeps it."""
    torch.manual_seed(0)
    model = LatentInpainter(MINI).eval()
    calls = []
    model.unet.register_forward_hook(lambda *_: calls.append(1))
    sched = make_scheduler(NoiseScheduleConfig(), "ddim")
    cond, fill, start = torch.randn(2, 6, 8, 8), torch.ones(2, 1, 8, 8), torch.randn(2, 6, 8, 8)
    out = inpaint_latent(model, sched, cond, fill, steps=10, generator=torch.Generator().manual_seed(1), start=start, strength=0.3)
    assert len(calls) == 3 and out.shape == start.shape

    class Oracle(torch.nn.Module):  # ε = (x − √ᾱ_t·start) / √(1 − ᾱ_t): the exact noise of x around the start
        latent_scale, latent_bound, config = model.latent_scale, torch.zeros(()), model.config
        condition = model.condition

        def forward(self, x, t, condition):
            a = sched.alphas_cumprod[t[0]]
            return type("O", (), {"noise": (x - a.sqrt() * start) / (1 - a).sqrt()})

    back = inpaint_latent(Oracle(), sched, cond, fill, steps=10, generator=torch.Generator().manual_seed(1), start=start, strength=0.5)
    # DDIM ends at t = 0 (ᾱ_0 = 1 − 3e-4), so √(1 − ᾱ_0) ≈ 0.017 of the noise stays; the start noise was √(1 − ᾱ_499) ≈ 0.9.
    assert (back - start).abs().max() < 0.1
    with pytest.raises(ValueError, match="strength"):
        inpaint_latent(model, sched, cond, fill, steps=10, start=start, strength=0.0)


def test_latent_bound_clips_the_x0_estimate():
    torch.manual_seed(0)
    model = LatentInpainter(MINI).eval()  # untrained: its noise estimates are far off
    sched = make_scheduler(NoiseScheduleConfig(), "ddim")
    cond, fill = torch.randn(2, 6, 8, 8), torch.ones(2, 1, 8, 8)
    free = inpaint_latent(model, sched, cond, fill, steps=5, generator=torch.Generator().manual_seed(0))
    model.latent_bound.fill_(0.5)
    clipped = inpaint_latent(model, sched, cond, fill, steps=5, generator=torch.Generator().manual_seed(0))
    # Last DDIM step: x = sqrt(a0) x0_hat + sqrt(1 - a0) eps_hat with a0 = 1 - 3e-4 and |x0_hat| <= 0.5.
    assert free.abs().max() > 2 and clipped.abs().max() < 0.5 + 0.02 * 10
    assert not sched.config.clip_sample  # the caller's scheduler is untouched


def test_known_texels_survive_eq6_exactly_after_decoding():
    torch.manual_seed(0)
    vq = TextureVQModel(TINY.vq).eval()
    model = LatentInpainter(TINY.unet).eval()
    T = torch.rand(2, 21, 64, 64) * 2 - 1
    fill = torch.zeros(2, 1, 64, 64)
    fill[:, :, 10:40, 5:50] = 1
    T[:, 20:21] = fill
    T[:, 19:20] = fill
    out = inpaint_texture(vq, model, make_scheduler(TINY.schedule, "ddim"), T, steps=2, generator=torch.Generator().manual_seed(0))
    assert out.shape == T.shape
    known = fill.expand_as(T) > 0.5
    assert torch.equal(out[known], T[known])  # exactly, every channel
    assert not torch.equal(out[~known], T[~known])  # the rest comes from the decoder


def test_ema_follows_the_weights_with_warmup():
    net = torch.nn.Linear(2, 2)
    ema = EMAShadow(net, decay=0.9)
    with torch.no_grad():
        net.weight.fill_(1.0)
    before = ema.shadow.weight.clone()
    ema.update(net)  # first update: decay = min(0.9, 2 / 11)
    torch.testing.assert_close(ema.shadow.weight, before + (1 - 2 / 11) * (1.0 - before))
    for _ in range(200):
        ema.update(net)
    torch.testing.assert_close(ema.shadow.weight, torch.ones(2, 2), atol=1e-6, rtol=0)
    assert not any(p.requires_grad for p in ema.shadow.parameters())


def test_a_few_training_steps_lower_the_denoising_loss():
    torch.manual_seed(0)
    model = LatentInpainter(MINI)
    sched = make_scheduler(NoiseScheduleConfig(), "ddpm")
    g = torch.Generator().manual_seed(0)
    target = torch.nn.functional.interpolate(torch.randn(8, 6, 2, 2, generator=g), size=(8, 8), mode="bilinear")
    cond = target + 0.1 * torch.randn(8, 6, 8, 8, generator=g)
    fill = torch.ones(8, 1, 8, 8)
    t = torch.linspace(50, 950, 8).long()

    def fixed_loss():
        with torch.no_grad():
            return float(diffusion_loss(model, sched, target, cond, fill, generator=torch.Generator().manual_seed(1), timesteps=t))

    start = fixed_loss()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for _ in range(25):
        loss = diffusion_loss(model, sched, target, cond, fill)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert fixed_loss() < 0.7 * start


def test_train_diffusion_runs_with_a_trained_vq_and_reports(tmp_path):
    from test_vq import write_fake_texture_folder

    from dinar.digests import state_digest
    from dinar.train.checkpoints import load_checkpoint_dict
    from dinar.train.diffusion import (
        DIFFUSION_TRAIN_PRESETS,
        inpainting_report,
        train_diffusion,
    )
    from dinar.train.vq import VQ_TRAIN_PRESETS, train_vq
    from dinar.weights.format import WeightsError
    from dinar.weights.networks import load_inpainter, load_vq

    root = write_fake_texture_folder(tmp_path / "tex")
    vq_run = train_vq(root, tmp_path / "vq", "tiny", dataclasses.replace(VQ_TRAIN_PRESETS["tiny"], steps=1, batch_size=2, val_every=1),
                      device="cpu", progress=False)
    train = dataclasses.replace(DIFFUSION_TRAIN_PRESETS["tiny"], steps=2, batch_size=2, val_every=2, checkpoint_every=2,
                                sample_steps=2, val_samples=1)
    run = train_diffusion(root, vq_run, tmp_path / "dm", "tiny", train, device="cpu", progress=False)
    assert load_checkpoint_dict(run / "checkpoints" / "last.safetensors")["global_step"] == 2
    model, schedule = load_inpainter(run)
    assert schedule == TINY.schedule and float(model.latent_scale) > 0 and float(model.latent_scale) != 1.0
    assert float(model.latent_bound) > 0
    info = json.loads((run / "run.json").read_text())
    assert info["stage"] == "diffusion" and info["data"]["vq"].endswith("vq")
    report = inpainting_report(load_vq(vq_run), model, schedule, root, "val", steps=2)
    assert set(report["psnr_unknown_rgb"]) == {"inpainted", "zeros", "mean_colour"} and report["people"] == 1
    # the export names its VQ by state digest (not by a path of the training machine); another VQ is refused
    doc = json.loads((run / "config.json").read_text())
    assert "vq_run" not in doc and doc["vq_state_sha256"] == state_digest(load_vq(vq_run).state_dict())
    load_inpainter(run, vq=load_vq(vq_run))
    other = TextureVQModel(TINY.vq)
    with pytest.raises(WeightsError, match="another VQ"):
        load_inpainter(run, vq=other)


def test_residual_adds_back_what_the_vq_loses_of_the_start():
    """T_res(residual) = T_res + start − D(E(start)); a denoiser that changes nothing returns the start exactly."""
    torch.manual_seed(0)
    vq = TextureVQModel(TINY.vq).eval()
    model = LatentInpainter(TINY.unet).eval()
    sched = make_scheduler(TINY.schedule, "ddim")
    T, start = torch.rand(1, 21, 64, 64) * 2 - 1, torch.rand(1, 21, 64, 64) * 2 - 1

    def restore(residual):
        return restore_latent_texture(vq, model, sched, T, steps=3, generator=torch.Generator().manual_seed(0), start=start,
                                      strength=0.5, residual=residual)

    plain, res = restore(False), restore(True)
    lost = start - decode_latent(vq, encode_texture(vq, start))
    assert (plain - res).abs().max() > 0.1  # a random VQ loses much of a random texture
    assert torch.allclose(res, plain + lost, atol=1e-5)


def test_restore_texture_adds_the_change_at_full_size_and_can_keep_the_generated_channels():
    """At a texture twice the VQ's size: T_res = start + grow(D(z) − D(E(shrink(start)))), so what the start has
    beyond the VQ's size survives; ``keep_generated`` leaves T_gen as the input texture has it."""
    from dinar.pipeline.inpainting import restore_texture
    from dinar.texture.resize import grow_texture, shrink_texture

    torch.manual_seed(0)
    vq = TextureVQModel(TINY.vq).eval()
    model = LatentInpainter(TINY.unet).eval()
    T, start = torch.rand(1, 21, 128, 128) * 2 - 1, torch.rand(1, 21, 128, 128) * 2 - 1
    T[:, 20:] = (T[:, 20:] > 0).float()  # a B_fill mask
    start[:, 20:] = 1.0

    def restore(**kw):
        return restore_texture(vq, model, TINY.schedule, T, steps=3, seed=0, start=start, strength=0.5, **kw)

    plain, res = restore(residual=False), restore(residual=True)  # plain = grow(D(z))
    begin = shrink_texture(start, 64)
    reconstruction = decode_latent(vq, encode_texture(vq, begin))  # D(E(shrink(start)))
    assert torch.allclose(res, start + plain - grow_texture(reconstruction, 128), atol=1e-5)  # bilinear growing is linear
    assert (res - plain).abs().max() > 0.1
    kept = restore(residual=True, keep_generated=True)
    assert torch.equal(kept[:, :16], T[:, :16])
    assert torch.allclose(kept[:, 16:], res[:, 16:])


# -- rgb space: the colours diffused at the texture's own (coarse) size, no VQ --------------------------
RGB_MINI = UNetConfig(space="rgb", latent_size=8, latent_channels=3, block_out_channels=(16, 32, 32), layers_per_block=1,
                      attention=(False, False, True), attention_head_dim=16, dropout=0.0, norm_num_groups=8)


def test_rgb_space_config_conditions_on_the_whole_partial_texture():
    rgb = stage23_preset("rgb").unet
    assert rgb.space == "rgb" and rgb.latent_channels == 3 and rgb.condition_channels == 21 and rgb.in_channels == 24
    assert LatentInpainter(rgb).unet.config.in_channels == 24
    assert UNetConfig().space == "latent" and UNetConfig().condition_channels == 7  # the paper's, and old config files
    with pytest.raises(ValueError, match="3 colour channels"):
        UNetConfig(space="rgb", latent_channels=6)
    with pytest.raises(ValueError, match="space"):
        UNetConfig(space="pixels")
    model = LatentInpainter(RGB_MINI)
    T = torch.rand(2, 21, 8, 8)
    assert torch.equal(model.condition(T, T[:, 20:]), T)  # the partial texture as it is (it holds B_fill)
    with pytest.raises(ValueError, match=r"partial texture \[B, 21, 8, 8\]"):
        model.condition(torch.rand(2, 6, 8, 8), T[:, 20:])


def test_rgb_space_restores_only_the_colours_and_is_reproducible():
    """restore_colours: T_gen stays the input's, T_rgb is the sample (bounded by the clip), the masks the start's;
    a seed gives the same texture, another seed another; no VQ is needed anywhere on the way."""
    from dinar.nn.diffusion import restore_colours

    torch.manual_seed(0)
    model = LatentInpainter(RGB_MINI).eval()
    model.latent_bound.fill_(1.0)
    sched = make_scheduler(NoiseScheduleConfig(), "ddim")
    T = torch.rand(2, 21, 8, 8) * 2 - 1
    start = torch.rand(2, 21, 8, 8) * 2 - 1
    start[:, 19:] = 1.0

    def restore(seed, **kw):
        return restore_colours(model, sched, T, steps=3, generator=torch.Generator().manual_seed(seed), **kw)

    a, again, other = restore(0, start=start, strength=0.5), restore(0, start=start, strength=0.5), restore(1, start=start, strength=0.5)
    assert torch.equal(a, again) and not torch.equal(a, other)
    assert torch.equal(a[:, :16], T[:, :16]) and torch.equal(a[:, 19:], start[:, 19:])
    assert a[:, 16:19].abs().max() <= 1.0 + 0.05 and not torch.equal(a[:, 16:19], start[:, 16:19])
    free = restore(0)
    assert torch.equal(free[:, 19:], torch.ones(2, 2, 8, 8)) and torch.equal(free[:, :16], T[:, :16])
    assert torch.equal(restore_latent_texture(None, model, sched, T, steps=3, generator=torch.Generator().manual_seed(0)), free)
    with pytest.raises(ValueError, match="restores 8² textures"):
        restore_colours(model, sched, torch.rand(1, 21, 16, 16), steps=1)


def test_rgb_space_restore_texture_adds_the_sampled_change_to_the_start_at_full_size():
    """pipeline.restore_texture with an rgb-space inpainter and no VQ: T_rgb = start + grow(sample − shrink(start)),
    T_gen kept, at a texture 4× the denoiser's size."""
    from dinar.nn.diffusion import restore_colours
    from dinar.pipeline.inpainting import restore_texture
    from dinar.texture.resize import grow_texture, shrink_texture

    torch.manual_seed(0)
    model = LatentInpainter(RGB_MINI).eval()
    T, start = torch.rand(1, 21, 32, 32) * 2 - 1, torch.rand(1, 21, 32, 32) * 2 - 1
    T[:, 19:] = (T[:, 20:] > 0).float()
    start[:, 19:] = 1.0
    start[:, :16] = T[:, :16]  # a fill changes only the colours
    out = restore_texture(None, model, NoiseScheduleConfig(), T, steps=3, seed=0, start=start, strength=0.5, residual=True,
                          keep_generated=True)
    sample = restore_colours(model, make_scheduler(NoiseScheduleConfig(), "ddim"), shrink_texture(T, 8), 3,
                             torch.Generator().manual_seed(0), start=shrink_texture(start, 8), strength=0.5)
    expected = start[:, 16:19] + grow_texture(sample[:, 16:19] - shrink_texture(start, 8)[:, 16:19], 32)
    assert torch.allclose(out[:, 16:19], expected, atol=1e-5)
    assert torch.equal(out[:, :16], T[:, :16]) and torch.allclose(out[:, 19:], start[:, 19:])


def test_restore_texture_averages_k_samples_drawn_in_turn_per_texture():
    """samples K: each texture of the batch is the mean of K samples, whose noise comes in turn from the one seeded
    generator; K = 1 is the plain call, unchanged; K < 1 is refused."""
    from dinar.nn.diffusion import restore_colours
    from dinar.pipeline.inpainting import restore_texture

    torch.manual_seed(0)
    model = LatentInpainter(RGB_MINI).eval()
    T = torch.rand(2, 21, 8, 8) * 2 - 1
    T[:, 19:] = (T[:, 20:] > 0).float()
    sched = make_scheduler(NoiseScheduleConfig(), "ddim")
    one = restore_texture(None, model, NoiseScheduleConfig(), T, steps=2, seed=3)
    assert torch.equal(one, restore_colours(model, sched, T, 2, torch.Generator().manual_seed(3)))
    three = restore_texture(None, model, NoiseScheduleConfig(), T, steps=2, seed=3, samples=3)
    draws = restore_colours(model, sched, T.repeat_interleave(3, 0), 2, torch.Generator().manual_seed(3))  # a0 a1 a2 b0 b1 b2
    assert torch.allclose(three[0, 16:19], draws[0:3, 16:19].mean(0), atol=1e-6)
    assert torch.allclose(three[1, 16:19], draws[3:6, 16:19].mean(0), atol=1e-6)
    assert not torch.allclose(three[0, 16:19], draws[0, 16:19])  # the samples differ, so the mean is not any one of them
    with pytest.raises(ValueError, match="samples must be >= 1"):
        restore_texture(None, model, NoiseScheduleConfig(), T, steps=2, samples=0)


def test_train_diffusion_in_rgb_space_needs_no_vq(tmp_path):
    from test_vq import write_fake_texture_folder

    from dinar.train.diffusion import (
        DIFFUSION_TRAIN_PRESETS,
        train_diffusion_and_report,
    )
    from dinar.weights.networks import load_inpainter

    root = write_fake_texture_folder(tmp_path / "tex")
    train = dataclasses.replace(DIFFUSION_TRAIN_PRESETS["rgb"], steps=2, batch_size=2, val_every=2, checkpoint_every=2,
                                sample_steps=2, val_samples=1)
    with pytest.raises(ValueError, match="takes no VQ"):
        train_diffusion_and_report(root, tmp_path / "vq", tmp_path / "dm", "rgb", train, device="cpu", progress=False)
    with pytest.raises(ValueError, match="--vq"):
        train_diffusion_and_report(root, None, tmp_path / "dm0", "tiny", train, device="cpu", progress=False)
    report = train_diffusion_and_report(root, None, tmp_path / "dm", "rgb", train, device="cpu", progress=False,
                                        unet={"position_map": True, "mirror_map": True, "condition_dropout": 0.2})
    assert report["people"] == 0 or set(report["psnr_unknown_rgb"]) == {"inpainted", "zeros", "mean_colour"}
    model, _ = load_inpainter(tmp_path / "dm")
    assert model.config.space == "rgb" and 0 < float(model.latent_bound) and float(model.latent_scale) != 1.0
    assert model.config.position_map and model.config.condition_dropout == 0.2  # the flags travel with the weights
    index = model.mirror_index  # the front/back gather of the atlas (the fake folder names none: the shipped one)
    assert model.config.mirror_map and index.shape == (64 * 64,) and 0.2 < float((index != torch.arange(64 * 64)).float().mean())
    info = json.loads((tmp_path / "dm" / "run.json").read_text())
    assert info["data"]["vq"] is None and info["model"]["unet"]["space"] == "rgb"


def test_an_x0_predicting_schedule_trains_on_x0_and_samples_with_it():
    """prediction_type="sample": the loss compares the output with x_0, and a denoiser that returns the true x_0
    makes DDIM land on it from pure noise (the rgb preset's schedule)."""
    assert stage23_preset("rgb").schedule.prediction_type == "sample" and NoiseScheduleConfig().prediction_type == "epsilon"
    with pytest.raises(ValueError, match="prediction_type"):
        NoiseScheduleConfig(prediction_type="v")
    schedule = NoiseScheduleConfig(prediction_type="sample")
    x0 = torch.rand(2, 3, 8, 8) * 2 - 1

    class Exact(torch.nn.Module):
        latent_scale, latent_bound, config = torch.ones(()), torch.zeros(()), RGB_MINI

        def condition(self, cond, fill):
            return cond

        def forward(self, x, t, condition):
            return type("O", (), {"noise": x0})

    assert float(diffusion_loss(Exact(), make_scheduler(schedule, "ddpm"), x0, torch.rand(2, 21, 8, 8), torch.ones(2, 1, 8, 8))) == 0
    out = inpaint_latent(Exact(), make_scheduler(schedule, "ddim"), torch.rand(2, 21, 8, 8), torch.ones(2, 1, 8, 8), steps=5,
                         generator=torch.Generator().manual_seed(0))
    # DDIM ends at t = 0 (ᾱ_0 = 1 − 3e-4): √(1 − ᾱ_0) ≈ 0.017 of the initial noise stays.
    assert (out - x0).abs().max() < 0.1 and (out - x0).abs().mean() < 0.02


def test_the_position_map_is_two_more_input_channels_of_texel_centres():
    grid = position_map(2, torch.zeros(()))
    assert torch.equal(grid, torch.tensor([[[[-0.5, 0.5], [-0.5, 0.5]], [[-0.5, -0.5], [0.5, 0.5]]]]))  # u across, v down
    config = dataclasses.replace(RGB_MINI, position_map=True)
    assert config.in_channels == RGB_MINI.in_channels + 2 == 26 and config.condition_channels == 21
    torch.manual_seed(0)
    model = LatentInpainter(config).eval()
    assert model.unet.config.in_channels == 26
    out = model(torch.randn(2, 3, 8, 8), torch.tensor([5, 900]), torch.rand(2, 21, 8, 8)).noise
    assert out.shape == (2, 3, 8, 8) and torch.isfinite(out).all()
    assert UNetConfig.from_dict({"space": "rgb", "latent_channels": 3}).position_map is False  # configs saved before it


def test_the_mirror_map_reads_the_condition_at_each_mirror_position_and_travels_with_the_weights(tmp_path):
    from dinar.weights.networks import load_inpainter, save_inpainter

    condition = torch.arange(8.0).view(1, 2, 2, 2)
    assert mirror_gather(condition, torch.tensor([2, 3, 0, 1]))[0].tolist() == [[[2, 3], [0, 1]], [[6, 7], [4, 5]]]
    config = dataclasses.replace(RGB_MINI, mirror_map=True)
    assert config.in_channels == RGB_MINI.in_channels + 21 == 45 and config.condition_channels == 21
    torch.manual_seed(0)
    model = LatentInpainter(config).eval()
    assert torch.equal(model.mirror_index, torch.arange(64))  # the identity until a trainer sets it
    model.mirror_index.copy_(torch.arange(64).flip(0))
    x, t, c = torch.randn(2, 3, 8, 8), torch.tensor([5, 900]), torch.rand(2, 21, 8, 8)
    out = model(x, t, c).noise
    assert out.shape == (2, 3, 8, 8) and torch.isfinite(out).all()
    save_inpainter(model, stage23_preset("rgb").schedule, tmp_path / "dm")
    loaded, _ = load_inpainter(tmp_path / "dm")
    assert torch.equal(loaded.mirror_index, model.mirror_index) and torch.equal(loaded(x, t, c).noise, out)
    assert not hasattr(LatentInpainter(RGB_MINI), "mirror_index")  # no buffer, so weights saved before it still load
    assert UNetConfig.from_dict({"space": "rgb", "latent_channels": 3}).mirror_map is False


def test_condition_dropout_zeroes_whole_samples_and_trains_a_guidable_denoiser():
    c = torch.rand(64, 21, 4, 4) + 0.1
    assert drop_condition(c, 0.0) is c
    dropped = drop_condition(c, 0.25, torch.Generator().manual_seed(0))
    zeroed = (dropped.flatten(1) == 0).all(1)
    kept = (dropped.flatten(1) == c.flatten(1)).all(1)
    assert (zeroed | kept).all() and 4 <= int(zeroed.sum()) <= 28  # each sample all or nothing; about a quarter
    with pytest.raises(ValueError, match="condition_dropout"):
        UNetConfig(condition_dropout=1.0)
    model = LatentInpainter(dataclasses.replace(RGB_MINI, condition_dropout=0.1))
    schedule = NoiseScheduleConfig(prediction_type="sample")
    loss = diffusion_loss(model, make_scheduler(schedule), torch.rand(4, 3, 8, 8), torch.rand(4, 21, 8, 8), torch.ones(4, 1, 8, 8),
                          generator=torch.Generator().manual_seed(0), condition_dropout=0.5)
    assert torch.isfinite(loss)


def test_guidance_is_u_plus_w_times_c_minus_u_and_needs_a_guidable_denoiser():
    torch.manual_seed(0)
    model = LatentInpainter(dataclasses.replace(RGB_MINI, condition_dropout=0.1)).eval()
    x, t, c = torch.randn(2, 3, 8, 8), torch.tensor(500), torch.rand(2, 21, 8, 8)
    with torch.no_grad():
        conditioned = model(x, t.expand(2), c).noise
        unconditioned = model(x, t.expand(2), torch.zeros_like(c)).noise
        assert torch.equal(guided_prediction(model, x, t, c, 1.0), conditioned)
        torch.testing.assert_close(guided_prediction(model, x, t, c, 3.0), unconditioned + 3.0 * (conditioned - unconditioned),
                                   atol=1e-5, rtol=1e-5)
    scheduler = make_scheduler(NoiseScheduleConfig(prediction_type="sample"), "ddim")
    texture = torch.rand(2, 21, 8, 8)
    one = inpaint_latent(model, scheduler, texture, texture[:, 20:], 3, torch.Generator().manual_seed(0))
    same = inpaint_latent(model, scheduler, texture, texture[:, 20:], 3, torch.Generator().manual_seed(0), guidance=1.0)
    guided = inpaint_latent(model, scheduler, texture, texture[:, 20:], 3, torch.Generator().manual_seed(0), guidance=2.0)
    assert torch.equal(one, same) and not torch.allclose(one, guided)
    with pytest.raises(ValueError, match="condition dropout"):
        inpaint_latent(LatentInpainter(RGB_MINI), scheduler, texture, texture[:, 20:], 3, guidance=2.0)


def test_a_run_started_before_a_config_field_existed_resumes_with_its_default(tmp_path):
    """run.json of a run whose UNet config lacks today's fields: resuming it with the same preset is allowed, with
    another network refused (prepare_run reads the record through the configs' from_dict)."""
    from dinar.train.diffusion import _read_model
    from dinar.train.trainer import LAST_CHECKPOINT, prepare_run

    rgb = stage23_preset("rgb")
    today = {"unet": rgb.unet.to_dict(), "schedule": rgb.schedule.to_dict()}
    older = json.loads(json.dumps(today))
    del older["unet"]["position_map"], older["unet"]["condition_dropout"]
    (tmp_path / LAST_CHECKPOINT).parent.mkdir(parents=True)
    (tmp_path / LAST_CHECKPOINT).write_bytes(b"")
    (tmp_path / "run.json").write_text(json.dumps({"stage": "diffusion", "model": older}))
    with pytest.raises(ValueError, match="another model config"):
        prepare_run(tmp_path, {"stage": "diffusion", "model": today}, resume=True)  # compared as written
    assert prepare_run(tmp_path, {"stage": "diffusion", "model": today}, resume=True, read_model=_read_model) == tmp_path / LAST_CHECKPOINT
    changed = {**today, "unet": {**today["unet"], "position_map": True}}
    with pytest.raises(ValueError, match="another model config"):
        prepare_run(tmp_path, {"stage": "diffusion", "model": changed}, resume=True, read_model=_read_model)
