"""benchmarks/back_kid_spread.py: the jackknife of the back-view KID difference, on a tiny made-up report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from conftest import benchmark_module
from safetensors.torch import save_file


@pytest.fixture(scope="module")
def spread():
    with benchmark_module("back_kid_spread") as module:
        yield module


def fake_report(root: Path, people: int = 5, same: bool = False) -> Path:
    """A quality.py report's people/ folder: 2 views each (the back second), 8-d features per setting."""
    g = torch.Generator().manual_seed(0)
    for i in range(people):
        folder = root / "people" / f"p{i}"
        folder.mkdir(parents=True)
        (folder / "full.json").write_text(json.dumps({"views": [{"kind": "same"}, {"kind": "back"}]}))
        full = torch.rand(2, 8, generator=g)
        for name in ("ground_truth", "full", "fill_mean", "fill_mirror", "fill_nearest"):
            feats = full if (name == "full" or (same and name == "fill_mean")) else torch.rand(2, 8, generator=g)
            save_file({"features": feats}, str(folder / f"{name}.features.safetensors"))
    return root


def test_a_fill_equal_to_the_full_method_differs_by_zero_with_zero_spread(spread, tmp_path):
    report = fake_report(tmp_path, same=True)
    truth, full = spread.back_features(report, "ground_truth"), spread.back_features(report, "full")
    fill = spread.back_features(report, "fill_mean")
    assert truth.shape == (5, 8) and torch.equal(full, fill)
    assert spread.jackknife_se(full, fill, truth) == 0.0
    other = spread.back_features(report, "fill_nearest")
    assert spread.jackknife_se(full, other, truth) > 0.0


def test_the_script_prints_json_last_and_refuses_a_folder_without_a_report(spread, tmp_path, capsys, monkeypatch):
    report = fake_report(tmp_path / "r")
    monkeypatch.setattr(sys, "argv", ["back_kid_spread.py", str(report)])
    assert spread.main() == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc["people"] == 5 and set(doc["fills"]) == {"mean", "mirror", "nearest"}
    assert doc["fills"]["mean"]["difference"] == pytest.approx(doc["full"] - doc["fills"]["mean"]["kid"], abs=1e-9)
    monkeypatch.setattr(sys, "argv", ["back_kid_spread.py", str(tmp_path / "none")])
    assert spread.main() == 2
    assert "no quality.py report" in capsys.readouterr().err
