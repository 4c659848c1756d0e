"""A run folder: resolved config, per-epoch metrics log, checkpoints for resuming."""

import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from avnoisebench.errors import AvnbError

CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
PREDICTIONS = "predictions.parquet"


class RunLog:
    """Where a method reports each epoch and keeps its checkpoint; only rank 0 writes."""

    def __init__(self, run_dir: Path, rank: int = 0, resume: bool = False) -> None:
        self.run_dir, self.rank, self.resume = run_dir, rank, resume

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
