"""Choose a learning rate on the training split only: hold out a stratified slice of the noisy training set, train
the method on the rest at each candidate rate, and keep the rate whose predictor agrees best with the held-out
slice's observed (noisy) labels. No test clip is read."""

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from avnoisebench.errors import AvnbError
from avnoisebench.harness.data import TrainData
from avnoisebench.harness.runlog import RunLog
from avnoisebench.harness.settings import TrainSettings
from avnoisebench.harness.training import initial_model, split_arrays, train_data
from avnoisebench.progress import SILENT, Progress


@dataclass(frozen=True)
class RateScore:
    """One candidate learning rate and its accuracy on the held-out slice's observed labels (percent)."""

    lr: float
    heldout_accuracy: float


@dataclass(frozen=True)
class RateChoice:
    """The candidates' scores and the rate chosen (the best held-out accuracy; ties go to the smaller rate)."""

    scores: list[RateScore]
    heldout: int
    trained_on: int

    @property
    def chosen(self) -> float:
        """The chosen learning rate."""
        return max(self.scores, key=lambda s: (s.heldout_accuracy, -s.lr)).lr


def heldout_slice(labels: np.ndarray, valid: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A boolean mask of about `fraction` of the valid samples of every observed class, seeded."""
    if not 0 < fraction < 1:
        raise AvnbError(f"--holdout {fraction} must lie between 0 and 1 (e.g. 0.1)")
    rng = np.random.default_rng([seed, 0x5E1EC7])
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels[valid]):
        members = rng.permutation(np.flatnonzero(valid & (labels == label)))
        mask[members[: round(fraction * len(members))]] = True
    return mask


@torch.no_grad()
def _accuracy(predictor: object, data: TrainData, rows: np.ndarray) -> float:
    chunks = [rows[i : i + 256] for i in range(0, len(rows), 256)]
    correct = 0
    for index, video, audio in data.source.batches(chunks, None):
        logits = predictor(video.to(data.device), audio.to(data.device))
        correct += int((logits.argmax(dim=1).cpu() == data.labels[index]).sum())
    return 100.0 * correct / max(len(rows), 1)


def select_lr(
    settings: TrainSettings, rates: list[float], fraction: float = 0.1, progress: Progress = SILENT
) -> RateChoice:
    """Train `settings.method` at each rate on the training split minus a held-out slice, score each predictor on
    the slice's observed labels, and return every score with the chosen rate."""
    if not rates or any(not (r > 0 and np.isfinite(r)) for r in rates):
        raise AvnbError(f"--lr candidates {rates} must be positive numbers; give at least one")
    full, _ = train_data(settings, 0, 1, split_arrays(settings, "train", progress))
    labels, valid = full.labels.numpy(), full.valid.numpy()
    heldout = heldout_slice(labels, valid, fraction, settings.seed)
    scores = []
    task = progress.task(f"select lr for {settings.method.name}", len(rates), "rates")
    for lr in rates:
        run = replace(settings, lr=lr)
        data = TrainData(
            labels.tolist(), valid & ~heldout, full.source, full.num_classes, run.batch_size, run.seed, run.device
        )
        with tempfile.TemporaryDirectory() as scratch:
            log = RunLog(Path(scratch))
            try:
                predictor = run.method.fit(initial_model(run), data, run.budget, log)
            finally:
                log.folder.release()
        scores.append(RateScore(lr, round(_accuracy(predictor, full, np.flatnonzero(heldout)), 4)))
        task.advance(lr=lr, heldout_accuracy=scores[-1].heldout_accuracy)
    task.close()
    return RateChoice(scores, int(heldout.sum()), int((valid & ~heldout).sum()))
