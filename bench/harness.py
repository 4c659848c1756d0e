"""Cached-track cross-entropy epochs through the harness versus a bare PyTorch loop, same tensors and model.

Builds synthetic-av (default size) and its cached track in a temporary folder, then times epochs of
late-fusion CE with the `small` model: once through the harness (TrainData over the memory-mapped cache,
train_epochs with its per-epoch metrics line and checkpoint), once as a bare loop over the same arrays held
in memory (same permutation, normalisation, model initialisation, Adam). Prints seconds per epoch and the
ratio harness / bare (target <= 1.15). One untimed bare epoch first warms up torch, so neither side pays for it.

    python bench/harness.py [--epochs 8] [--batch-size 32]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from avnoisebench.dataset.decoding import ClipSampling, Decoding
from avnoisebench.dataset.folder import open_folder
from avnoisebench.harness.cache import cache_split
from avnoisebench.harness.data import CachedSource
from avnoisebench.media.decode import normalize_video
from avnoisebench.models import build_model
from avnoisebench.plugin import Budget, RunLog, TrainData, cross_entropy_loss, train_epochs
from avnoisebench.recipes.synthetic_av import SyntheticAvOptions, build_synthetic_av


class _Timed(RunLog):
    """A RunLog that also records when each epoch line is written."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(run_dir)
        self.stamps = [time.perf_counter()]

    def epoch(self, epoch: int, **metrics: float) -> None:
        super().epoch(epoch, **metrics)
        self.stamps.append(time.perf_counter())


def harness_epochs(data: TrainData, num_classes: int, budget: Budget, run_dir: Path) -> list[float]:
    torch.manual_seed(0)
    model = build_model("small", num_classes)
    log = _Timed(run_dir)
    train_epochs(model, data, budget, log, cross_entropy_loss)
    return list(np.diff(log.stamps))


def bare_epochs(
    video: torch.Tensor, audio: torch.Tensor, labels: torch.Tensor, valid: np.ndarray, num_classes: int, budget: Budget
) -> list[float]:
    torch.manual_seed(0)
    model = build_model("small", num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=budget.lr)
    times = []
    for epoch in range(budget.epochs):
        start = time.perf_counter()
        model.train()
        order = np.random.default_rng([budget.seed, epoch]).permutation(np.flatnonzero(valid))
        for i in range(0, len(order), budget.batch_size):
            rows = torch.from_numpy(np.sort(order[i : i + budget.batch_size]))
            logits = model(normalize_video(video[rows]), audio[rows])[2]
            loss = nn.functional.cross_entropy(logits, labels[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    decoding = Decoding(ClipSampling(num_frames=8, stride=0.25, num_views=10, short_side=64, crop=56))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        [folder] = build_synthetic_av(SyntheticAvOptions(out=root / "synthetic-av", media_root=root / "media"))
        cache = cache_split(open_folder(folder), "clean", "train", root / "media", decoding, root / "cache")
        num_classes = max(cache.labels) + 1
        budget = Budget(epochs=args.epochs, batch_size=args.batch_size, lr=1e-3)
        data = TrainData(cache.labels, cache.valid, CachedSource(cache), num_classes, args.batch_size, budget.seed)
        video = torch.from_numpy(np.array(cache.video[:, 0]))
        audio = torch.from_numpy(np.array(cache.logmel[:, 0])).float()
        labels = torch.tensor(cache.labels)
        bare_epochs(video, audio, labels, cache.valid, num_classes, Budget(epochs=1, batch_size=args.batch_size))
        harness = harness_epochs(data, num_classes, budget, root / "run")
        bare = bare_epochs(video, audio, labels, cache.valid, num_classes, budget)
    h, b = statistics.median(harness), statistics.median(bare)
    clips = int(cache.valid.sum())
    print(f"{clips} cached training clips, batch {args.batch_size}, {args.epochs} epochs each after one warm-up epoch")
    print(f"harness  {h:.3f} s/epoch   (all epochs: {', '.join(f'{t:.3f}' for t in harness)})")
    print(f"bare     {b:.3f} s/epoch   (all epochs: {', '.join(f'{t:.3f}' for t in bare)})")
    print(f"ratio harness / bare: {h / b:.3f} (target <= 1.15)")


if __name__ == "__main__":
    main()
