"""A texture's coarse band and the detail above it (:mod:`dinar.texture.bands`), on hand-checked 4×4 textures."""

from __future__ import annotations

import pytest
import torch

from dinar.texture.bands import (
    low_band,
    mixed_colours,
    pattern_strength,
    shifted_to_seen,
    with_details,
)
from dinar.texture.channels import RGB


def two_block_texture(left: float, right: float) -> torch.Tensor:
    """A [1, 21, 4, 4] texture whose red is ``left`` in columns 0-1 and ``right`` in columns 2-3."""
    t = torch.zeros(1, 21, 4, 4)
    t[0, 16, :, :2], t[0, 16, :, 2:] = left, right
    return t


def test_low_band_is_the_block_means_grown_back():
    rgb = torch.arange(16.0).reshape(1, 1, 4, 4).repeat(1, 3, 1, 1)
    assert torch.allclose(low_band(rgb, 1), torch.full_like(rgb, 7.5))  # one block: the mean everywhere
    assert torch.equal(low_band(rgb, 4), rgb)  # the texture's own size: nothing lost


def test_the_band_over_the_charts_leaves_the_background_out():
    rgb = torch.tensor([0.2, 0.2, 0.8, 100.0]).repeat(1, 3, 4, 1)  # [1, 3, 4, 4]; column 3 lies outside the charts
    inside = torch.tensor([True, True, True, False]).repeat(4, 1)
    assert torch.allclose(low_band(rgb, 1, inside), torch.full_like(rgb, 0.4))  # (0.2 + 0.2 + 0.8) / 3
    assert torch.allclose(low_band(rgb, 1), torch.full_like(rgb, 25.3))  # the background's 100 drawn in
    assert torch.allclose(low_band(rgb, 4, inside)[..., :3], rgb[..., :3])  # the texture's own size: the charts kept
    base, fill = two_block_texture(0.5, 0.5), two_block_texture(0.2, 0.6)
    base[0, 16, :, 3] = fill[0, 16, :, 3] = 9.0  # what lies outside differs from one texture to the next
    out = with_details(base, [(fill, 1.0, False, None)], 1, inside)  # 0.5 + fill - (0.2 + 0.2 + 0.6) / 3
    assert torch.allclose(out[0, 16, 0, :3], torch.tensor([0.5 - 2 / 15, 0.5 - 2 / 15, 0.5 + 4 / 15]))


def test_detail_keeps_the_band_and_adds_the_share_asked():
    base, fill = two_block_texture(0.5, 0.5), two_block_texture(0.2, 0.6)  # fill: mean 0.4, detail -0.2 / +0.2
    whole = with_details(base, [(fill, 1.0, False, None)], 1)
    assert torch.allclose(whole[0, 16, 0], torch.tensor([0.3, 0.3, 0.7, 0.7]))  # 0.5 + (fill - 0.4)
    half = with_details(base, [(fill, 0.5, False, None)], 1)
    assert torch.allclose(half[0, 16, 0], torch.tensor([0.4, 0.4, 0.6, 0.6]))
    assert torch.allclose(with_details(base, [(fill, 0.0, False, None)], 1)[:, RGB], base[:, RGB])
    assert torch.equal(whole[:, :16], base[:, :16])  # T_gen and the masks are the base's
    grey = with_details(base, [(fill, 1.0, True, None)], 1)  # the red detail's luminance, 0.299 x (-0.2 / +0.2), on all three
    expected = torch.tensor([0.5 - 0.0598, 0.5 - 0.0598, 0.5 + 0.0598, 0.5 + 0.0598])
    assert all(torch.allclose(grey[0, c, 0], expected - (0.5 if c != 16 else 0.0)) for c in (16, 17, 18))


def test_details_of_several_sources_add_on_the_band():
    base, a, b = two_block_texture(0.5, 0.5), two_block_texture(0.2, 0.6), two_block_texture(0.4, 0.0)
    mixed = with_details(base, [(a, 0.5, False, None), (b, 1.0, False, None)], 1)  # 0.5 + 0.5 x (-0.2 / +0.2) + (+0.2 / -0.2)
    assert torch.allclose(mixed[0, 16, 0], torch.tensor([0.6, 0.6, 0.4, 0.4]))


def test_detail_only_where_asked():
    base, fill = two_block_texture(0.5, 0.5), two_block_texture(0.2, 0.6)
    where = torch.tensor([[1.0, 1.0, 0.0, 0.0]]).expand(4, 4)  # the left half takes the detail, the right none
    out = with_details(base, [(fill, 1.0, False, where)], 1)
    assert torch.allclose(out[0, 16, 0], torch.tensor([0.3, 0.3, 0.5, 0.5]))


