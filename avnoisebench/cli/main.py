"""Entry point of `avnb`: the application with every command module registered."""

from avnoisebench.cli import build  # noqa: F401  (registers its commands)
from avnoisebench.cli.app import app

__all__ = ["app"]
