"""The code version recorded in run folders and results: package version plus the git state when available."""

import subprocess
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

_PROJECT = Path(__file__).resolve().parents[1]


@cache
def package_version() -> str:
    """The installed avnoisebench's version (from its metadata)."""
    try:
        return version("avnoisebench")
    except PackageNotFoundError:
        return "0+unknown"


@cache
def code_version() -> str:
    """`<version>` or `<version>+<git describe --always --dirty>` when the package runs from a git checkout."""
    base = package_version()
    if not (_PROJECT / ".git").exists():
        return base
    try:
        done = subprocess.run(
            ["git", "-C", str(_PROJECT), "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
        )
    except OSError:
        return base
    return f"{base}+{done.stdout.strip()}" if done.returncode == 0 and done.stdout.strip() else base