def test_mixed_colours_take_the_share_asked_of_the_others_rgb_alone():
    base, other = torch.zeros(1, 21, 4, 4), torch.ones(1, 21, 4, 4)
    base[:, RGB] = 0.2
    out = mixed_colours(base, other, 0.25)
    assert torch.allclose(out[:, RGB], torch.full((1, 3, 4, 4), 0.4))  # 0.75 · 0.2 + 0.25 · 1
    rest = [c for c in range(21) if c not in range(21)[RGB]]
    assert torch.equal(out[:, rest], base[:, rest])
    assert torch.equal(mixed_colours(base, other, 0.0), base)


def test_a_band_must_divide_the_texture():
    with pytest.raises(ValueError, match="no 3² band"):
        low_band(torch.zeros(1, 3, 4, 4), 3)


def test_shift_to_seen_moves_each_parts_colours_by_the_share_of_its_gap():
    """Part 0 (the left column) is seen at the top (0.5) and restored below (0.2): the gap 0.3 is added, times the
    share, to both of its texels; part 1 (the right column) is seen nowhere and part 2 is outside ``parts``: both
    keep their colours; the background (−1) and T_gen are never touched."""
    base, known = torch.zeros(1, 21, 3, 2), torch.zeros(1, 21, 3, 2)
    base[0, RGB] = torch.tensor([[0.0, 0.1], [0.2, 0.3], [0.4, 0.9]])
    base[0, :16] = 7.0
    known[0, RGB] = torch.tensor([[0.5, 0.0], [0.0, 0.0], [0.0, 0.0]])
    part = torch.tensor([[0, 1], [0, 1], [-1, 2]])
    seen = torch.tensor([[True, False], [False, False], [False, True]])
    out = shifted_to_seen(base, known, seen, part, 0.5, [0, 1])
    assert torch.allclose(out[0, RGB], base[0, RGB] + 0.15 * torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]]))
    assert torch.equal(out[0, :16], base[0, :16])
    full = shifted_to_seen(base, known, seen, part, 1.0)  # every part: part 2 is seen everywhere, so kept
    assert torch.allclose(full[0, RGB][:, 1, 0], torch.full((3,), 0.5))  # the unseen mean is now the seen mean
    assert torch.allclose(full[0, RGB][:, :, 1], base[0, RGB][:, :, 1])


def test_shift_in_slabs_draws_each_slabs_gap_linearly_in_height():
    """One part, a column of four texels at heights 0 to 3, seen at the ends (1 below, 0 above), restored 0 between:
    two slabs ([0, 1.5] and (1.5, 3], middles 0.75 and 2.25) have gaps 1 and 0, drawn linearly between the middles
    (1, 5/6, 1/6, 0); one slab, the whole part's gap 0.5 everywhere."""
    base, known = torch.zeros(1, 21, 4, 1), torch.zeros(1, 21, 4, 1)
    known[0, RGB][:, 0, 0] = 1.0
    seen = torch.tensor([[True], [False], [False], [True]])
    part, height = torch.zeros(4, 1, dtype=torch.long), torch.arange(4.0)[:, None]
    two = shifted_to_seen(base, known, seen, part, 1.0, None, height, 2)
    assert torch.allclose(two[0, RGB][:, :, 0], torch.tensor([1.0, 5 / 6, 1 / 6, 0.0]).expand(3, 4))
    one = shifted_to_seen(base, known, seen, part, 1.0, None, height, 1)
    assert torch.allclose(one[0, RGB], torch.full((3, 4, 1), 0.5))
    # three slabs ([0, 1], (1, 2], (2, 3], middles 0.5, 1.5, 2.5): the first has gap 1; the second is seen nowhere
    # and the third seen everywhere, so both take the part's gap 0.5
    three = shifted_to_seen(base, known, seen, part, 1.0, None, height, 3)
    assert torch.allclose(three[0, RGB][0, :, 0], torch.tensor([1.0, 0.75, 0.5, 0.5]))


def test_pattern_strength_is_each_parts_median_print_between_two_bands():
    """4² texture, part 0 the left half (a print of +1 / −1), part 1 the right half (plain 0; its top row unseen and
    bright, which must not count); fine band 4 (the texels themselves), coarse band 1 (the mean over the seen texels,
    0): each part's median colour length is 1 and 0."""
    rgb = torch.zeros(1, 3, 4, 4)
    rgb[0, 0, :, :2] = torch.tensor([[1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]])
    rgb[0, :, 0, 2:] = 5.0
    part = torch.zeros(4, 4, dtype=torch.long)
    part[:, 2:] = 1
    part[3, 3] = -1  # outside the charts
    seen = torch.ones(4, 4, dtype=torch.bool)
    seen[0, 2:] = False
    assert pattern_strength(rgb, seen, part, 4, 1) == pytest.approx({0: 1.0, 1: 0.0})
    seen[:, 2:] = False  # a part with no seen texel has no strength
    assert set(pattern_strength(rgb, seen, part, 4, 1)) == {0}
