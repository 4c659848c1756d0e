"""A summary of a benchmark folder: classes, split sizes, configs and realised noise."""

from dataclasses import dataclass
from pathlib import Path

from avnoisebench.dataset.folder import BenchmarkFolder, NoiseConfig, open_folder


@dataclass(frozen=True)
class FolderSummary:
    """What `avnb info` shows."""

    name: str
    title: str
    num_classes: int
    splits: dict[str, int]
    configs: list[NoiseConfig]
    shortfall: int


def summarize(folder: Path | BenchmarkFolder) -> FolderSummary:
    """The card and every noise card of a benchmark folder as a summary."""
    bench = open_folder(folder)
    return FolderSummary(
        name=bench.name,
        title=bench.title,
        num_classes=bench.num_classes,
        splits=bench.split_sizes,
        configs=[bench.config(name) for name in bench.config_names],
        shortfall=len(bench.shortfalls),
    )
