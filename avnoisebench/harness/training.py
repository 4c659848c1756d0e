"""Run a method on a benchmark: own the run folder, build the model and the training data on the chosen track, fit,
predict the test split; a run that fails before its first epoch leaves nothing behind."""

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from avnoisebench.errors import AvnbError
from avnoisebench.harness.cache import CachedClips, cache_split
from avnoisebench.harness.data import CachedSource, FeatureSource, RawSource, TrainData
from avnoisebench.harness.features import CachedFeatures, feature_split
from avnoisebench.harness.method import Predictor
from avnoisebench.harness.runlog import RunLog
from avnoisebench.harness.settings import TrainSettings
from avnoisebench.harness.truth import HiddenTruth
from avnoisebench.loaders.clips import ClipDataset, collate_clips
from avnoisebench.media.decode import normalize_video
from avnoisebench.models import AVModel, build_model
from avnoisebench.models.panns import load_panns_checkpoint
from avnoisebench.models.r2plus1d import load_torchvision_r2plus1d
from avnoisebench.models.weights import load_encoder_weights
from avnoisebench.progress import SILENT, Progress
from avnoisebench.runs.folder import RunFolder
from avnoisebench.runs.predictions import write_predictions


def distributed_context() -> tuple[int, int]:
    """(rank, world size); starts the process group when launched by torchrun with several processes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def cached(settings: TrainSettings, split: str, progress: Progress = SILENT) -> CachedClips:
    """The cached-track arrays of a split (decoded on first use into the shared cache)."""
    return cache_split(
        settings.folder,
        settings.config,
        split,
        settings.media_root,
        settings.decoding,
        settings.cache_dir,
        settings.workers,
        progress,
    )


def frozen_features(settings: TrainSettings, split: str, progress: Progress = SILENT) -> CachedFeatures:
    """The features track's vectors of a split: the initial encoders' features of its decoded clips."""
    clips = cached(settings, split, progress)
    return feature_split(
        clips,
        backbone(settings),
        settings.model,
        settings.init.record.sha256,
        settings.cache_dir,
        settings.folder.name,
        split,
        progress,
    )


def split_arrays(
    settings: TrainSettings, split: str, progress: Progress = SILENT
) -> CachedClips | CachedFeatures | None:
    """A split's arrays on the cached or features track (decoded or embedded on first use); None on the raw track."""
    if settings.track == "cached":
        return cached(settings, split, progress)
    if settings.track == "features":
        return frozen_features(settings, split, progress)
    return None


def initial_model(settings: TrainSettings) -> AVModel:
    """The model the method trains, seeded: the encoders with their initial weights, or on the features track MLP
    projections (fresh) over the frozen encoders' features, each with a fresh fusion head."""
    if settings.track == "features":
        encoders = backbone(settings)
        dims = {"video_dim": encoders.video_encoder.out_dim, "audio_dim": encoders.audio_encoder.out_dim}
        torch.manual_seed(settings.seed)
        return build_model("mlp", settings.folder.num_classes, **dims)
    return backbone(settings)


def backbone(settings: TrainSettings) -> AVModel:
    """The run's model with its initial weights (seeded; pretrained encoders where the settings name them)."""
    torch.manual_seed(settings.seed)
    model = build_model(settings.model, settings.folder.num_classes)
    init = settings.init
    if init.weights is not None:
        load_encoder_weights(model, init.weights)
    if init.visual_weights is not None:
        load_torchvision_r2plus1d(model.video_encoder, init.visual_weights)
    if init.audio_weights is not None:
        load_panns_checkpoint(model.audio_encoder, init.audio_weights)
    return model


def train_data(
    settings: TrainSettings, rank: int, world: int, arrays: CachedClips | CachedFeatures | None = None
) -> tuple[TrainData, HiddenTruth]:
    """The training split on the chosen track (its `split_arrays` when already loaded), and its hidden truth (clean
    labels, mismatch flags) for the run log."""
    common = {
        "num_classes": settings.folder.num_classes,
        "batch_size": settings.batch_size,
        "seed": settings.seed,
        "device": settings.device,
        "rank": rank,
        "world_size": world,
    }
    arrays = arrays if arrays is not None else split_arrays(settings, "train")
    if isinstance(arrays, CachedClips):
        cache = arrays
        truth = HiddenTruth.from_lists(cache.labels, cache.clean_labels, cache.nc_flags, cache.valid)
        return TrainData(cache.labels, cache.valid, CachedSource(cache), **common), truth
    if isinstance(arrays, CachedFeatures):
        features = arrays
        truth = HiddenTruth.from_lists(features.labels, features.clean_labels, features.nc_flags, features.valid)
        return TrainData(features.labels, features.valid, FeatureSource(features), **common), truth
    sampling, audio = settings.decoding.sampling, settings.decoding.audio
    args = (settings.folder, settings.config, "train", settings.media_root)
    train = ClipDataset(*args, mode="train", sampling=sampling, audio=audio, seed=settings.seed)
    fixed = ClipDataset(*args, mode="eval", sampling=settings.decoding.with_sampling(num_views=1).sampling, audio=audio)
    valid = np.ones(len(train), dtype=bool)
    truth = HiddenTruth.from_lists(train.labels, train.clean_labels, train.nc_flags, valid)
    return TrainData(train.labels, valid, RawSource(train, fixed, settings.workers), **common), truth


