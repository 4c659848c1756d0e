"""`RunLog`: where a method reports each epoch, keeps its checkpoint and resumes from it, and logs its diagnostics;
the run folder's files themselves belong to `avnoisebench.runs.RunFolder`."""

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from avnoisebench.harness.truth import HiddenTruth, roc_auc
from avnoisebench.progress import SILENT, Progress
from avnoisebench.runs.checkpoint import random_states, restore_random_states
from avnoisebench.runs.folder import RunFolder


def _unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


class RunLog:
    """A method's log of one run; only rank 0 writes. With the hidden `truth` (the harness gives it; tests may leave
    it out) the diagnostics hooks also score a method's labels and per-sample scores against the clean labels and
    mismatch flags, which they never return. `epochs` (the budget) sizes the progress shown per epoch."""

    def __init__(
        self,
        run: RunFolder | Path,
        rank: int = 0,
        resume: bool = False,
        truth: HiddenTruth | None = None,
        progress: Progress = SILENT,
        epochs: int | None = None,
    ) -> None:
        self.folder = run if isinstance(run, RunFolder) else RunFolder(run)
        self.rank, self.resuming = rank, resume
        self._truth = truth
        if self.writer and isinstance(run, Path):
            run.mkdir(parents=True, exist_ok=True)
            self.folder.own()
        self._progress = progress.task("train", epochs, "epoch") if self.writer else SILENT.task("train", epochs)

    @property
    def writer(self) -> bool:
        """Whether this process writes the run folder."""
        return self.rank == 0

    def _append(self, record: dict[str, Any]) -> None:
        if self.writer:
            self.folder.append_metrics({**record, "time": round(time.time(), 3)})

    def epoch(self, epoch: int, **metrics: Any) -> None:
        """Append one line {epoch, metrics..., time} to the metrics log and advance the progress by one epoch (its
        loss and phase, when given, are shown)."""
        self._append({"epoch": epoch, **metrics})
        shown = {k: metrics[k] for k in ("phase", "loss") if k in metrics}
        self._progress.advance(**shown)

    def event(self, name: str, **values: Any) -> None:
        """Append one non-epoch line {event, values..., time} to the metrics log."""
        self._append({"event": name, **values})

    def close(self) -> None:
        """The run is over: close its progress."""
        self._progress.close()

    def corrected_labels(self, epoch: int, labels: torch.Tensor) -> None:
        """Log a `corrected_labels` event: accuracy of a method's per-sample labels (index order) and of the observed
        labels against the clean ones, and the fraction changed from the observed labels (nothing without truth)."""
        if self._truth is not None and self.writer:
            diagnostics = self._truth.label_diagnostics(labels.detach().cpu().numpy())
            self.event("corrected_labels", epoch=epoch, **{k: round(v, 6) for k, v in diagnostics.items()})

    def sample_scores(self, epoch: int, name: str, scores: torch.Tensor) -> None:
        """Log a `sample_scores` event (mean over valid samples, and with nc flags the ROC-AUC of the scores for
        separating matched from mismatched pairs) and keep the scores in the run folder, replaced at every call."""
        if not self.writer:
            return
        values = scores.detach().float().cpu().numpy()
        truth = self._truth
        valid = np.ones(len(values), dtype=bool) if truth is None else truth.valid
        metrics = {"mean": round(float(values[valid].mean()), 6)}
        arrays = {"scores": values, "valid": valid}
        if truth is not None:
            arrays["label_noisy"] = truth.observed != truth.clean
            matched = truth.matched_pairs()
            if matched is not None:
                arrays["nc_flags"] = truth.nc_flags
                metrics["auc_matched_vs_mismatched"] = round(roc_auc(values[valid], matched[valid]), 6)
        self.folder.write_scores(name, epoch, arrays)
        self.event("sample_scores", score=name, epoch=epoch, **metrics)

    def checkpoint(
        self,
        epoch: int,
        modules: dict[str, nn.Module],
        optimizers: dict[str, torch.optim.Optimizer],
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Save the training state after `epoch`: the modules' and optimisers' state dicts, every random state, and
        `extra` (tensors and plain values only: numbers, strings, None, lists, tuples, dicts)."""
        if self.writer:
            self.folder.save_checkpoint(
                {
                    "epoch": epoch,
                    "modules": {name: _unwrap(m).state_dict() for name, m in modules.items()},
                    "optimizers": {name: o.state_dict() for name, o in optimizers.items()},
                    "random": random_states(),
                    "extra": extra or {},
                }
            )

    def resume(
        self,
        modules: dict[str, nn.Module],
        optimizers: dict[str, torch.optim.Optimizer],
        extra: dict[str, Any] | None = None,
    ) -> int:
        """When resuming, restore the last checkpoint into `modules`, `optimizers`, the random states and `extra`
        (updated in place) and return the epoch to start from; otherwise leave everything alone and return 0."""
        state = self.folder.load_checkpoint() if self.resuming else None
        if state is None:
            return 0
        for name, module in modules.items():
            _unwrap(module).load_state_dict(state["modules"][name])
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        restore_random_states(state["random"])
        if extra is not None:
            extra.update(state["extra"])
        return int(state["epoch"]) + 1
