"""The clips a benchmark folder refers to: one row per clip_id with its media path and source window."""

from pathlib import Path

import pyarrow as pa

from avnoisebench.dataset.folder import BenchmarkFolder, open_folder


def benchmark_clips(folder: Path | BenchmarkFolder) -> pa.Table:
    """Every clip of a benchmark folder (train and test), with a `split` column, sorted by clip_id."""
    return open_folder(folder).clips
