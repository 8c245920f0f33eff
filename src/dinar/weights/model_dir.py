"""Model folders and the shipped models (``hd``, the default, and ``tiny``: weights of all three stages,
installed with the package).

A model folder holds ``stage1/`` (``model.safetensors``, ``config.json``, the ``atlas.safetensors`` it
was trained with, optionally ``discriminator/``), ``vq/`` and ``diffusion/`` (each ``model.safetensors``
+ ``config.json``), as the ``dinar train …`` commands export them (:mod:`dinar.weights.networks`),
plus ``manifest.json`` with the SHA-256 of every file. The
shipped folders are made by recipes: ``dinar/weights/tiny`` (128² renders) by ``recipes/tiny.sh`` and
``dinar/weights/hd`` (512² renders, the default) by ``recipes/hd.sh`` from it; :func:`default_model_dir`
checks their hashes before anything reads it, so a truncated or swapped file is refused, not loaded.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from dinar.digests import sha256_file
from dinar.utils import atomic_path

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "dinar-model-dir/1"
DEFAULT_PRESET = "hd"
"""The shipped model every command uses without ``--checkpoint``: 512² renders (``recipes/hd.sh``)."""
MODEL_FILES = ("stage1/model.safetensors", "stage1/config.json", "stage1/atlas.safetensors", "vq/model.safetensors",
               "vq/config.json", "diffusion/model.safetensors", "diffusion/config.json")
"""Files a model folder must have (``stage1/discriminator/`` is optional)."""


class ModelDirError(ValueError):
    """A model folder that is missing, incomplete or does not match its manifest."""


def shipped_dir(preset: str = DEFAULT_PRESET) -> Path:
    """Where the package keeps the shipped weights of ``preset`` (may not exist in a source checkout
    before its recipe has run)."""
    return Path(__file__).resolve().parent / preset


def write_manifest(model_dir: str | Path, info: dict[str, Any] | None = None) -> Path:
    """Pin the SHA-256 and size of every file of a model folder in ``manifest.json``."""
    model_dir = Path(model_dir)
    missing = [name for name in MODEL_FILES if not (model_dir / name).is_file()]
    if missing:
        raise ModelDirError(f"{model_dir}: missing {', '.join(missing)}")
    files = sorted(p for p in model_dir.rglob("*") if p.is_file() and p.name != MANIFEST_FILE)
    doc = {
        "format": MANIFEST_FORMAT,
        "files": {p.relative_to(model_dir).as_posix(): {"sha256": sha256_file(p), "bytes": p.stat().st_size} for p in files},
        **(info or {}),
    }
    with atomic_path(model_dir / MANIFEST_FILE) as tmp:
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
    return model_dir / MANIFEST_FILE


def verify_model_dir(model_dir: str | Path) -> dict[str, Any]:
    """Check a model folder against its manifest (when it has one) and return the manifest (or {})."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelDirError(f"{model_dir}: no such model folder (it needs {', '.join(MODEL_FILES)})")
    missing = [name for name in MODEL_FILES if not (model_dir / name).is_file()]
    if missing:
        raise ModelDirError(
            f"{model_dir}: missing {', '.join(missing)}; a model folder holds the exports of "
            "`dinar train avatar|vq|diffusion` (see recipes/tiny.sh)"
        )
    manifest_path = model_dir / MANIFEST_FILE
    if not manifest_path.is_file():
        return {}
    doc = json.loads(manifest_path.read_text())
    if doc.get("format") != MANIFEST_FORMAT:
        raise ModelDirError(f"{manifest_path}: format {doc.get('format')!r}, expected {MANIFEST_FORMAT!r}")
    for name, entry in doc["files"].items():
        path = model_dir / name
        if not path.is_file():
            raise ModelDirError(f"{path}: listed in {MANIFEST_FILE} but missing; reinstall dinar or re-run the recipe")
        got = sha256_file(path)
        if got != entry["sha256"]:
            raise ModelDirError(
                f"{path}: SHA-256 {got[:12]}… does not match the manifest ({entry['sha256'][:12]}…); "
                "the file is damaged or was replaced: reinstall dinar or re-run the recipe"
            )
    return doc


def default_model_dir(preset: str = DEFAULT_PRESET, verify: bool = True) -> Path:
    """The shipped model folder of ``preset``, its SHA-256s checked."""
    path = shipped_dir(preset)
    if not (path / MANIFEST_FILE).is_file():
        raise ModelDirError(
            f"{path}: this installation has no shipped {preset!r} weights; pass --checkpoint MODEL_DIR "
            f"(train one with recipes/{preset}.sh)"
        )
    if verify:
        verify_model_dir(path)
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m dinar.weights pin|check DIR``: write or verify the manifest of a model folder (used by the recipes)."""
    parser = argparse.ArgumentParser(prog="python -m dinar.weights", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    pin = sub.add_parser("pin", help="write DIR/manifest.json with the SHA-256 of every file")
    pin.add_argument("model_dir")
    pin.add_argument("--info", default="{}", help="JSON object merged into the manifest (recipe, training times)")
    check = sub.add_parser("check", help="verify DIR against its manifest")
    check.add_argument("model_dir")
    args = parser.parse_args(argv)
    if args.command == "pin":
        path = write_manifest(args.model_dir, json.loads(args.info))
        total = sum(e["bytes"] for e in json.loads(path.read_text())["files"].values())
        print(f"{path}: {total / 2**20:.1f} MiB pinned")
    else:
        verify_model_dir(args.model_dir)
        print(f"{args.model_dir}: all files match {MANIFEST_FILE}")
    return 0


