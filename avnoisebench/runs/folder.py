"""`RunFolder`: the one owner of a run folder's files — config.json, the metrics log, the checkpoint, the predictions
file and per-sample score files — and of who may write it (one process at a time, by an OS lock that a dead owner
releases)."""

import fcntl
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from avnoisebench.errors import AvnbError
from avnoisebench.jsonl import append_line, read_jsonl
from avnoisebench.runs.checkpoint import load_checkpoint, save_checkpoint
from avnoisebench.runs.config import RunConfig

CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
PREDICTIONS = "predictions.parquet"
SCORES = "scores"
ERROR = "error.txt"
OWNER = ".owner"
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


class RunFolder:
    """A run folder. `create` makes (or resumes, or overwrites) one and takes ownership; `RunFolder(path)` opens one
    to read. Only the owner writes; `release` (or leaving the `with` block) gives ownership up."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __enter__(self) -> "RunFolder":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()

    @property
    def predictions(self) -> Path:
        """Path of the predictions file."""
        return self.path / PREDICTIONS

    @property
    def has_config(self) -> bool:
        """Whether the folder holds a config.json (a run avnb started)."""
        return (self.path / CONFIG).is_file()

    @property
    def config(self) -> RunConfig:
        """The run's recorded settings."""
        if not self.has_config:
            raise AvnbError(f"{self.path} is not a run folder (no {CONFIG}); pass a run folder written by `avnb train`")
        return RunConfig.read(self.path / CONFIG)

    @classmethod
    def create(cls, path: Path, config: RunConfig, resume: bool = False, overwrite: bool = False) -> "RunFolder":
        """Own the run folder at `path` and write config.json: a new run needs an empty or absent folder (or
        `overwrite` of a run folder avnb wrote); `resume` needs the same run (settings that define it) recorded,
        trained with as many torch threads."""
        if resume and overwrite:
            raise AvnbError("--resume continues a run and --overwrite starts it over; pass one of them")
        run = cls(path)
        if resume:
            if not run.has_config:
                raise AvnbError(f"{path} has no {CONFIG} to resume; start the run without --resume")
            run.own()
            recorded = run.config
            changed = recorded.resume_changes(config)
            if changed == ["threads"]:
                run.release()
                raise AvnbError(
                    f"{path} was trained with {recorded.threads} torch threads and this process has {config.threads}; "
                    f"a run's numbers depend on the count, so resume it with --threads {recorded.threads}, or "
                    "--overwrite to start over"
                )
            if changed:
                run.release()
                raise AvnbError(
                    f"--resume with different settings ({', '.join(changed)}) than {path / CONFIG}; use the same "
                    f"ones, or --overwrite to start the run over"
                )
            return run
        if path.exists() and not path.is_dir():
            raise AvnbError(f"--out {path} is a file; give a folder for the run")
        if path.is_dir() and any(path.iterdir()):
            if not overwrite:
                raise AvnbError(
                    f"run folder {path} is not empty; choose another --out, pass --resume to continue it, or "
                    f"--overwrite to start it over"
                )
            if not run.has_config:
                raise AvnbError(
                    f"{path} is not empty and is not a run folder avnb wrote (no {CONFIG}); it is left untouched "
                    f"even with --overwrite: choose another --out"
                )
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AvnbError(f"cannot create run folder {path} ({exc.strerror}); choose another --out") from exc
        run.own()
        for child in path.iterdir():
            if child.name != OWNER:
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        config.write(path / CONFIG)
        return run

    def own(self) -> None:
        """Take the folder's OS lock (released by the kernel if this process dies); refuse if another holds it."""
        if self._lock_fd is not None:
            return
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = (self.path / OWNER).read_text().strip() if (self.path / OWNER).is_file() else "another process"
            raise AvnbError(
                f"run folder {self.path} is in use by {holder}; wait for it to finish (or stop it) before using the "
                f"folder, or choose another --out"
            ) from None
        self._lock_fd = fd
        (self.path / OWNER).write_text(f"process {os.getpid()}\n")

    def release(self) -> None:
        """Give up ownership."""
        if self._lock_fd is not None:
            (self.path / OWNER).unlink(missing_ok=True)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _require_owner(self) -> None:
        if self._lock_fd is None:
            raise RuntimeError(f"{self} is written without owning it; call own() or create() first")

    def remove(self) -> None:
        """Delete the folder (a run that failed before its first epoch leaves nothing behind)."""
        self._require_owner()
        shutil.rmtree(self.path, ignore_errors=True)
        self.release()

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Append one line to the metrics log."""
        self._require_owner()
        append_line(self.path / METRICS, record)

    def metrics(self) -> list[dict[str, Any]]:
        """Every line of the metrics log (a torn last line from a crash is skipped)."""
        path = self.path / METRICS
        return read_jsonl(path)[0] if path.is_file() else []

    def epochs(self) -> list[dict[str, Any]]:
        """The per-epoch lines of the metrics log."""
        return [r for r in self.metrics() if "epoch" in r and "event" not in r]

    def events(self, name: str) -> list[dict[str, Any]]:
        """The lines of one event (e.g. `corrected_labels`, `sample_scores`, `predict`)."""
        return [r for r in self.metrics() if r.get("event") == name]

    @property
    def started(self) -> bool:
        """Whether training has finished at least one epoch here (a checkpoint exists)."""
        return (self.path / CHECKPOINT).is_file()

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Replace the checkpoint atomically (tensors and plain values only)."""
        self._require_owner()
        save_checkpoint(self.path / CHECKPOINT, state)

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The last checkpoint, loaded with weights_only=True; None when there is none."""
        path = self.path / CHECKPOINT
        return load_checkpoint(path) if path.is_file() else None

    def write_scores(self, name: str, epoch: int, arrays: dict[str, np.ndarray]) -> None:
        """Write scores/<name>.npz (scores, valid, optional nc_flags and label_noisy), replacing the last one."""
        self._require_owner()
        if not _SCORE_NAME.match(name):
            raise ValueError(f"score name {name!r} must be letters, digits, _ or -")
        folder = self.path / SCORES
        folder.mkdir(exist_ok=True)
        tmp = folder / f".{name}.npz.tmp"
        with open(tmp, "wb") as handle:
            np.savez(handle, epoch=np.int64(epoch), **arrays)
        os.replace(tmp, folder / f"{name}.npz")

    def score_names(self) -> list[str]:
        """Names of the per-sample score files the run kept."""
        return sorted(p.stem for p in (self.path / SCORES).glob("*.npz"))

    def scores(self, name: str) -> SampleScores:
        """The last per-sample scores a method logged under `name`."""
        path = self.path / SCORES / f"{name}.npz"
        if not path.is_file():
            kept = ", ".join(self.score_names()) or "none"
            raise AvnbError(
                f"{self.path} has no per-sample scores named {name!r} (it kept: {kept}); only methods that score "
                f"samples (e.g. ntl's omega) write them"
            )
        with np.load(path, allow_pickle=False) as arrays:
            optional = {key: arrays[key] if key in arrays else None for key in ("nc_flags", "label_noisy")}
            return SampleScores(name, int(arrays["epoch"]), arrays["scores"], arrays["valid"], **optional)

    def write_error(self, text: str) -> Path:
        """Keep a failure's traceback beside the run (error.txt)."""
        self.path.mkdir(parents=True, exist_ok=True)
        path = self.path / ERROR
        path.write_text(text, encoding="utf-8")
        return path
