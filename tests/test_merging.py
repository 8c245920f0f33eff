"""Texture merging (paper eq. 5) and keeping known texels (paper eq. 6)."""

import pytest
import torch

from dinar.texture import keep_known_texels, merge_textures


def _views(N=3, C=4, S=6, B=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    lead = () if B is None else (B,)
    textures = torch.rand(*lead, N, C, S, S, generator=g, dtype=torch.float64)
    angles = torch.rand(*lead, N, 1, S, S, generator=g, dtype=torch.float64)
    return textures, angles


def test_frontal_view_wins_as_tau_gets_small():
    textures, angles = _views()
    angles[1] = 1.0  # view 1 is fully frontal everywhere, the others less
    angles[0] = angles[0].clamp_max(0.9)
    angles[2] = angles[2].clamp_max(0.9)
    out = merge_textures(textures, angles, tau=1e-3)
    torch.testing.assert_close(out.texture, textures[1], rtol=0, atol=1e-12)
    torch.testing.assert_close(out.weights[1], torch.ones_like(out.weights[1]), rtol=0, atol=1e-12)


def test_equal_angles_give_the_plain_average():
    textures, _ = _views(B=2)
    angles = torch.full((2, 3, 1, 6, 6), 0.7, dtype=torch.float64)
    out = merge_textures(textures, angles, tau=0.1)
    torch.testing.assert_close(out.texture, textures.mean(1))
    assert out.texture.shape == (2, 4, 6, 6) and out.weights.shape == (2, 3, 1, 6, 6) and out.covered.shape == (2, 1, 6, 6)


def test_uncovered_texels_get_zero_weight_and_weights_sum_to_one():
    textures, angles = _views(N=3)
    valid = torch.ones(3, 1, 6, 6, dtype=torch.bool)
    valid[0, :, :3] = False  # view 0 misses the top half
    valid[:, :, 0, 0] = False  # nobody covers texel (0, 0)
    valid[1:, :, 5, 5] = False  # only view 0 covers texel (5, 5)
    out = merge_textures(textures, angles, valid, tau=0.2)
    assert (out.weights[~valid] == 0).all()
    total = out.weights.sum(0)[0]
    covered = valid.any(0)[0]
    torch.testing.assert_close(total[covered], torch.ones_like(total[covered]))
    assert total[0, 0] == 0 and out.covered[0, 0, 0] == 0 and (out.texture[:, 0, 0] == 0).all()
    torch.testing.assert_close(out.texture[:, 5, 5], textures[0, :, 5, 5])
    assert out.covered.sum() == 35
    # Softmax weights equal exp(lambda / tau) normalised over the covering views.
    e = torch.exp(angles[:, 0, 3, 2] / 0.2)
    torch.testing.assert_close(out.weights[:, 0, 3, 2], e / e.sum())
    e = torch.exp(angles[1:, 0, 1, 2] / 0.2)
    torch.testing.assert_close(out.weights[1:, 0, 1, 2], e / e.sum())


def test_merging_gradients_are_finite_where_nothing_covers():
    textures, angles = _views(N=2)
    textures.requires_grad_(True)
    angles.requires_grad_(True)
    valid = torch.zeros(2, 1, 6, 6, dtype=torch.bool)
    valid[0, :, :, :3] = True
    merge_textures(textures, angles, valid, tau=0.1).texture.sum().backward()
    assert torch.isfinite(textures.grad).all() and torch.isfinite(angles.grad).all()
    assert (angles.grad[1] == 0).all()


def test_keep_known_texels_exactly():
    g = torch.Generator().manual_seed(3)
    restored = torch.rand(2, 5, 16, 16, generator=g)
    original = torch.rand(2, 5, 16, 16, generator=g)
    fill = (torch.rand(2, 1, 16, 16, generator=g) > 0.4).float()
    out = keep_known_texels(restored, original, fill)
    known = fill.expand_as(out) > 0
    assert torch.equal(out[known], original[known])
    assert torch.equal(out[~known], restored[~known])


def test_keep_known_texels_eroded_and_blurred_border():
    restored = torch.zeros(1, 3, 32, 32)
    original = torch.ones(1, 3, 32, 32)
    fill = torch.zeros(1, 1, 32, 32)
    fill[..., 8:24, 8:24] = 1
    out = keep_known_texels(restored, original, fill, erode=3, blur=2)
    assert (out[..., 13:19, 13:19] > 0.999).all()  # deep inside: the known texture
    assert (out[..., 8, 8:24] < 0.01).all()  # the border ring comes from the restored texture
    assert (out[..., :8, :] == 0).all()  # outside the mask nothing leaks in
    row = out[0, 0, 16, 8:17]
    assert (row[1:] >= row[:-1]).all()  # a smooth ramp from restored to known
    assert ((row > 0.05) & (row < 0.95)).any()
    with pytest.raises(ValueError):
        keep_known_texels(restored, original, fill[:, :, :16])
