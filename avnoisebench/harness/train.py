"""Run a method on a benchmark: resolve settings, build the model and the training data, fit, predict the test split."""

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from avnoisebench.dataset.decoding import ClipSampling, LogMelConfig
from avnoisebench.dataset.folder import open_folder
from avnoisebench.errors import AvnbError
from avnoisebench.harness.cache import CachedClips, cache_split
from avnoisebench.harness.data import CachedSource, RawSource, TrainData
from avnoisebench.harness.method import Budget, Predictor
from avnoisebench.harness.registry import load_method
from avnoisebench.harness.run import PREDICTIONS, RunLog, prepare_run_dir
from avnoisebench.harness.truth import HiddenTruth
from avnoisebench.loaders.clips import ClipDataset, collate_clips
from avnoisebench.media.decode import normalize_video
from avnoisebench.provenance import code_version

TRACKS = ("raw", "cached")


@dataclass(frozen=True)
class TrainSettings:
    """Everything a run depends on; recorded in the run's config.json."""

    folder: Path
    config: str
    method: str
    media_root: Path
    out: Path
    track: str = "raw"
    model: str = "r2plus1d18-panns22"
    seed: int = 0
    epochs: int = 60
    batch_size: int = 64
    lr: float = 5e-5
    device: str = "cpu"
    workers: int = 0
    cache_dir: Path | None = None
    sampling: ClipSampling = ClipSampling()
    audio: LogMelConfig = LogMelConfig()
    method_options: dict[str, Any] = field(default_factory=dict)
    visual_weights: Path | None = None
    audio_weights: Path | None = None

    def record(self) -> dict[str, Any]:
        """JSON-ready resolved settings plus the benchmark identity."""
        values = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
        bench = open_folder(self.folder)
        return {
            **values,
            "benchmark_folder": str(self.folder.resolve()),
            "benchmark": bench.name,
            "benchmark_lock_sha256": bench.lock_sha256,
            "code_version": code_version(),
        }


def distributed_context() -> tuple[int, int]:
    """(rank, world size); starts the process group when launched by torchrun with several processes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def cached(settings: TrainSettings, split: str) -> CachedClips:
    """The cached-track arrays of a split (built on first use)."""
    root = settings.cache_dir or settings.out / "cache"
    return cache_split(
        settings.folder,
        settings.config,
        split,
        settings.media_root,
        settings.sampling,
        settings.audio,
        root,
        settings.workers,
    )


def train_data(settings: TrainSettings, num_classes: int, rank: int, world: int) -> tuple[TrainData, HiddenTruth]:
    """The training split on the chosen track, and its hidden truth (clean labels, mismatch flags) for the run log."""
    common = {
        "num_classes": num_classes,
        "batch_size": settings.batch_size,
        "seed": settings.seed,
        "device": settings.device,
        "rank": rank,
        "world_size": world,
    }
    if settings.track == "cached":
        cache = cached(settings, "train")
        truth = HiddenTruth.from_lists(cache.labels, cache.clean_labels, cache.nc_flags, cache.valid)
        return TrainData(cache.labels, cache.valid, CachedSource(cache), **common), truth
    args = (settings.folder, settings.config, "train", settings.media_root)
    train = ClipDataset(*args, mode="train", sampling=settings.sampling, audio=settings.audio, seed=settings.seed)
    fixed_sampling = ClipSampling(**{**asdict(settings.sampling), "num_views": 1})
    fixed = ClipDataset(*args, mode="eval", sampling=fixed_sampling, audio=settings.audio)
    valid = np.ones(len(train), dtype=bool)
    truth = HiddenTruth.from_lists(train.labels, train.clean_labels, train.nc_flags, valid)
    return TrainData(train.labels, valid, RawSource(train, fixed, settings.workers), **common), truth


def _scores(predictor: Predictor, video: torch.Tensor, audio: torch.Tensor, device: str) -> np.ndarray:
    views = video.shape[1]
    flat_video = normalize_video(video.reshape(-1, *video.shape[2:])).to(device)
    logits = predictor(flat_video, audio.reshape(-1, *audio.shape[2:]).float().to(device))
    return logits.reshape(-1, views, logits.shape[-1]).float().cpu().numpy()


def predict_test(
    settings: TrainSettings, predictor: Predictor, num_classes: int
) -> tuple[list[str], np.ndarray, list[str]]:
    """Scores (N, V, K) for every test clip in manifest order, and the clips without usable media (zero
    placeholders there, which the evaluator counts as errors)."""
    test = ClipDataset(
        settings.folder,
        settings.config,
        "test",
        settings.media_root,
        mode="eval",
        sampling=settings.sampling,
        audio=settings.audio,
        only_available=False,
    )
    scores = np.zeros((len(test), settings.sampling.num_views, num_classes), dtype=np.float32)
    scored = np.zeros(len(test), dtype=bool)
    if settings.track == "cached":
        cache = cached(settings, "test")
        rows = np.flatnonzero(cache.valid)
        position = {clip: p for p, clip in enumerate(test.clip_ids)}
        for chunk in np.array_split(rows, max(1, len(rows) // 8)):
            targets = [position[cache.clip_ids[r]] for r in chunk]
            scores[targets] = _scores(
                predictor,
                torch.from_numpy(np.ascontiguousarray(cache.video[chunk])),
                torch.from_numpy(np.ascontiguousarray(cache.logmel[chunk])),
                settings.device,
            )
            scored[targets] = True
    else:
        loader = DataLoader(test, batch_size=4, num_workers=settings.workers, collate_fn=collate_clips)
        position = {row: p for p, row in enumerate(test.indices)}
        for batch in loader:
            if batch.clip_id:
                targets = [position[row] for row in batch.index.tolist()]
                scores[targets] = _scores(predictor, batch.video, batch.logmel, settings.device)
                scored[targets] = True
    return test.clip_ids, scores, [clip for clip, ok in zip(test.clip_ids, scored, strict=True) if not ok]


def run_training(settings: TrainSettings, resume: bool = False) -> Path:
    """Train `settings.method` and write the run folder (config, metrics log, checkpoint, test predictions)."""
    from avnoisebench.evaluation.predictions import write_predictions
    from avnoisebench.models import build_model

    if settings.track not in TRACKS:
        raise AvnbError(f"--track {settings.track!r} is unknown; use raw (decode every step) or cached")
    rank, world = distributed_context()
    method = load_method(settings.method)(**settings.method_options)
    if rank == 0:
        prepare_run_dir(settings.out, settings.record(), resume)
    if settings.track == "cached" and rank == 0:
        for split in ("train", "test"):
            cached(settings, split)
    if world > 1:
        dist.barrier()
    torch.manual_seed(settings.seed)
    num_classes = open_folder(settings.folder).num_classes
    model = build_model(
        settings.model, num_classes, visual_weights=settings.visual_weights, audio_weights=settings.audio_weights
    ).to(settings.device)
    data, truth = train_data(settings, num_classes, rank, world)
    fitted = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    log = RunLog(settings.out, rank, resume, truth)
    budget = Budget(settings.epochs, settings.batch_size, settings.lr, settings.device, settings.seed)
    predictor = method.fit(fitted, data, budget, log)
    if rank == 0:
        clip_ids, scores, unscored = predict_test(settings, predictor, num_classes)
        write_predictions(settings.out / PREDICTIONS, settings.folder, clip_ids, scores, unscored)
        log.event("predict", test_clips=len(clip_ids), without_media=len(unscored))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return settings.out
