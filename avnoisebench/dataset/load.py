"""Load a benchmark folder as a Hugging Face DatasetDict."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

from avnoisebench.dataset.folder import BenchmarkFolder, open_folder

if TYPE_CHECKING:
    import datasets


def load(folder: str | Path | BenchmarkFolder, config: str = "clean", **kwargs: Any) -> "datasets.DatasetDict":
    """`datasets.load_dataset(folder, config)` after checking the folder, its config and its files against the lock."""
    import datasets

    bench = open_folder(folder)
    for split in ("train", "test"):
        bench.checked(bench.split_file(config, split))
    return datasets.load_dataset(str(bench.path), config, **kwargs)
