"""The small synthetic-av benchmark and cached-track run settings shared by the harness and baseline tests."""

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avnoisebench.benchmarks.build import synthetic_av_folder
from avnoisebench.harness.train import TrainSettings
from avnoisebench.media.decode import ClipSampling

SAMPLING = ClipSampling(num_frames=4, stride=0.5, num_views=3, short_side=40, crop=32)


def build_bench(root: Path) -> tuple[Path, Path]:
    """synthetic-av with 4 classes, 20 train and 8 test clips each (chance is 25 %) and its media root."""
    synthetic_av_folder(root / "synthetic-av", root / "media", classes=4, train_per_class=20, test_per_class=8)
    return root / "synthetic-av", root / "media"


def run_settings(bench: tuple[Path, Path], out: Path, **overrides: Any) -> TrainSettings:
    """A short cached-track run of the small model on `bench` (late-fusion on clean labels unless overridden)."""
    folder, media = bench
    base = TrainSettings(
        folder=folder,
        config="clean",
        method="late-fusion",
        media_root=media,
        out=out,
        track="cached",
        model="small",
        epochs=10,
        batch_size=16,
        lr=3e-3,
        sampling=SAMPLING,
        cache_dir=folder.parent / "cache",
    )
    return replace(base, **overrides)


class TensorSource:
    """In-memory (video, audio) tensors by sample index, every view the same; records the indices trained on."""

    def __init__(self, video: torch.Tensor, audio: torch.Tensor) -> None:
        self.video, self.audio = video, audio
        self.trained_on: set[int] = set()

    def batches(self, chunks: list[np.ndarray], epoch: int | None) -> Iterator[tuple[torch.Tensor, ...]]:
        for chunk in chunks:
            rows = torch.from_numpy(np.sort(chunk))
            if epoch is not None:
                self.trained_on.update(rows.tolist())
            yield rows, self.video[rows], self.audio[rows]
