"""Stage-1 networks: StyleGAN2 blocks checked by hand and against the grouped-conv reference, preset
shapes and parameter counts, gradients to every parameter, config JSON round trips."""

import json

import pytest
import torch

from dinar.nn import (
    Discriminator,
    Encoder,
    Generator,
    Renderer,
    RenderOutput,
    Stage1Config,
    preset,
)
from dinar.nn.config import EncoderConfig, GeneratorConfig
from dinar.nn.stylegan2 import (
    Blur,
    Downsample,
    ModulatedConv2d,
    Upsample,
    make_kernel,
    stylegan2_channels,
    upfirdn2d,
)
from dinar.nn.stylegan2_discriminator import minibatch_stddev

# Parameter counts of the `paper` preset (widths of the official release, see nn/config.py).
PAPER_PARAMS = {"encoder": 7_377_760, "generator": 8_124_413, "renderer": 18_990_048, "discriminator": 7_246_369}


def build(cfg: Stage1Config) -> dict[str, torch.nn.Module]:
    return {
        "encoder": Encoder(cfg.encoder),
        "generator": Generator(cfg.generator),
        "renderer": Renderer(cfg.renderer),
        "discriminator": Discriminator(cfg.discriminator),
    }


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# ---------------------------------------------------------------------------------------------------
# StyleGAN2 blocks
# ---------------------------------------------------------------------------------------------------


def test_channel_table_of_the_official_release():
    # Official DINAR (channel multiplier 2): 256 up to 64^2, then 128, 64, 32.
    assert [stylegan2_channels(r, 16384, 256) for r in (4, 32, 64, 128, 256, 512)] == [256, 256, 256, 128, 64, 32]


def test_upfirdn2d_output_sizes_and_impulse_response():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 4, 4] = 1
    k = make_kernel([1, 3, 3, 1])
    assert upfirdn2d(x, k, pad=(2, 1)).shape[-1] == 8
    assert Upsample()(x).shape[-2:] == (16, 16)
    assert Downsample()(x).shape[-2:] == (4, 4)
    # True convolution (as NVlabs' op): an impulse comes out as the kernel itself, not flipped.
    k = make_kernel([1, 2, 3, 4]) * torch.arange(1.0, 5.0)[:, None]  # asymmetric in both axes
    out = upfirdn2d(x, k, pad=(1, 2))
    assert torch.allclose(out[0, 0, 2:6, 2:6], k)


@pytest.mark.parametrize("op", ["blur", "up", "down"])
def test_resampling_keeps_a_constant_image_constant(op):
    x = torch.full((2, 3, 16, 16), 0.7, dtype=torch.float64)
    m = {"blur": Blur([1, 3, 3, 1], pad=(2, 1)), "up": Upsample(), "down": Downsample()}[op].double()
    y = m(x)
    b = 3  # zero padding touches the border: compare the interior
    assert torch.allclose(y[..., b:-b, b:-b], torch.full_like(y[..., b:-b, b:-b], 0.7), atol=1e-12)


def test_modulated_conv_demodulation_gives_unit_variance():
    torch.manual_seed(0)
    conv = ModulatedConv2d(64, 32, 3, style_dim=16)
    x = torch.randn(8, 64, 48, 48)
    with torch.no_grad():
        y = conv(x, torch.randn(8, 16))[..., 1:-1, 1:-1]  # drop the zero-padded border
    var = y.var(dim=(2, 3))  # per sample and output channel
    assert var.mean().item() == pytest.approx(1.0, abs=0.03)
    assert (var - 1).abs().max().item() < 0.15
    # Without demodulation the variance follows the styles instead.
    conv.demodulate = False
    with torch.no_grad():
        y2 = conv(x, torch.randn(8, 16) * 10)
    assert y2.var().item() > 3


