"""What a method sees of the training split: sample indices, noisy labels, batches, whole-set feature extraction."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from avnoisebench.harness.cache import CachedClips
from avnoisebench.harness.features import CachedFeatures
from avnoisebench.loaders.clips import ClipDataset, collate_clips
from avnoisebench.media.decode import normalize_video
from avnoisebench.media.status import record_decode_failure


@dataclass(frozen=True)
class Batch:
    """A training batch: sample indices (0..n-1), normalised clips, log-mels and observed (noisy) labels."""

    index: torch.Tensor
    video: torch.Tensor
    audio: torch.Tensor
    label: torch.Tensor


class SampleSource(Protocol):
    """Turns chunks of sample indices into batches; `epoch=None` asks for the fixed, un-augmented view."""

    def batches(self, chunks: list[np.ndarray], epoch: int | None) -> Iterator[tuple[torch.Tensor, ...]]: ...


class CachedSource:
    """Batches from the cached track's memory-mapped arrays (one fixed view per sample)."""

    def __init__(self, cache: CachedClips) -> None:
        self.cache = cache

    def batches(self, chunks: list[np.ndarray], epoch: int | None) -> Iterator[tuple[torch.Tensor, ...]]:
        for chunk in chunks:
            rows = np.sort(chunk)
            video = normalize_video(torch.from_numpy(np.ascontiguousarray(self.cache.video[rows, 0])))
            audio = torch.from_numpy(np.ascontiguousarray(self.cache.logmel[rows, 0])).float()
            yield torch.from_numpy(rows), video, audio


class FeatureSource:
    """Batches of the features track: the frozen encoders' feature vectors of one fixed view per sample."""

    def __init__(self, features: CachedFeatures) -> None:
        self.features = features

    def batches(self, chunks: list[np.ndarray], epoch: int | None) -> Iterator[tuple[torch.Tensor, ...]]:
        for chunk in chunks:
            rows = np.sort(chunk)
            video = torch.from_numpy(np.ascontiguousarray(self.features.video[rows, 0]))
            audio = torch.from_numpy(np.ascontiguousarray(self.features.audio[rows, 0]))
            yield torch.from_numpy(rows), video, audio


class RawSource:
    """Batches decoded on the fly by a ClipDataset (random clip, crop and flip per epoch), in worker processes."""

    def __init__(self, train: ClipDataset, fixed: ClipDataset, workers: int) -> None:
        self.train, self.fixed, self.workers = train, fixed, workers
        self.position = {row: position for position, row in enumerate(train.indices)}
        self.skipped: set[str] = set()

    def batches(self, chunks: list[np.ndarray], epoch: int | None) -> Iterator[tuple[torch.Tensor, ...]]:
        dataset = self.fixed if epoch is None else self.train
        if epoch is not None:
            self.train.set_epoch(epoch)
        loader = DataLoader(
            dataset, batch_sampler=[c.tolist() for c in chunks], num_workers=self.workers, collate_fn=collate_clips
        )
        for batch in loader:
            for clip in batch.skipped:
                if clip.clip_id not in self.skipped:
                    self.skipped.add(clip.clip_id)
                    record_decode_failure(self.train.media_root, clip.clip_id, clip.category, clip.message)
            if len(batch.clip_id) == 0:
                continue
            positions = torch.tensor([self.position[row] for row in batch.index.tolist()])
            video = normalize_video(batch.video if epoch is not None else batch.video[:, 0])
            yield positions, video, batch.logmel if epoch is not None else batch.logmel[:, 0]


class TrainData:
    """The training split as a method sees it: n samples indexed 0..n-1 with observed labels only."""

    def __init__(
        self,
        labels: list[int],
        valid: np.ndarray,
        source: SampleSource,
        num_classes: int,
        batch_size: int,
        seed: int,
        device: str = "cpu",
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.labels = torch.tensor(labels, dtype=torch.long)
        self.valid = torch.from_numpy(np.asarray(valid, dtype=bool))
        self.num_classes = num_classes
        self.batch_size, self.seed, self.device = batch_size, seed, device
        self.rank, self.world_size = rank, world_size
        self.source = source

    @property
    def num_samples(self) -> int:
        """Number of training samples (indices run from 0 to n-1)."""
        return len(self.labels)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """This process's share of epoch `epoch`'s permutation of the valid samples (seeded by seed and epoch);
        with several processes the permutation's tail is cut so that every process gets as many samples."""
        order = np.random.default_rng([self.seed, epoch]).permutation(np.flatnonzero(self.valid.numpy()))
        return order[: len(order) - len(order) % self.world_size][self.rank :: self.world_size]

    def batches(self, epoch: int, shuffle: bool = True, batch_size: int | None = None) -> Iterator[Batch]:
        """One epoch of batches on `device`; indices identify samples for per-sample state."""
        order = self.epoch_order(epoch) if shuffle else np.flatnonzero(self.valid.numpy())[self.rank :: self.world_size]
        size = batch_size or self.batch_size
        chunks = [order[i : i + size] for i in range(0, len(order), size)]
        for index, video, audio in self.source.batches(chunks, epoch):
            yield Batch(index, video.to(self.device), audio.to(self.device), self.labels[index].to(self.device))

    @torch.no_grad()
    def extract_features(self, model: nn.Module, block_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
        """(f_v, f_a) of every sample in index order from the fixed view, in eval mode; invalid samples stay zero."""
        was_training = model.training
        model.eval()
        order = np.flatnonzero(self.valid.numpy())
        chunks = [order[i : i + block_size] for i in range(0, len(order), block_size)]
        features: list[torch.Tensor] = []
        for index, video, audio in self.source.batches(chunks, None):
            f_v, f_a, _ = model(video.to(self.device), audio.to(self.device))
            if not features:
                features = [torch.zeros(self.num_samples, f.shape[1], device=self.device) for f in (f_v, f_a)]
            features[0][index], features[1][index] = f_v, f_a
        model.train(was_training)
        return features[0], features[1]
