"""The code version recorded in run folders and results: package version plus the git state when available."""

import subprocess
from functools import cache
from pathlib import Path

from avnoisebench import __version__

_PROJECT = Path(__file__).resolve().parents[1]


@cache
def code_version() -> str:
    """`<version>` or `<version>+<git describe --always --dirty>` when the package runs from a git checkout."""
    if not (_PROJECT / ".git").exists():
        return __version__
    try:
        done = subprocess.run(
            ["git", "-C", str(_PROJECT), "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
        )
    except OSError:
        return __version__
    return f"{__version__}+{done.stdout.strip()}" if done.returncode == 0 and done.stdout.strip() else __version__
