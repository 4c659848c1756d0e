"""Read the benchmark definitions shipped in `annotations/` (class lists, sampling recipes)."""

import csv
import tomllib
from functools import cache
from importlib import resources
from typing import Any

from avnoisebench.errors import AvnbError

MINI_KINETICS_LEVELS = (10, 20, 30, 40)


def _text(name: str) -> str:
    return resources.files("avnoisebench.annotations").joinpath(name).read_text(encoding="utf-8")


def _list(name: str) -> list[str]:
    return [line.strip() for line in _text(name).splitlines() if line.strip() and not line.startswith("#")]


@cache
def recipe(benchmark: str) -> dict[str, Any]:
    """The sampling recipe of a benchmark (`mini_kinetics` or `ucf101_av`) as a dict."""
    return tomllib.loads(_text(f"{benchmark}.toml"))


@cache
def mini_kinetics_class_table() -> tuple[dict[str, str], ...]:
    """Rows of the appendix class lists: level, paper spelling, canonical Kinetics-400 name."""
    return tuple(csv.DictReader(_text("mini_kinetics_classes.csv").splitlines()))


def mini_kinetics_classes(level: int) -> list[str]:
    """The 50 canonical Kinetics-400 class names of one noisy-correspondence level (10/20/30/40)."""
    if level not in MINI_KINETICS_LEVELS:
        raise AvnbError(f"mini-Kinetics level {level} does not exist; choose one of {list(MINI_KINETICS_LEVELS)}")
    return [row["kinetics_name"] for row in mini_kinetics_class_table() if int(row["level"]) == level]


def ucf101_av_classes() -> list[str]:
    """The 51 UCF101 classes with audio, spelled as in UCF101's classInd.txt."""
    return _list("ucf101_av_classes.txt")


def ucf101_av_no_audio() -> frozenset[str]:
    """Split-1 videos of the audio classes that have no audio track."""
    return frozenset(_list("ucf101_av_no_audio.txt"))