@pytest.mark.parametrize("mode", ["same", "up", "down"])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_fast_path_matches_grouped_reference(mode, demodulate):
    torch.manual_seed(1)
    kw = {"upsample": mode == "up", "downsample": mode == "down", "demodulate": demodulate}
    fast = ModulatedConv2d(5, 7, 3, style_dim=6, **kw).double()
    ref = ModulatedConv2d(5, 7, 3, style_dim=6, fused=True, **kw).double()
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(3, 5, 8, 8, dtype=torch.float64, requires_grad=True)
    s = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    y_fast, y_ref = fast(x, s), ref(x, s)
    assert y_fast.shape == y_ref.shape == (3, 7, *{"same": (8, 8), "up": (16, 16), "down": (4, 4)}[mode])
    assert torch.allclose(y_fast, y_ref, atol=1e-12)
    cot = torch.randn_like(y_fast)
    g_fast = torch.autograd.grad((y_fast * cot).sum(), [x, s, fast.weight])
    g_ref = torch.autograd.grad((y_ref * cot).sum(), [x, s, ref.weight])
    for a, b in zip(g_fast, g_ref):
        assert torch.allclose(a, b, atol=1e-10)


def test_minibatch_stddev_feature():
    x = torch.zeros(4, 2, 4, 4)
    x[:2] = 1.0  # groups of 4 samples: values {1, 1, 0, 0} -> std 0.5 everywhere
    y = minibatch_stddev(x, 4)
    assert y.shape == (4, 3, 4, 4)
    assert torch.allclose(y[:, 2], torch.full((4, 4, 4), 0.5), atol=1e-4)
    assert minibatch_stddev(torch.randn(3, 2, 4, 4), 4).shape == (3, 3, 4, 4)  # group shrinks to 3


# ---------------------------------------------------------------------------------------------------
# Networks per preset
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    cfg = preset("tiny")
    return cfg, build(cfg)


def tiny_inputs(cfg: Stage1Config, b: int = 2):
    g = torch.Generator().manual_seed(0)
    s = cfg.image_size
    rgb = torch.rand(b, 3, s, s, generator=g) * 2 - 1
    mask = (torch.rand(b, 1, s, s, generator=g) > 0.5).float()
    uv = torch.rand(b, 2, s, s, generator=g)
    return rgb, mask, uv


def test_tiny_forward_shapes_and_ranges(tiny):
    cfg, nets = tiny
    rgb, mask, uv = tiny_inputs(cfg)
    with torch.no_grad():
        code = nets["encoder"](rgb, mask).code
        assert code.shape == (2, cfg.encoder.code_dim)
        tex = nets["generator"](code).texture
        assert tex.shape == (2, 16, cfg.texture_size, cfg.texture_size)
        raster = torch.randn(2, 21, cfg.image_size, cfg.image_size)
        out = nets["renderer"](raster, uv * 2 - 1, mask)
        score = nets["discriminator"](rgb).score
    assert isinstance(out, RenderOutput)
    assert out.rgb.shape == (2, 3, cfg.image_size, cfg.image_size)
    assert out.mask.shape == out.mask_logits.shape == (2, 1, cfg.image_size, cfg.image_size)
    assert out.rgb.abs().max() <= 1 and 0 <= out.mask.min() and out.mask.max() <= 1
    assert torch.all(out.mask >= mask)  # hard mask: the body is always foreground
    assert torch.allclose(out.mask[mask == 0], torch.sigmoid(out.mask_logits)[mask == 0])
    assert out.composite(-1.0).shape == out.rgb.shape
    assert score.shape == (2, 1)


def test_small_and_paper_presets_build_with_pinned_widths():
    for name in ("small", "paper"):
        cfg = preset(name)
        assert (cfg.image_size, cfg.texture_size) == {"small": (256, 128), "paper": (512, 256)}[name]
    torch.manual_seed(0)
    nets = build(preset("paper"))  # built only: the paper forward pass is timed in benchmarks/nn.py
    assert {k: n_params(m) for k, m in nets.items()} == PAPER_PARAMS
    assert nets["generator"].config.out_channels == 16 and nets["encoder"].config.code_dim == 512


