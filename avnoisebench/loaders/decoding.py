"""The decoding a benchmark folder's card recommends (clip sampling and log-mel settings), else the paper's."""

from pathlib import Path
from typing import Any

from avnoisebench.dataset.decoding import ClipSampling, LogMelConfig
from avnoisebench.dataset.folder import BenchmarkFolder, open_folder


def benchmark_decoding(folder: Path | BenchmarkFolder, **sampling_overrides: Any) -> tuple[ClipSampling, LogMelConfig]:
    """The recipe's `decoding` (paper defaults where it has none), with the given ClipSampling fields replaced."""
    decoding = open_folder(folder).decoding.with_sampling(**sampling_overrides)
    return decoding.sampling, decoding.audio
