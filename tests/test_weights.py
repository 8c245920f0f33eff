"""The model-folder manifest: pinned SHA-256s, refused when a file is missing or changed."""

import json

import pytest

from dinar.weights import (
    MODEL_FILES,
    ModelDirError,
    shipped_dir,
    verify_model_dir,
    write_manifest,
)


def _fake_model_dir(root):
    for name in MODEL_FILES:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode() * 3)
    return root


def test_manifest_round_trip_and_tamper(tmp_path):
    model_dir = _fake_model_dir(tmp_path / "m")
    write_manifest(model_dir, {"preset": "tiny"})
    doc = verify_model_dir(model_dir)
    assert doc["preset"] == "tiny" and set(doc["files"]) == set(MODEL_FILES)
    (model_dir / "vq/model.safetensors").write_bytes(b"changed")
    with pytest.raises(ModelDirError, match="does not match"):
        verify_model_dir(model_dir)


def test_missing_files_are_named(tmp_path):
    model_dir = _fake_model_dir(tmp_path / "m")
    (model_dir / "diffusion/model.safetensors").unlink()
    with pytest.raises(ModelDirError, match="diffusion/model.safetensors"):
        verify_model_dir(model_dir)
    with pytest.raises(ModelDirError, match="no such model folder"):
        verify_model_dir(tmp_path / "nowhere")


def test_shipped_weights_match_their_manifest():
    manifest = shipped_dir() / "manifest.json"
    assert manifest.is_file(), "the package must ship its default model (recipes/hd.sh)"
    doc = verify_model_dir(shipped_dir())
    total = sum(entry["bytes"] for entry in doc["files"].values())
    assert total < 100 * 2**20, f"shipped weights are {total / 2**20:.1f} MiB"
    assert json.loads((shipped_dir() / "stage1/config.json").read_text())["config"]["networks"]["name"] == "hd"
    assert json.loads((shipped_dir() / "manifest.json").read_text())["recipe"] == "recipes/hd.sh"
