"""`ClipDataset`: decoded video clips and log-mel audio windows of one benchmark split, for training or 10-view eval."""

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from avnoisebench.dataset.decoding import ClipSampling, LogMelConfig
from avnoisebench.dataset.folder import BenchmarkFolder, open_folder
from avnoisebench.errors import AvnbError
from avnoisebench.media.audio import audio_features
from avnoisebench.media.coverage import present_clips
from avnoisebench.media.decode import decode_eval_views, decode_train_clip, normalize_video
from avnoisebench.media.paths import media_path
from avnoisebench.media.probe import MediaError

MODES = ("train", "eval")


class ClipSample(NamedTuple):
    """One sample: train mode gives video (3, T, H, W) and log-mel (frames, mels); eval mode adds a leading
    view axis to both. `index` is the row's position in the split manifest; `has_audio` is False when the audio
    file had no audio stream (the log-mel is then silence)."""

    index: int
    clip_id: str
    video: torch.Tensor
    logmel: torch.Tensor
    label: int
    has_audio: bool


class SkippedClip(NamedTuple):
    """A sample whose media could not be decoded; `collate_clips` drops it from the batch and reports it."""

    index: int
    clip_id: str
    category: str
    message: str


@dataclass(frozen=True)
class ClipBatch:
    """A collated batch and the samples that were skipped."""

    index: torch.Tensor
    clip_id: list[str]
    video: torch.Tensor
    logmel: torch.Tensor
    label: torch.Tensor
    has_audio: torch.Tensor
    skipped: list[SkippedClip]


@dataclass(frozen=True)
class Coverage:
    """How many rows of the split have their video and audio files available in the media root."""

    total: int
    available: int
    unavailable: tuple[str, ...]

    @property
    def fraction(self) -> float:
        """Share of rows available."""
        return self.available / self.total if self.total else 0.0


class ClipDataset(Dataset):
    """Samples of one split of a benchmark folder, decoded from `media_root`; the label is the observed one.

    Frames come from the row's `clip_id`, audio from its `audio_clip_id` (another clip under synthetic
    correspondence noise). Sampling and log-mel settings default to the benchmark's recommended decoding (its card's
    recipe), else the paper's. `clean_labels` and `nc_flags` (None without an `nc_flag` column) are kept for the
    harness's diagnostics; they are not part of a sample."""

    def __init__(
        self,
        folder: str | Path | BenchmarkFolder,
        config: str,
        split: str,
        media_root: str | Path,
        mode: str = "train",
        sampling: ClipSampling | None = None,
        audio: LogMelConfig | None = None,
        backend: str = "auto",
        seed: int = 0,
        normalize: bool = False,
        only_available: bool = True,
    ) -> None:
        bench = open_folder(folder)
        table = bench.manifest(config, split)
        columns = ["clip_id", "audio_clip_id", "label", "clean_label"]
        rows = table.select(columns + (["nc_flag"] if "nc_flag" in table.column_names else [])).to_pylist()
        paths = dict(zip(*bench.clips.select(["clip_id", "path"]).to_pydict().values(), strict=True))
        present = present_clips(paths, Path(media_root)) if only_available else set(paths)
        self._setup(bench, rows, paths, Path(media_root), mode, sampling, audio, backend, seed, normalize, present)
        self.nc_flags = [rows[i]["nc_flag"] for i in self.indices] if "nc_flag" in table.column_names else None

    @classmethod
    def unlabelled(
        cls,
        folder: str | Path | BenchmarkFolder,
        split: str,
        media_root: str | Path,
        sampling: ClipSampling | None = None,
        audio: LogMelConfig | None = None,
    ) -> "ClipDataset":
        """Every clip of a split with its own audio track and no label (`label` -1): what label-free pretraining
        decodes. Only the clips' ids and media paths are read, never a label or an audio-visual pairing."""
        bench, media_root = open_folder(folder), Path(media_root)
        paths = bench.clip_paths(split)
        rows = [{"clip_id": clip, "audio_clip_id": clip, "label": -1, "clean_label": -1} for clip in paths]
        present = present_clips(paths, media_root)
        dataset = cls.__new__(cls)
        dataset._setup(bench, rows, paths, media_root, "eval", sampling, audio, "auto", 0, False, present)
        dataset.nc_flags = None
        return dataset

    def _setup(
        self,
        bench: BenchmarkFolder,
        rows: list[dict],
        paths: dict[str, str],
        media_root: Path,
        mode: str,
        sampling: ClipSampling | None,
        audio: LogMelConfig | None,
        backend: str,
        seed: int,
        normalize: bool,
        present: set[str],
    ) -> None:
        if mode not in MODES:
            raise AvnbError(f"mode {mode!r} is unknown; use 'train' (one random clip) or 'eval' (all views)")
        sampling, audio = sampling or bench.decoding.sampling, audio or bench.decoding.audio
        usable = [row["clip_id"] in present and row["audio_clip_id"] in present for row in rows]
        keep = [i for i, ok in enumerate(usable) if ok]
        missing = tuple(row["clip_id"] for row, ok in zip(rows, usable, strict=True) if not ok)
        self.coverage = Coverage(total=len(rows), available=len(keep), unavailable=missing)
        self.indices = keep
        self.clip_ids = [rows[i]["clip_id"] for i in keep]
        self.labels = [rows[i]["label"] for i in keep]
        self.clean_labels = [rows[i]["clean_label"] for i in keep]
        self.audio_clip_ids = [rows[i]["audio_clip_id"] for i in keep]
        self.video_paths = [media_path(media_root, paths[rows[i]["clip_id"]]) for i in keep]
        self.audio_paths = [media_path(media_root, paths[rows[i]["audio_clip_id"]]) for i in keep]
        self.mode, self.sampling, self.audio, self.backend = mode, sampling, audio, backend
        self.media_root = media_root
        self.seed, self.normalize, self.epoch = seed, normalize, 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the random clips, crops and flips of this epoch (train mode)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> ClipSample | SkippedClip:
        index, clip_id = self.indices[position], self.clip_ids[position]
        try:
            if self.mode == "train":
                rng = np.random.default_rng([self.seed, self.epoch, index])
                video, centre = decode_train_clip(self.video_paths[position], self.sampling, rng, self.backend)
                logmel, has_audio = audio_features(self.audio_paths[position], np.array([centre]), self.audio)
                logmel = logmel[0]
            else:
                video, centres = decode_eval_views(self.video_paths[position], self.sampling, self.backend)
                logmel, has_audio = audio_features(self.audio_paths[position], centres, self.audio)
        except MediaError as exc:
            return SkippedClip(index, clip_id, exc.category, exc.detail)
        if self.normalize:
            video = normalize_video(video)
        return ClipSample(index, clip_id, video, logmel, self.labels[position], has_audio)


def collate_clips(batch: list[ClipSample | SkippedClip]) -> ClipBatch:
    """Stack the decodable samples of a batch; skipped ones are listed in `skipped`, never raised."""
    kept = [s for s in batch if isinstance(s, ClipSample)]
    skipped = [s for s in batch if isinstance(s, SkippedClip)]
    if not kept:
        empty = torch.empty(0)
        return ClipBatch(empty.long(), [], empty, empty, empty.long(), empty.bool(), skipped)
    return ClipBatch(
        index=torch.tensor([s.index for s in kept]),
        clip_id=[s.clip_id for s in kept],
        video=torch.stack([s.video for s in kept]),
        logmel=torch.stack([s.logmel for s in kept]),
        label=torch.tensor([s.label for s in kept]),
        has_audio=torch.tensor([s.has_audio for s in kept]),
        skipped=skipped,
    )
