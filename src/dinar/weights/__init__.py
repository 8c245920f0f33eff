"""Weights: the one save/load format of every network, model folders, the shipped model, digests.

- :mod:`dinar.weights.format` — ``model.safetensors`` + ``config.json`` for any network;
- :mod:`dinar.weights.networks` — stage 1 (with its UV atlas and discriminator), the VQ, the inpainter;
- :mod:`dinar.weights.model_dir` — model folders, their SHA-256 manifest, the shipped ``tiny`` model;
- :mod:`dinar.digests` — every SHA-256 dinar records.

Training (:mod:`dinar.train`) and inference (:mod:`dinar.pipeline`) both go through these modules, and
neither this package nor inference imports training code.
"""

from dinar.digests import config_digest, sha256_file, state_digest
from dinar.weights.model_dir import (
    DEFAULT_PRESET,
    MANIFEST_FILE,
    MODEL_FILES,
    ModelDirError,
    default_model_dir,
    shipped_dir,
    verify_model_dir,
    write_manifest,
)

__all__ = [
    "DEFAULT_PRESET",
    "MANIFEST_FILE",
    "MODEL_FILES",
    "ModelDirError",
    "config_digest",
    "default_model_dir",
    "sha256_file",
    "shipped_dir",
    "state_digest",
    "verify_model_dir",
    "write_manifest",
]
