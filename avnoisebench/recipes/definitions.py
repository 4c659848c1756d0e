"""Read the benchmark definition files shipped in `annotations/` (installed as `avnoisebench.annotations`)."""

import tomllib
from functools import cache
from importlib import resources
from typing import Any


def definition_text(name: str) -> str:
    """The text of one shipped definition file, e.g. `mini_kinetics_classes.csv`."""
    return resources.files("avnoisebench.annotations").joinpath(name).read_text(encoding="utf-8")


def definition_lines(name: str) -> list[str]:
    """The non-empty, non-comment lines of a shipped list file."""
    return [line.strip() for line in definition_text(name).splitlines() if line.strip() and not line.startswith("#")]


@cache
def definition(stem: str) -> dict[str, Any]:
    """A benchmark's definition file `annotations/<stem>.toml` as a dict (read once per process)."""
    return tomllib.loads(definition_text(f"{stem}.toml"))
