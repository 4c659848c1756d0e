"""The cached track: every clip of a split decoded once into memory-mapped arrays in a shared cache directory, keyed
by everything the arrays depend on (benchmark lock, split, the (clip, audio clip) pairs, media root and the files'
sizes and times, decoding), and reused by every run; `avnb cache list|clear` manage it."""

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from torch.utils.data import DataLoader

from avnoisebench.dataset.decoding import Decoding
from avnoisebench.dataset.folder import BenchmarkFolder
from avnoisebench.loaders.clips import ClipDataset, ClipSample, SkippedClip
from avnoisebench.media.paths import media_fingerprint
from avnoisebench.media.status import record_decode_failure
from avnoisebench.progress import SILENT, Progress

META = "meta.json"
DECODER_VERSION = 2
"""Raised when what decoding yields for the same settings changes (2: audio windows moved inside the recording)."""
T = TypeVar("T")


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
    key: str = ""


@dataclass(frozen=True)
class CacheEntry:
    """One cached split as `avnb cache list` shows it."""

    path: Path
    kind: str
    benchmark: str
    split: str
    clips: int
    valid: int
    bytes: int
    created: float


def cache_key(dataset: ClipDataset, lock_sha256: str, split: str, decoding: Decoding) -> str:
    """A digest of everything a split's cached arrays depend on; label-noise configs with the same pairs share it."""
    pairs = "\n".join(f"{c} {a}" for c, a in zip(dataset.clip_ids, dataset.audio_clip_ids, strict=True))
    payload = {
        "decoder": DECODER_VERSION,
        "lock": lock_sha256,
        "split": split,
        "pairs": hashlib.sha256(pairs.encode()).hexdigest(),
        "media": media_fingerprint([*dataset.video_paths, *dataset.audio_paths]),
        "decoding": asdict(decoding),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def _identity(batch: list) -> list:
    return batch


def cache_entry(target: Path, load: Callable[[Path], T | None], write: Callable[[Path], None]) -> T:
    """A finished cache entry loaded, or written into a temporary sibling, renamed into place and loaded (a damaged
    entry, one that does not load, is written again; readers of the old files keep them until they let go)."""
    loaded = load(target)
    if loaded is not None:
        return loaded
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write(tmp)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    loaded = load(target)
    if loaded is None:
        raise OSError(f"the cache entry {target} could not be read back after it was written")
    return loaded


def cache_split(
    folder: BenchmarkFolder,
    config: str,
    split: str,
    media_root: Path,
    decoding: Decoding,
    cache_root: Path,
    workers: int = 0,
    progress: Progress = SILENT,
) -> CachedClips:
    """Decode a split once (train: the centre clip of each video; test: every view) into `cache_root`, or reuse it;
    a damaged cache entry is decoded again."""
    views = decoding if split == "test" else decoding.with_sampling(num_views=1)
    dataset = ClipDataset(folder, config, split, media_root, mode="eval", sampling=views.sampling, audio=views.audio)
    return cache_clips(dataset, folder, split, views, cache_root, workers, progress)


def cache_clips(
    dataset: ClipDataset,
    folder: BenchmarkFolder,
    split: str,
    decoding: Decoding,
    cache_root: Path,
    workers: int = 0,
    progress: Progress = SILENT,
) -> CachedClips:
    """The cached arrays of an eval-mode ClipDataset (its views as `decoding` gives them), decoded on first use."""
    key = f"{folder.name}-{split}-{cache_key(dataset, folder.lock_sha256, split, decoding)}"
    return cache_entry(
        cache_root / key,
        lambda path: _load(path, dataset),
        lambda tmp: _write(dataset, folder, split, decoding, tmp, workers, progress),
    )


def _load(target: Path, dataset: ClipDataset) -> CachedClips | None:
    """The arrays of a finished cache entry, or None when it is absent or damaged (then it is rebuilt)."""
    try:
        meta = json.loads((target / META).read_text())
        cached = CachedClips(
            video=np.load(target / "video.npy", mmap_mode="r"),
            logmel=np.load(target / "logmel.npy", mmap_mode="r"),
            valid=np.load(target / "valid.npy"),
            clip_ids=meta["clip_ids"],
            labels=dataset.labels,
            has_audio=np.load(target / "has_audio.npy"),
            clean_labels=dataset.clean_labels,
            nc_flags=dataset.nc_flags,
            key=target.name,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    sizes = {len(cached.video), len(cached.logmel), len(cached.valid), len(cached.has_audio), len(cached.clip_ids)}
    return cached if sizes == {len(dataset)} and cached.clip_ids == dataset.clip_ids else None


def _write(
    dataset: ClipDataset,
    folder: BenchmarkFolder,
    split: str,
    decoding: Decoding,
    tmp: Path,
    workers: int,
    progress: Progress,
) -> None:
    sampling, audio = decoding.sampling, decoding.audio
    n, v, size = len(dataset), sampling.num_views, sampling.crop
    video = np.lib.format.open_memmap(
        tmp / "video.npy", mode="w+", dtype=np.uint8, shape=(n, v, 3, sampling.num_frames, size, size)
    )
    logmel = np.lib.format.open_memmap(
        tmp / "logmel.npy", mode="w+", dtype=np.float16, shape=(n, v, audio.num_frames, audio.n_mels)
    )
    valid, has_audio = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    loader = DataLoader(dataset, batch_size=1, num_workers=workers, collate_fn=_identity)
    task = progress.task(f"decode {folder.name} {split}", n, "clips")
    for position, (sample,) in enumerate(loader):
        if isinstance(sample, ClipSample):
            video[position] = sample.video.numpy()
            logmel[position] = sample.logmel.numpy()
            valid[position], has_audio[position] = True, sample.has_audio
        elif isinstance(sample, SkippedClip):
            record_decode_failure(dataset.media_root, sample.clip_id, sample.category, sample.message)
            progress.note(f"skipped {sample.clip_id}: {sample.category} ({sample.message})")
        task.advance(failed=not valid[position])
    task.close()
    video.flush()
    logmel.flush()
    np.save(tmp / "valid.npy", valid)
    np.save(tmp / "has_audio.npy", has_audio)
    meta = {
        "kind": "clips",
        "benchmark": folder.name,
        "lock_sha256": folder.lock_sha256,
        "split": split,
        "decoding": asdict(decoding),
        "clip_ids": dataset.clip_ids,
        "valid": int(valid.sum()),
        "created": time.time(),
    }
    (tmp / META).write_text(json.dumps(meta))


def list_caches(cache_root: Path) -> list[CacheEntry]:
    """The finished entries of a cache directory, oldest first."""
    entries = []
    for path in sorted(cache_root.glob("*/" + META)) if cache_root.is_dir() else []:
        try:
            meta = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        size = sum(f.stat().st_size for f in path.parent.iterdir() if f.is_file())
        entries.append(
            CacheEntry(
                path.parent,
                meta.get("kind", "clips"),
                meta.get("benchmark", "?"),
                meta.get("split", "?"),
                len(meta.get("clip_ids", [])),
                int(meta.get("valid", 0)),
                size,
                float(meta.get("created", path.stat().st_mtime)),
            )
        )
    return sorted(entries, key=lambda e: e.created)


def clear_caches(cache_root: Path, benchmark: str | None = None) -> list[CacheEntry]:
    """Delete every cache entry (or those of one benchmark) and any half-written one; returns what was removed."""
    removed = [e for e in list_caches(cache_root) if benchmark is None or e.benchmark == benchmark]
    for entry in removed:
        shutil.rmtree(entry.path, ignore_errors=True)
    if benchmark is None and cache_root.is_dir():
        for leftover in cache_root.glob(".*.tmp-*"):
            if not _alive(int(leftover.name.rsplit("-", 1)[1])):
                shutil.rmtree(leftover, ignore_errors=True)
    return removed


def _alive(pid: int) -> bool:
    """Whether a process with this id exists (a cache being written by it is left alone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
