"""`pretrain_encoders`: both CPU encoders pretrained label-free on a benchmark's training clips, and a card saying
how."""

from pathlib import Path

import numpy as np
import torch

from avnoisebench.errors import AvnbError
from avnoisebench.pretrain.encoders import MODALITIES
from avnoisebench.pretrain.processes import train_in_processes
from avnoisebench.pretrain.recipe import PretrainSpec
from avnoisebench.pretrain.simclr import train_modality
from avnoisebench.progress import SILENT, Progress

METHOD = "SimCLR per modality (two augmented views, NT-Xent, 2-layer projector discarded); no label, no pairing"


def pretrain_encoders(
    video: np.ndarray,
    logmel: np.ndarray,
    spec: PretrainSpec,
    seed: int,
    progress: Progress = SILENT,
    workdir: Path | None = None,
    jobs: int = 1,
) -> tuple[dict[str, torch.Tensor], dict]:
    """Pretrain both encoders of `spec.model` on training clips only: uint8 video (N, 3, T, H, W) and each clip's own
    log-mels in dB (N, frames, mels). Returns the encoders' state dict (`video_encoder.*`, `audio_encoder.*`, as in
    `build_model(spec.model, ...)`) and a card. Each modality trains on one torch thread, so the weights depend on the
    data, recipe and seed alone, whatever `jobs`; `jobs=2` trains the two at once in two processes. With `workdir`,
    every epoch is checkpointed there and a rerun resumes from the last one, to the same weights."""
    data = {"video": _checked_video(video), "audio": _checked_logmel(logmel, len(video))}
    if jobs not in (1, 2):
        raise AvnbError(f"jobs must be 1 or 2 (one process per modality), got {jobs}")
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    progress.note(
        f"pretraining {spec.model} encoders label-free ({spec.name}): {spec.epochs} epochs per modality over "
        f"{len(video)} training clips, {'both at once' if jobs == 2 else 'one after the other'}"
    )
    tasks = {m: progress.task(f"pretrain {m} encoder", spec.epochs, unit="epochs") for m in MODALITIES}
    try:
        if jobs == 2:
            results = train_in_processes(data, spec, seed, workdir, tasks)
        else:
            results = {m: train_modality(m, data[m], spec, seed, workdir, tasks[m].advance) for m in MODALITIES}
    finally:
        for task in tasks.values():
            task.close()
    state = {f"{m}_encoder.{k}": v for m in MODALITIES for k, v in results[m].state.items()}
    card = {
        "recipe": spec.name,
        "method": METHOD,
        "hyperparameters": spec.to_dict(),
        "seed": seed,
        "model": spec.model,
        "epochs": spec.epochs,
        "train_clips": len(video),
        "jobs": jobs,
        "torch_threads_per_modality": 1,
        "logmel_standardisation": _standardisation_card(results["audio"].standardisation),
        "seconds": {m: round(results[m].record.seconds, 1) for m in MODALITIES},
        "cpu_seconds": {m: round(results[m].record.cpu_seconds, 1) for m in MODALITIES},
        "final_loss": {m: round(results[m].record.losses[-1], 4) for m in MODALITIES},
        "torch": torch.__version__,
    }
    return state, card


def _standardisation_card(standardisation: tuple[float, float] | None) -> dict | None:
    if standardisation is None:
        return None
    mean, std = standardisation
    return {
        "mean_db": round(mean, 4),
        "std_db": round(std, 4),
        "note": "trained on (x - mean) / std, folded into audio_encoder.stages.0: the weights take raw dB log-mels",
    }


def _described(array: object) -> str:
    return f"{getattr(array, 'dtype', type(array).__name__)} {getattr(array, 'shape', '')}".strip()


def _checked_video(video: np.ndarray) -> np.ndarray:
    if not isinstance(video, np.ndarray) or video.dtype != np.uint8 or video.ndim != 5 or video.shape[1] != 3:
        raise AvnbError(f"pretraining video must be a uint8 array (N, 3, T, H, W), got {_described(video)}")
    if len(video) < 2:
        raise AvnbError(f"pretraining needs at least 2 training clips, got {len(video)}")
    return video


def _checked_logmel(logmel: np.ndarray, n: int) -> np.ndarray:
    if not isinstance(logmel, np.ndarray) or logmel.dtype.kind != "f" or logmel.ndim != 3 or len(logmel) != n:
        raise AvnbError(
            f"pretraining log-mels must be a float array ({n}, frames, mels), one per clip, got {_described(logmel)}"
        )
    if not np.isfinite(logmel).all():
        raise AvnbError("pretraining log-mels hold NaN or infinite values")
    return logmel
