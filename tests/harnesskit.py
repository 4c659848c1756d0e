"""The small synthetic-av benchmark and cached-track run settings shared by the harness and baseline tests."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avnoisebench.harness.data import TrainData
from avnoisebench.harness.settings import TrainSettings, plan_run
from avnoisebench.models import build_model
from avnoisebench.progress import SILENT, Task
from avnoisebench.recipes.synthetic_av import SyntheticAvOptions, build_synthetic_av

SAMPLING = {"num_frames": 4, "stride": 0.5, "num_views": 3, "short_side": 40, "crop": 32}


SMALL_SYNTHETIC = {"classes": 3, "train_per_class": 6, "test_per_class": 2}


def build_bench(root: Path) -> tuple[Path, Path]:
    """synthetic-av with 4 classes, 20 train and 8 test clips each (chance is 25 %) and its media root."""
    options = SyntheticAvOptions(
        out=root / "synthetic-av", media_root=root / "media", classes=4, train_per_class=20, test_per_class=8
    )
    build_synthetic_av(options)
    return root / "synthetic-av", root / "media"


def run_settings(bench: tuple[Path, Path], out: Path, **overrides: Any) -> TrainSettings:
    """A short cached-track run of the small model from scratch on `bench` (late-fusion on clean labels unless
    overridden; `method` may be a name or a Method instance)."""
    folder, media = bench
    values: dict[str, Any] = {
        "config": "clean",
        "method": "late-fusion",
        "track": "cached",
        "model": "small",
        "init": "none",
        "epochs": 10,
        "batch_size": 16,
        "lr": 3e-3,
        "sampling": SAMPLING,
        "cache_dir": folder.parent / "cache",
        **overrides,
    }
    return plan_run(folder, values.pop("config"), values.pop("method"), out=out, media_root=media, **values)


def vector_task(
    labels: torch.Tensor,
    video: torch.Tensor,
    audio: torch.Tensor,
    batch_size: int = 32,
    model_seed: int = 0,
    feature_dim: int = 32,
) -> tuple[torch.nn.Module, TrainData]:
    """An `mlp` model (seeded init) and training data over in-memory vectors."""
    num_classes = int(labels.max()) + 1
    data = TrainData(
        labels.tolist(), np.ones(len(labels), bool), TensorSource(video, audio), num_classes, batch_size, 0
    )
    torch.manual_seed(model_seed)
    dims = {"video_dim": video.shape[1], "audio_dim": audio.shape[1]}
    return build_model("mlp", num_classes, feature_dim=feature_dim, **dims), data


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


class Notes:
    """A progress sink that keeps the notes (tasks show nothing)."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)

    def task(self, name: str, total: int | None, unit: str = "steps") -> Task:
        return SILENT.task(name, total, unit)


class Planted:
    """An object whose unpickling creates `marker`: what a crafted checkpoint would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))