def _scores(
    predictor: Predictor, video: torch.Tensor, audio: torch.Tensor, device: str, clips: bool = True
) -> np.ndarray:
    """(n, V, K) scores of n clips' V views (uint8 clips normalised first; feature vectors as they are)."""
    views = video.shape[1]
    flat_video = video.reshape(-1, *video.shape[2:])
    flat_video = normalize_video(flat_video) if clips else flat_video.float()
    logits = predictor(flat_video.to(device), audio.reshape(-1, *audio.shape[2:]).float().to(device))
    return logits.reshape(-1, views, logits.shape[-1]).float().cpu().numpy()


def predict_test(
    settings: TrainSettings, predictor: Predictor, arrays: CachedClips | CachedFeatures | None = None
) -> tuple[list[str], np.ndarray, list[str]]:
    """Scores (N, V, K) for every test clip in manifest order (from the test split's `split_arrays` when already
    loaded), and the clips without usable media (zero placeholders there, which the evaluator counts as errors)."""
    sampling = settings.decoding.sampling
    test = ClipDataset(
        settings.folder,
        settings.config,
        "test",
        settings.media_root,
        mode="eval",
        sampling=sampling,
        audio=settings.decoding.audio,
        only_available=False,
    )
    scores = np.zeros((len(test), sampling.num_views, settings.folder.num_classes), dtype=np.float32)
    scored = np.zeros(len(test), dtype=bool)
    if settings.track in ("cached", "features"):
        arrays = arrays if arrays is not None else split_arrays(settings, "test")
        audio = arrays.logmel if settings.track == "cached" else arrays.audio
        rows = np.flatnonzero(arrays.valid)
        position = {clip: p for p, clip in enumerate(test.clip_ids)}
        for chunk in np.array_split(rows, max(1, len(rows) // 8)):
            targets = [position[arrays.clip_ids[r]] for r in chunk]
            scores[targets] = _scores(
                predictor,
                torch.from_numpy(np.ascontiguousarray(arrays.video[chunk])),
                torch.from_numpy(np.ascontiguousarray(audio[chunk])),
                settings.device,
                clips=settings.track == "cached",
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
    if not scored.any():
        raise AvnbError(
            f"no test clip of {settings.folder.path} could be decoded from {settings.media_root}; nothing was "
            f"scored (see `avnb status {settings.folder.path} --media-root {settings.media_root}`)"
        )
    return test.clip_ids, scores, [clip for clip, ok in zip(test.clip_ids, scored, strict=True) if not ok]


def run_training(
    settings: TrainSettings, resume: bool = False, overwrite: bool = False, progress: Progress = SILENT
) -> Path:
    """Train `settings.method` and write the run folder (config, metrics log, checkpoint, test predictions); the
    folder is owned by this process while it runs, and removed again if the run fails before its first epoch."""
    if settings.out is None:
        raise ValueError("run_training needs settings with a run folder (out)")
    rank, world = distributed_context()
    if world > 1 and settings.device == "cuda":
        settings = replace(settings, device=f"cuda:{os.environ.get('LOCAL_RANK', '0')}")  # one GPU per process
        torch.cuda.set_device(settings.device)
    run = RunFolder.create(settings.out, settings.record(), resume, overwrite) if rank == 0 else RunFolder(settings.out)
    try:
        _train(settings, run, rank, world, resume, progress)
    except BaseException:
        if rank == 0 and not resume and not run.started:
            run.remove()
        raise
    finally:
        run.release()
    return settings.out


def _train(settings: TrainSettings, run: RunFolder, rank: int, world: int, resume: bool, progress: Progress) -> None:
    arrays = {}
    if settings.track in ("cached", "features") and rank == 0:
        arrays = {split: split_arrays(settings, split, progress) for split in ("train", "test")}
    if world > 1:
        dist.barrier()
    model = initial_model(settings).to(settings.device)
    data, truth = train_data(settings, rank, world, arrays.get("train"))
    if not data.valid.any():
        raise AvnbError(
            f"no training clip of {settings.folder.path} ({settings.config}) could be decoded from "
            f"{settings.media_root}; nothing to train on (see `avnb status`)"
        )
    fitted = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    log = RunLog(run, rank, resume, truth, progress, settings.epochs)
    try:
        predictor = settings.method.fit(fitted, data, settings.budget, log)
    finally:
        log.close()
    if rank == 0:
        clip_ids, scores, unscored = predict_test(settings, predictor, arrays.get("test"))
        write_predictions(run.predictions, settings.folder, clip_ids, scores, unscored)
        behaviour = predictor.summary() if hasattr(predictor, "summary") else {}
        log.event("predict", test_clips=len(clip_ids), without_media=len(unscored), **behaviour)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
