"""The decoding a benchmark folder's card recommends (clip sampling and log-mel settings), else the paper's."""

from dataclasses import replace
from pathlib import Path
from typing import Any

from avnoisebench.dataset.decoding import ClipSampling, LogMelConfig
from avnoisebench.dataset.layout import read_card_metadata
from avnoisebench.errors import AvnbError


def benchmark_decoding(folder: Path, **sampling_overrides: Any) -> tuple[ClipSampling, LogMelConfig]:
    """The recipe's `decoding` (paper defaults where it has none), with the given ClipSampling fields replaced."""
    decoding = read_card_metadata(folder)["avnoisebench"]["recipe"].get("decoding", {})
    try:
        sampling = ClipSampling(**decoding.get("sampling", {}))
        audio = LogMelConfig(**decoding.get("audio", {}))
    except TypeError as exc:
        raise AvnbError(
            f"{folder}: the card's decoding settings are not understood ({exc}); rebuild the folder"
        ) from exc
    return replace(sampling, **{k: v for k, v in sampling_overrides.items() if v is not None}), audio
