"""The back screening (benchmarks/back_ceiling.py): its detail names, the border weight, the ``--detail`` and ``--blend``
parsers, the ``--levers`` parser and names, which inpaintings the kept sources need, and the masks of a source built from the true back (the renderer reads
them, so they must be a restored texture's, not the photo's). The band arithmetic: tests/test_bands.py."""

from __future__ import annotations

import argparse

import pytest
import torch
from conftest import benchmark_module

from dinar.texture.channels import FILLED, RGB, SAMPLED
from dinar.texture.fills import TexelSurface


@pytest.fixture(scope="module")
def bc():
    with benchmark_module("back_ceiling") as module:
        yield module


def two_block_texture(left: float, right: float) -> torch.Tensor:
    """A [1, 21, 4, 4] texture whose red is ``left`` in columns 0-1 and ``right`` in columns 2-3."""
    t = torch.zeros(1, 21, 4, 4)
    t[0, 16, :, :2], t[0, 16, :, 2:] = left, right
    return t


def test_detail_parser_takes_share_grey_and_mixes_and_refuses_the_rest(bc, capsys):
    parser = argparse.ArgumentParser(prog="back_ceiling.py")
    assert bc.parse_detail("nearest:16", parser) == (("nearest", 16, 1.0, ""),)
    assert bc.parse_detail("mirror:8:0.5:grey", parser) == (("mirror", 8, 0.5, "grey"),)
    assert bc.parse_detail("nearest:16:0.5:nohead", parser) == (("nearest", 16, 0.5, "nohead"),)
    assert bc.parse_detail("diffusion:run:16:0.5+nearest:16:0.5", parser) == (
        ("diffusion:run", 16, 0.5, ""), ("nearest", 16, 0.5, ""))
    for bad in ("nearest", "nearest:0", "nearest:16:2", "nearest:16:x", "nearest:16:1:gray", "blur:16",
                "nearest:16+mirror:8", "nearest:16:1:grey:x"):
        with pytest.raises(SystemExit) as stop:
            bc.parse_detail(bad, parser)
        assert stop.value.code == 2
        assert bad in capsys.readouterr().err


def test_blend_parser_takes_a_weight_and_a_source_and_refuses_the_rest(bc, capsys):
    parser = argparse.ArgumentParser(prog="back_ceiling.py")
    assert bc.parse_blend("0.5", parser) == (0.5, "diffusion")
    assert bc.parse_blend("0.3:mean", parser) == (0.3, "mean")
    for bad in ("1.5", "x", "0.5:blur", "-0.1:mean"):
        with pytest.raises(SystemExit) as stop:
            bc.parse_blend(bad, parser)
        assert stop.value.code == 2
        assert bad in capsys.readouterr().err


def test_levers_parser_takes_the_options_above_the_inpainting_and_refuses_the_rest(bc, capsys):
    parser = argparse.ArgumentParser(prog="back_ceiling.py")
    levers = bc.parse_levers("mix_share=0.45,detail_share=0.4", parser)
    assert levers == (("diffusion_mix_share", 0.45), ("diffusion_detail_share", 0.4))
    assert bc.levers_name(levers) == "diffusion{mix_share=0.45,detail_share=0.4}"
    assert bc.parse_levers("mix=none,detail=mirror,detail_head=true,detail_scale=8,band_in_charts=true,detail_inset=2,"
                           "detail_plain=0.19", parser) == (
        ("diffusion_mix", None), ("diffusion_detail", "mirror"), ("diffusion_detail_head", True), ("diffusion_detail_scale", 8),
        ("diffusion_band_in_charts", True), ("diffusion_detail_inset", 2), ("diffusion_detail_plain", 0.19))
    # not a lever (the sampler's own options need another inpainting), not a number, not a fill, no value
    for bad in ("steps=10", "mix_share=x", "mix_share=1.5", "detail=blur", "mix_share", "detail_head=maybe", "detail_scale=1.5",
                "detail_inset=-1"):
        with pytest.raises(SystemExit) as stop:
            bc.parse_levers(bad, parser)
        assert stop.value.code == 2
        assert bad in capsys.readouterr().err


def test_detail_names(bc):
    assert bc.detail_name("nearest", 16, 1.0) == "nearest16"
    assert bc.detail_name("nearest", 8, 0.5, "grey") == "nearest8x0.5g"
    assert bc.detail_name("nearest", 16, 0.5, "nohead") == "nearest16x0.5h"


def test_only_the_inpaintings_the_kept_sources_need_are_run(bc):
    details = ((("diffusion", 16, 0.5, ""), ("nearest", 16, 0.5, "")), (("nearest", 16, 0.5, ""),))
    keep = {"mean", "diffusion:run@4|nearest16x0.5", "diffusion:other_direct", "diffusion:run|diffusion16x0.5+nearest16x0.5"}
    assert bc.needed_inpaintings(keep, details) == {"mean", "nearest", "diffusion:run@4", "diffusion:other", "diffusion:run",
                                                    "diffusion"}
    assert bc.needed_inpaintings({"diffusion~diffusion:run@8x0.5|nearest16x0.5"}, details) == {
        "diffusion", "diffusion:run@8", "nearest"}
    assert bc.needed_inpaintings({"mean", "diffusion{mix_share=0.45}"}, details) == {"mean", "diffusion"}


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


@pytest.mark.parametrize(("argv", "says"), [(["--bare-only"], "add --bare-torso"), (["--bare-torso", "2"], "0..1"), (["--cap", "-1"], "0..1"),
                                            (["--plain", "3"], "0..1")])
def test_look_options_are_refused_before_any_work(bc, argv, says, capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["back_ceiling.py", *argv])
    with pytest.raises(SystemExit) as stop:
        bc.main()
    assert stop.value.code == 2 and says in capsys.readouterr().err
