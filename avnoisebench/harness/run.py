"""A run folder: resolved config, per-epoch metrics log, checkpoints for resuming, per-sample score files."""

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avnoisebench.errors import AvnbError
from avnoisebench.harness.truth import HiddenTruth, roc_auc

CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
PREDICTIONS = "predictions.parquet"
SCORES = "scores"
_SCORE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class SampleScores:
    """One per-sample score file of a run: the scores (index order), the epoch they are from, which samples are
    valid, and, when the benchmark records them, which pairs are mismatched and which labels are noisy."""

    name: str
    epoch: int
    scores: np.ndarray
    valid: np.ndarray
    nc_flags: np.ndarray | None
    label_noisy: np.ndarray | None


class RunLog:
    """Where a method reports each epoch and keeps its checkpoint; only rank 0 writes. With the hidden `truth` (the
    harness gives it; tests may leave it out) the diagnostics hooks also score a method's labels and per-sample
    scores against the clean labels and mismatch flags, which they never return."""

    def __init__(self, run_dir: Path, rank: int = 0, resume: bool = False, truth: HiddenTruth | None = None) -> None:
        self.run_dir, self.rank, self.resume = run_dir, rank, resume
        self._truth = truth

    @property
    def writer(self) -> bool:
        """Whether this process writes the run folder."""
        return self.rank == 0

    def _append(self, record: dict[str, Any]) -> None:
        if self.writer:
            with open(self.run_dir / METRICS, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({**record, "time": round(time.time(), 3)}) + "\n")

    def epoch(self, epoch: int, **metrics: float) -> None:
        """Append one line {epoch, metrics..., time} to metrics.jsonl."""
        self._append({"epoch": epoch, **metrics})

    def event(self, name: str, **values: Any) -> None:
        """Append one non-epoch line {event, values..., time} to metrics.jsonl."""
        self._append({"event": name, **values})

    def corrected_labels(self, epoch: int, labels: torch.Tensor) -> None:
        """Log a `corrected_labels` event: accuracy of a method's per-sample labels (index order) and of the observed
        labels against the clean ones, and the fraction changed from the observed labels (nothing without truth)."""
        if self._truth is not None and self.writer:
            diagnostics = self._truth.label_diagnostics(labels.detach().cpu().numpy())
            self.event("corrected_labels", epoch=epoch, **{k: round(v, 6) for k, v in diagnostics.items()})

    def sample_scores(self, epoch: int, name: str, scores: torch.Tensor) -> None:
        """Log a `sample_scores` event (mean over valid samples, and with nc flags the ROC-AUC of the scores for
        separating matched from mismatched pairs) and write scores/<name>.npz, replaced at every call."""
        if not _SCORE_NAME.match(name):
            raise ValueError(f"score name {name!r} must be letters, digits, _ or -")
        if not self.writer:
            return
        values = scores.detach().float().cpu().numpy()
        truth = self._truth
        valid = np.ones(len(values), dtype=bool) if truth is None else truth.valid
        metrics = {"mean": round(float(values[valid].mean()), 6)}
        arrays = {"epoch": np.int64(epoch), "scores": values, "valid": valid}
        if truth is not None:
            arrays["label_noisy"] = truth.observed != truth.clean
            matched = truth.matched_pairs()
            if matched is not None:
                arrays["nc_flags"] = truth.nc_flags
                metrics["auc_matched_vs_mismatched"] = round(roc_auc(values[valid], matched[valid]), 6)
        self.event("sample_scores", score=name, epoch=epoch, **metrics)
        folder = self.run_dir / SCORES
        folder.mkdir(exist_ok=True)
        tmp = folder / f".{name}.npz.tmp"
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, folder / f"{name}.npz")

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Write the training state atomically (replaces the previous checkpoint)."""
        if self.writer:
            tmp = self.run_dir / f".{CHECKPOINT}.tmp"
            torch.save(state, tmp)
            os.replace(tmp, self.run_dir / CHECKPOINT)

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The last checkpoint when resuming, else None."""
        path = self.run_dir / CHECKPOINT
        if not (self.resume and path.is_file()):
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise AvnbError(f"{path} cannot be read ({exc}); delete it to start the run over") from exc


def read_sample_scores(run_dir: Path, name: str) -> SampleScores:
    """The last per-sample scores a method logged under `name` in a run folder."""
    path = run_dir / SCORES / f"{name}.npz"
    if not path.is_file():
        available = sorted(p.stem for p in (run_dir / SCORES).glob("*.npz"))
        raise AvnbError(f"{path} does not exist; the run logged scores {', '.join(available) or 'none'}")
    with np.load(path) as arrays:
        optional = {key: arrays[key] if key in arrays else None for key in ("nc_flags", "label_noisy")}
        return SampleScores(name, int(arrays["epoch"]), arrays["scores"], arrays["valid"], **optional)


def prepare_run_dir(run_dir: Path, config: dict[str, Any], resume: bool) -> None:
    """Create the run folder and write config.json; resuming requires the same config, a new run an empty folder."""
    path = run_dir / CONFIG
    if resume:
        if not path.is_file():
            raise AvnbError(f"{run_dir} has no {CONFIG} to resume; start the run without --resume")
        recorded = json.loads(path.read_text())
        changed = sorted(
            k for k in set(recorded) | set(config) if k != "code_version" and recorded.get(k) != config.get(k)
        )
        if changed:
            raise AvnbError(f"--resume with different settings ({', '.join(changed)}) than {path}; use the same ones")
        return
    if run_dir.exists() and any(run_dir.iterdir()):
        raise AvnbError(f"run folder {run_dir} is not empty; choose another --out or pass --resume to continue it")
    run_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")
