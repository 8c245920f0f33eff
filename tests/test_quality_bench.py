"""benchmarks/quality.py: where a test set with bare-chested or capped people is cached, and a bad share refused before any work."""

from __future__ import annotations

import sys

import pytest
from conftest import benchmark_module

from dinar.data.synth import SynthConfig


@pytest.fixture(scope="module")
def quality():
    with benchmark_module("quality") as module:
        yield module


def test_a_bare_torso_set_has_its_own_folder_and_the_plain_one_keeps_its_name(quality):
    plain = quality.default_test_folder(SynthConfig(people=24, views=4, size=512, seed=78))
    bare = quality.default_test_folder(SynthConfig(people=24, views=4, size=512, seed=78, bare_torso=1.0))
    assert plain.name == "quality_s78_p24_v4_512" and bare.name == "quality_s78_p24_v4_512_bare1"
    both = quality.default_test_folder(SynthConfig(people=24, views=4, size=512, seed=78, bare_torso=0.5, cap=0.3))
    assert both.name == "quality_s78_p24_v4_512_bare0.5_cap0.3"
    assert quality.default_test_folder(SynthConfig(people=12, views=4, size=512, seed=78, plain=1.0)).name == "quality_s78_p12_v4_512_plain1"


@pytest.mark.parametrize(("flag", "field"), [("--bare-torso", "bare_torso"), ("--cap", "cap"), ("--plain", "plain"),
                                            ("--long-hair-front", "long_hair_front")])
def test_a_bad_share_exits_2_with_one_line(quality, flag, field, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["quality.py", flag, "1.5"])
    assert quality.main() == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{field} must be a share in 0..1" in err[0]


def test_a_set_with_a_captures_fit_error_has_its_own_folder_and_marker(quality, tmp_path, monkeypatch):
    import argparse

    parser = argparse.ArgumentParser()
    quality.add_fit_noise_option(parser)
    assert quality.fit_noise(parser.parse_args([])) == {}  # exact: the sets made before keep their folder and marker
    fields = quality.fit_noise(parser.parse_args(["--fit-noise", "0.5"]))
    cfg = SynthConfig(people=2, views=4, size=512, seed=80, **fields)
    assert fields["noise_shared"] and quality.noise_scale(cfg) == 0.5
    assert quality.default_test_folder(cfg).name == "quality_s80_p2_v4_512_n0.5"
    with pytest.raises(ValueError, match="--fit-noise must be 0..10"):
        quality.fit_noise(parser.parse_args(["--fit-noise", "-1"]))
    made = []
    monkeypatch.setattr(quality, "generate", lambda cfg, folder, progress: made.append(cfg))
    tmp_path.joinpath("set").mkdir()
    quality.test_set(tmp_path / "set", cfg)
    assert made == [cfg] and '"fit_noise": 0.5' in (tmp_path / "set" / quality.MARKER).read_text()


def test_a_bad_fit_noise_exits_2_with_one_line(quality, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["quality.py", "--fit-noise", "11"])
    assert quality.main() == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--fit-noise must be 0..10" in err[0]
