"""The cached track: every clip of a split decoded once into memory-mapped arrays, reused across runs."""

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from avnoisebench.dataset.decoding import ClipSampling, LogMelConfig
from avnoisebench.dataset.folder import open_folder
from avnoisebench.loaders.clips import ClipDataset, ClipSample

META = "meta.json"


@dataclass(frozen=True)
class CachedClips:
    """Decoded clips of one split: video uint8 (n, V, 3, T, H, W), log-mel float16 (n, V, frames, mels)."""

    video: np.ndarray
    logmel: np.ndarray
    valid: np.ndarray
    clip_ids: list[str]
    labels: list[int]
    has_audio: np.ndarray
    clean_labels: list[int]
    nc_flags: list[bool] | None


def cache_key(
    folder: Path, split: str, media_root: Path, sampling: ClipSampling, audio: LogMelConfig, pairs: list[str]
) -> str:
    """A digest of everything the cached arrays depend on: benchmark lock, split, the (clip, audio clip) pairs,
    media root, decoding settings; label-noise configs with the same pairs share one cache."""
    payload = {
        "lock": open_folder(folder).lock_sha256,
        "split": split,
        "pairs": hashlib.sha256("\n".join(pairs).encode()).hexdigest(),
        "media_root": str(media_root.resolve()),
        "sampling": asdict(sampling),
        "audio": asdict(audio),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def _identity(batch: list) -> list:
    return batch


def cache_split(
    folder: Path,
    config: str,
    split: str,
    media_root: Path,
    sampling: ClipSampling,
    audio: LogMelConfig,
    cache_root: Path,
    workers: int = 0,
) -> CachedClips:
    """Decode a split once (train: the centre clip of each video; test: every view) into `cache_root`, or reuse it."""
    views = sampling if split == "test" else replace(sampling, num_views=1)
    dataset = ClipDataset(folder, config, split, media_root, mode="eval", sampling=views, audio=audio)
    pairs = [f"{clip} {audio_clip}" for clip, audio_clip in zip(dataset.clip_ids, dataset.audio_clip_ids, strict=True)]
    target = cache_root / f"{split}-{cache_key(folder, split, media_root, views, audio, pairs)}"
    if not (target / META).is_file():
        _build(dataset, views, audio, target, workers)
    meta = json.loads((target / META).read_text())
    return CachedClips(
        video=np.load(target / "video.npy", mmap_mode="r"),
        logmel=np.load(target / "logmel.npy", mmap_mode="r"),
        valid=np.load(target / "valid.npy"),
        clip_ids=meta["clip_ids"],
        labels=dataset.labels,
        has_audio=np.load(target / "has_audio.npy"),
        clean_labels=dataset.clean_labels,
        nc_flags=dataset.nc_flags,
    )


def _build(dataset: ClipDataset, sampling: ClipSampling, audio: LogMelConfig, target: Path, workers: int) -> None:
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    n, v, size = len(dataset), sampling.num_views, sampling.crop
    video = np.lib.format.open_memmap(
        tmp / "video.npy", mode="w+", dtype=np.uint8, shape=(n, v, 3, sampling.num_frames, size, size)
    )
    logmel = np.lib.format.open_memmap(
        tmp / "logmel.npy", mode="w+", dtype=np.float16, shape=(n, v, audio.num_frames, audio.n_mels)
    )
    valid, has_audio = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    loader = DataLoader(dataset, batch_size=1, num_workers=workers, collate_fn=_identity)
    for position, (sample,) in enumerate(loader):
        if isinstance(sample, ClipSample):
            video[position] = sample.video.numpy()
            logmel[position] = sample.logmel.numpy()
            valid[position], has_audio[position] = True, sample.has_audio
    video.flush()
    logmel.flush()
    np.save(tmp / "valid.npy", valid)
    np.save(tmp / "has_audio.npy", has_audio)
    (tmp / META).write_text(json.dumps({"clip_ids": dataset.clip_ids, "valid": int(valid.sum())}))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