def test_gradients_reach_every_parameter(tiny):
    cfg, nets = tiny
    rgb, mask, uv = tiny_inputs(cfg)
    for m in nets.values():
        m.zero_grad()
        m.train()
    code = nets["encoder"](rgb, mask).code
    tex = nets["generator"](code).texture  # [B, 16, T, T]
    # stand-in for rasterization: sample the texture at the UV render
    t_full = torch.cat([tex, torch.zeros(2, 5, cfg.texture_size, cfg.texture_size)], 1)
    raster = torch.nn.functional.grid_sample(t_full, uv.permute(0, 2, 3, 1) * 2 - 1, align_corners=False)
    out = nets["renderer"](raster, uv, mask)
    loss = out.rgb.pow(2).mean() + out.mask_logits.pow(2).mean() + nets["discriminator"](out.rgb).score.mean()
    loss.backward()
    for name, m in nets.items():
        dead = [n for n, p in m.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
        assert not dead, f"{name}: no gradient for {dead}"


def test_generator_noise_modes(tiny):
    _, nets = tiny
    g = nets["generator"].eval()
    code = torch.randn(2, g.config.style_dim)
    with torch.no_grad():
        for blk in g.modules():  # make the noise matter (it starts at weight 0)
            if blk.__class__.__name__ == "NoiseInjection":
                blk.weight.fill_(0.5)
        a, b = g(code, noise_mode="const").texture, g(code, noise_mode="const").texture
        c = g(code, noise_mode="random").texture
        zeros = [torch.zeros(1, 1, *hw) for hw in g.noise_shapes()]
        d, e = g(code, noise_mode="none").texture, g(code, noise=zeros).texture
        for blk in g.modules():
            if blk.__class__.__name__ == "NoiseInjection":
                blk.weight.zero_()
    assert torch.equal(a, b) and not torch.allclose(a, c) and torch.allclose(d, e)
    assert "noise_0" in g.state_dict()  # const noise is saved with the weights


def test_encoder_is_deterministic_given_noise(tiny):
    cfg, nets = tiny
    rgb, mask, _ = tiny_inputs(cfg)
    enc = nets["encoder"]
    noise = torch.zeros_like(mask)
    with torch.no_grad():
        assert torch.equal(enc(rgb, mask, noise).code, enc(rgb, mask, noise).code)
        assert not torch.equal(enc(rgb, mask).code, enc(rgb, mask).code)
    with pytest.raises(AssertionError):
        enc(rgb[..., :64, :64], mask[..., :64, :64])


def test_mapping_network_option():
    g = Generator(GeneratorConfig(texture_size=8, style_dim=32, n_mapping=2, channel_base=256, channel_max=16))
    out = g(torch.randn(3, 32))
    assert out.texture.shape == (3, 16, 8, 8) and out.w.shape == (3, 32)
    assert g.mapping is not None and len(g.mapping.layers) == 2


# ---------------------------------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["paper", "small", "tiny"])
def test_config_json_round_trip(name):
    cfg = preset(name)
    text = cfg.to_json()
    assert json.loads(text)["encoder"]["blur_kernel"] == [1, 3, 3, 1]
    back = Stage1Config.from_json(text)
    assert back == cfg and isinstance(back.encoder.blur_kernel, tuple)
    # a network config alone round-trips too and rebuilds an identical network
    enc_cfg = EncoderConfig.from_dict(cfg.encoder.to_dict())
    assert enc_cfg == cfg.encoder


def test_config_rejects_unknown_keys_and_inconsistent_sizes():
    d = preset("tiny").to_dict()
    d["encoder"]["widht"] = 3
    with pytest.raises(ValueError, match="unknown config keys"):
        Stage1Config.from_dict(d)
    with pytest.raises(ValueError, match="encoder.image_size"):
        Stage1Config(name="bad", image_size=256)
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")


def test_weights_reload_from_config_and_state_dict(tiny):
    cfg, nets = tiny
    r = nets["renderer"].eval()
    clone = Renderer(type(cfg.renderer).from_dict(json.loads(json.dumps(cfg.renderer.to_dict())))).eval()
    clone.load_state_dict(r.state_dict())
    _, mask, uv = tiny_inputs(cfg, b=1)
    raster = torch.randn(1, 21, cfg.image_size, cfg.image_size)
    with torch.no_grad():
        assert torch.equal(r(raster, uv, mask).rgb, clone(raster, uv, mask).rgb)
