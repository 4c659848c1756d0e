"""The in-memory form of a benchmark before noise is added: clean manifests, classes, recipe, sources."""

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


def manifest_table(columns: dict[str, Any]) -> pa.Table:
    """A manifest with the base schema, rows sorted by clip_id."""
    table = pa.table(columns, schema=BASE_SCHEMA)
    return table.sort_by("clip_id")


def format_shortfalls(shortfalls: tuple[Shortfall, ...] | list[Shortfall]) -> str:
    """One line per short class: split, name, rows available and asked for."""
    return "\n".join(f"  {s.split:<5} {s.class_name!r}: {s.available} of {s.requested}" for s in shortfalls)
