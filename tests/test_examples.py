"""The foundation walk-through in examples/ runs end to end on a synthetic person."""

import importlib.util
from pathlib import Path

import torch

from dinar.data.synth import SynthConfig, generate

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_texture_from_views_merges_front_and_back(tmp_path, body):
    generate(SynthConfig(people=1, poses=1, views=2, size=128, seed=7, supersample=1), tmp_path, progress=False)
    person = next(p for p in tmp_path.iterdir() if p.is_dir())
    example = _load("texture_from_views")
    result = example.textures_from_views(person, texture_size=128, band=1)
    rows = result["rows"]
    assert len(rows) == 2
    single = [(row[2].sum(1, keepdim=True) > 0).float().mean().item() for row in rows]
    merged = result["covered"].mean().item()
    # Front (view 0) and back (view 1) see different texels: together they cover more than either.
    assert merged > max(single) * 1.3
    assert torch.isfinite(result["merged"]).all()
    assert result["merged"].min() >= 0 and result["merged"].max() <= 1
