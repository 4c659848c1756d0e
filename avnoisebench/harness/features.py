"""The frozen-backbone track (`--track features`): the initial encoders' features of every clip of a split (each
test view too), computed once from the decoded-clip cache and cached per (decoded clips, model, weights); methods
then train their projection layers, heads and losses on these vectors."""

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from avnoisebench.harness.cache import META, CachedClips, cache_entry
from avnoisebench.media.decode import normalize_video
from avnoisebench.progress import SILENT, Progress

BLOCK = 256


@dataclass(frozen=True)
class CachedFeatures:
    """Frozen features of one split: video (n, V, Dv) and audio (n, V, Da) float32, with the clips' bookkeeping."""

    video: np.ndarray
    audio: np.ndarray
    valid: np.ndarray
    clip_ids: list[str]
    labels: list[int]
    clean_labels: list[int]
    nc_flags: list[bool] | None


@torch.no_grad()
def encode(encoder: nn.Module, inputs: np.ndarray, video: bool) -> np.ndarray:
    """Features (n, V, D) of an eval-mode encoder over uint8 clips (n, V, 3, T, H, W) or log-mels (n, V, F, M)."""
    n, v = inputs.shape[:2]
    out = []
    for start in range(0, n, BLOCK):
        block = torch.from_numpy(np.array(inputs[start : start + BLOCK])).flatten(0, 1)
        block = normalize_video(block) if video else block.float()
        out.append(encoder(block).reshape(-1, v, encoder.out_dim).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, v, encoder.out_dim), dtype=np.float32)


def feature_split(
    clips: CachedClips,
    model: nn.Module,
    model_name: str,
    weights_sha256: str | None,
    cache_root: Path,
    benchmark: str,
    split: str,
    progress: Progress = SILENT,
) -> CachedFeatures:
    """The frozen features of a decoded split, computed with `model`'s encoders in eval mode, or reused."""
    payload = {"clips": clips.key, "model": model_name, "weights": weights_sha256}
    key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]

    def load(target: Path) -> CachedFeatures | None:
        try:
            features = CachedFeatures(
                video=np.load(target / "video.npy", mmap_mode="r"),
                audio=np.load(target / "audio.npy", mmap_mode="r"),
                valid=clips.valid,
                clip_ids=clips.clip_ids,
                labels=clips.labels,
                clean_labels=clips.clean_labels,
                nc_flags=clips.nc_flags,
            )
            json.loads((target / META).read_text())
        except (OSError, ValueError):
            return None
        return features if len(features.video) == len(features.audio) == len(clips.clip_ids) else None

    def write(tmp: Path) -> None:
        model.eval()
        task = progress.task(f"features {benchmark} {split}", 2, "modalities")
        np.save(tmp / "video.npy", encode(model.video_encoder, clips.video, video=True))
        task.advance()
        np.save(tmp / "audio.npy", encode(model.audio_encoder, clips.logmel, video=False))
        task.advance()
        task.close()
        meta = {"kind": "features", "benchmark": benchmark, "split": split, "clips": clips.key, "model": model_name}
        meta |= {"weights": weights_sha256, "clip_ids": clips.clip_ids, "valid": int(clips.valid.sum())}
        (tmp / META).write_text(json.dumps({**meta, "created": time.time()}))

    return cache_entry(cache_root / f"{benchmark}-{split}-features-{key}", load, write)
