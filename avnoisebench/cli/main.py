"""Entry point of `avnb`: the application with every command module registered."""

from avnoisebench.cli import folders, media, results, runs  # noqa: F401  (registers their commands)
from avnoisebench.cli.app import app

__all__ = ["app"]
