"""Where dinar keeps what it builds once per machine (body-model cache, atlases, converted weights).

One place per machine so the ~0.8 GB Anny build and derived assets are made once and shared by
every command, test and training run.
"""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir() -> Path:
    """The user's cache root: ``$XDG_CACHE_HOME`` or ``~/.cache``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def dinar_cache_dir() -> Path:
    """dinar's own cache (``$DINAR_CACHE_DIR``, default ``<user cache>/dinar``)."""
    return Path(os.environ.get("DINAR_CACHE_DIR") or user_cache_dir() / "dinar")


def anny_cache_dir() -> Path:
    """Anny's model cache (``$ANNY_CACHE_DIR``, default ``<user cache>/anny``, Anny's own default)."""
    return Path(os.environ.get("ANNY_CACHE_DIR") or user_cache_dir() / "anny")
