"""The back screening's texture arithmetic (benchmarks/back_ceiling.py): a fill's detail on a source's band, its
share and its luminance, the border weight, the ``--detail`` parser, and the masks of a source built from the
true back (the renderer reads them, so they must be a restored texture's, not the photo's)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import pytest
import torch

from dinar.texture.channels import FILLED, RGB, SAMPLED
from dinar.texture.fills import TexelSurface

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bc():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("back_ceiling")
    finally:
        sys.path.remove(str(BENCHMARKS))


def two_block_texture(left: float, right: float) -> torch.Tensor:
    """A [1, 21, 4, 4] texture whose red is ``left`` in columns 0-1 and ``right`` in columns 2-3."""
    t = torch.zeros(1, 21, 4, 4)
    t[0, 16, :, :2], t[0, 16, :, 2:] = left, right
    return t


def test_low_band_is_the_block_means_grown_back(bc):
    rgb = torch.arange(16.0).reshape(1, 1, 4, 4).repeat(1, 3, 1, 1)
    assert torch.allclose(bc.low_band(rgb, 1), torch.full_like(rgb, 7.5))  # one block: the mean everywhere
    assert torch.equal(bc.low_band(rgb, 4), rgb)  # the texture's own size: nothing lost


def test_detail_keeps_the_band_and_adds_the_share_asked(bc):
    base, fill = two_block_texture(0.5, 0.5), two_block_texture(0.2, 0.6)  # fill: mean 0.4, detail -0.2 / +0.2
    whole = bc.with_detail(base, fill, 1)
    assert torch.allclose(whole[0, 16, 0], torch.tensor([0.3, 0.3, 0.7, 0.7]))  # 0.5 + (fill - 0.4)
    half = bc.with_detail(base, fill, 1, amount=0.5)
    assert torch.allclose(half[0, 16, 0], torch.tensor([0.4, 0.4, 0.6, 0.6]))
    assert torch.allclose(bc.with_detail(base, fill, 1, amount=0.0)[:, RGB], base[:, RGB])
    assert torch.equal(whole[:, :16], base[:, :16])  # T_gen and the masks are the base's
    grey = bc.with_detail(base, fill, 1, grey=True)  # the red detail's luminance, 0.299 x (-0.2 / +0.2), on all three
    expected = torch.tensor([0.5 - 0.0598, 0.5 - 0.0598, 0.5 + 0.0598, 0.5 + 0.0598])
    assert all(torch.allclose(grey[0, c, 0], expected - (0.5 if c != 16 else 0.0)) for c in (16, 17, 18))
    assert bc.detail_name("nearest", 16, 1.0) == "nearest16"
    assert bc.detail_name("nearest", 8, 0.5, grey=True) == "nearest8x0.5g"


def test_detail_parser_takes_share_and_grey_and_refuses_the_rest(bc, capsys):
    parser = argparse.ArgumentParser(prog="back_ceiling.py")
    assert bc.parse_detail("nearest:16", parser) == ("nearest", 16, 1.0, False)
    assert bc.parse_detail("mirror:8:0.5:grey", parser) == ("mirror", 8, 0.5, True)
    for bad in ("nearest", "nearest:0", "nearest:16:2", "nearest:16:x", "nearest:16:1:gray", "blur:16"):
        with pytest.raises(SystemExit) as stop:
            bc.parse_detail(bad, parser)
        assert stop.value.code == 2
        assert bad in capsys.readouterr().err


def test_border_weight_falls_from_the_seen_border(bc):
    position = torch.zeros(1, 4, 3)
    position[0, :, 0] = torch.arange(4.0)  # texels at x = 0, 1, 2, 3; x = 0 seen
    surface = TexelSurface(inside=torch.ones(1, 4, dtype=torch.bool), position=position,
                           part=torch.zeros(1, 4, dtype=torch.long), front=torch.tensor([0.0, -1.0, 0.0]))
    filled = torch.tensor([[[[1.0, 0.0, 0.0, 0.0]]]])
    weight = bc.border_weight(surface, filled, radius=2.0)
    assert torch.allclose(weight[0, 0, 0], torch.tensor([0.0, 0.5, 0.0, 0.0]))  # 1 - d / 2; seen texels get 0


def test_a_source_from_elsewhere_keeps_the_fills_masks(bc):
    known = two_block_texture(0.3, 0.0)
    known[0, 19:21, :, :2] = 1.0  # the photo saw the left half
    filled = known.clone()
    filled[0, 19:21] = 1.0  # a fill marks every texel sampled and known
    source = two_block_texture(0.9, 0.9)
    out = bc.rgb_from(filled, source)
    assert torch.equal(out[:, SAMPLED], torch.ones(1, 1, 4, 4)) and torch.equal(out[:, FILLED], torch.ones(1, 1, 4, 4))
    assert torch.equal(out[:, RGB], source[:, RGB])
