"""The user's cache directory for avnoisebench: $AVNB_CACHE_DIR, else $XDG_CACHE_HOME/avnoisebench, else
~/.cache/avnoisebench (downloaded sources, the shared decoded-clip and feature caches)."""

import os
from pathlib import Path

CACHE_ENV = "AVNB_CACHE_DIR"


def cache_root() -> Path:
    """The avnoisebench cache directory (not created here)."""
    if override := os.environ.get(CACHE_ENV):
        return Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "avnoisebench"
