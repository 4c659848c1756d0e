"""The in-memory forms of a benchmark: clean (`Benchmark`: manifests, classes, recipe, sources) as a recipe makes it,
and noisy (`NoisyBenchmark`: one training manifest and noise card per config) as the noise step makes it and the
folder writer serialises it."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from avnoisebench.hashing import sha256_file

BASE_SCHEMA = pa.schema(
    [
        ("clip_id", pa.string()),
        ("youtube_id", pa.string()),
        ("time_start", pa.int32()),
        ("time_end", pa.int32()),
        ("class_name", pa.string()),
        ("clean_label", pa.int64()),
        ("path", pa.string()),
        ("audio_clip_id", pa.string()),
        ("source_split", pa.string()),
    ]
)


@dataclass(frozen=True)
class SourceFile:
    """An input annotation file of a build: its role, digest and where it came from."""

    name: str
    sha256: str
    origin: str

    @classmethod
    def of(cls, name: str, path: Path, origin: str) -> "SourceFile":
        """Describe a file on disk by its SHA-256."""
        return cls(name=name, sha256=sha256_file(path), origin=origin)


@dataclass(frozen=True)
class Shortfall:
    """A class that had fewer source rows than the recipe asks for in one split."""

    split: str
    class_name: str
    available: int
    requested: int


@dataclass(frozen=True)
class Benchmark:
    """Clean train/test manifests of one benchmark with everything its dataset card records."""

    name: str
    title: str
    description: str
    class_names: list[str]
    train: pa.Table
    test: pa.Table
    sources: tuple[SourceFile, ...]
    recipe: dict[str, Any]
    homepage: str
    license: str
    shortfalls: tuple[Shortfall, ...] = field(default=())


@dataclass(frozen=True)
class NoisyConfig:
    """One noise config of a build: its name, training manifest (observed labels, pairs) and noise card (JSON)."""

    name: str
    train: pa.Table
    card: dict[str, Any]


@dataclass(frozen=True)
class NoisyBenchmark:
    """A benchmark with its noise added: the clean benchmark, the test manifest with label (and pair) columns, one
    config per noise setting, and the noise seed."""

    benchmark: Benchmark
    test: pa.Table
    configs: tuple[NoisyConfig, ...]
    seed: int


def manifest_table(columns: dict[str, Any]) -> pa.Table:
    """A manifest with the base schema, rows sorted by clip_id."""
    table = pa.table(columns, schema=BASE_SCHEMA)
    return table.sort_by("clip_id")


def format_shortfalls(shortfalls: Sequence[Shortfall]) -> str:
    """One line per short class: split, name, rows available and asked for."""
    return "\n".join(f"  {s.split:<5} {s.class_name!r}: {s.available} of {s.requested}" for s in shortfalls)


def describe_shortfalls(shortfalls: Sequence[Shortfall], num_classes: int) -> str:
    """How many classes are short, e.g. `25 of 50 classes are short of rows (25 without train rows)`."""
    parts = []
    for split in dict.fromkeys(s.split for s in shortfalls):
        empty = sum(1 for s in shortfalls if s.split == split and s.available == 0)
        fewer = sum(1 for s in shortfalls if s.split == split and s.available > 0)
        parts += [f"{empty} without {split} rows"] if empty else []
        parts += [f"{fewer} with fewer {split} rows than asked"] if fewer else []
    short = len({s.class_name for s in shortfalls})
    return f"{short} of {num_classes} classes are short of rows ({', '.join(parts)})"
