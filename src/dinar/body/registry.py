"""Pick a body model by name: ``anny`` (default, ships in its wheel) or ``smplx`` (user's model files)."""

from __future__ import annotations

import functools
from pathlib import Path

from dinar.body.base import BodyModel


def available_body_models() -> dict[str, str]:
    """Name -> one-line status of every backend on this machine."""
    status = {}
    try:
        import anny

        status["anny"] = f"available (anny {anny.__version__})"
    except ImportError:
        status["anny"] = "missing: pip install anny"
    try:
        import smplx  # noqa: F401

        status["smplx"] = "available with your SMPL-X model files (--body-model-path)"
    except ImportError:
        status["smplx"] = "missing: pip install 'dinar[smplx]' and pass your SMPL-X model files"
    return status


@functools.lru_cache(maxsize=4)
def load_body_model(name: str = "anny", model_path: str | Path | None = None, gender: str = "neutral") -> BodyModel:
    """One shared instance per (name, path): body assets are large and read-only."""
    if name == "anny":
        from dinar.body.anny_body import AnnyBody

        return AnnyBody()
    if name == "smplx":
        if model_path is None:
            raise ValueError(
                "The smplx body model needs your own SMPL-X model files (licensed, not shippable): "
                "pass model_path=<folder with SMPLX_NEUTRAL.npz> or use the default 'anny'."
            )
        from dinar.body.smplx_body import SMPLXBody

        return SMPLXBody(Path(model_path), gender=gender)
    raise ValueError(f"Unknown body model {name!r}; choose one of {sorted(available_body_models())}")
