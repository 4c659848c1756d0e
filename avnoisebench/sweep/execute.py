"""Run a sweep's cells through the harness: skip finished cells, resume interrupted ones, several worker processes at
once that never outlive the sweep; each finished cell appends one record to the results log."""

import os
import shutil
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path

from avnoisebench.errors import AvnbError
from avnoisebench.evaluation.results import append_result, read_results
from avnoisebench.evaluation.scoring import evaluate_run
from avnoisebench.harness.settings import TrainSettings
from avnoisebench.harness.training import run_training, split_arrays
from avnoisebench.processes import sigterm_raises, worker_pool
from avnoisebench.progress import SILENT, Progress, Task
from avnoisebench.runs.config import RunConfig
from avnoisebench.runs.folder import RunFolder
from avnoisebench.sweep.spec import Cell, Sweep, sweep_cells

STATUSES = ("trained", "resumed", "evaluated", "failed")


@dataclass(frozen=True)
class Outcome:
    """What became of one cell: how it ran (trained, resumed, evaluated, failed), its metrics or its error."""

    cell: Cell
    status: str
    seconds: float
    metrics: dict[str, float] | None = None
    error: str | None = None


@dataclass(frozen=True)
class SweepSummary:
    """A sweep's cells: how many there are, how many were already done, and the outcome of each one run now."""

    total: int
    skipped: int
    outcomes: list[Outcome]

    @property
    def failed(self) -> list[Outcome]:
        """The cells that raised."""
        return [o for o in self.outcomes if o.status == "failed"]


def finished_keys(results: Path, cells: list[Cell]) -> set[str]:
    """Keys of the cells whose result the log holds: a record with the setup and seed the cell's run would record
    (benchmark build, config, method and options, variant, model, initial weights' digest, budget, track), wherever
    it was made."""
    if not results.is_file():
        return set()
    recorded = {record.key() for record in read_results(results)}
    return {cell.key for cell in cells if cell.result_key in recorded}


def _recorded(run: RunFolder) -> RunConfig | None:
    """A run folder's config, or None when it has none or a damaged one (it counts as another run)."""
    try:
        return run.config
    except AvnbError:
        return None


def _train(settings: TrainSettings) -> str:
    """Bring a cell's run folder to predictions: keep finished ones, resume interrupted ones that may resume here
    (`RunConfig.resume_changes`), else start over."""
    run, wanted = RunFolder(settings.out), settings.record()
    recorded = _recorded(run)
    if run.predictions.is_file() and recorded is not None and recorded.identity() == wanted.identity():
        return "evaluated"
    if run.started and recorded is not None and not recorded.resume_changes(wanted):
        run_training(settings, resume=True)
        return "resumed"
    if settings.out.is_dir() and not run.has_config:
        shutil.rmtree(settings.out)  # a cell's folder that a killed sweep left before writing its config
    run_training(settings, overwrite=run.has_config)
    return "trained"


def error_file(cell: Cell) -> Path:
    """Where a failed cell's traceback is kept: beside its run folder (which a failure may remove)."""
    return cell.settings.out.with_name(f"{cell.key}.error.txt")


def run_cell(cell: Cell, results: Path, threads: int) -> Outcome:
    """Train (or resume) one cell with `threads` torch threads, evaluate it, append its record; an exception
    becomes a failed outcome with the traceback kept beside the run folder."""
    import torch

    torch.set_num_threads(threads)
    start = time.monotonic()
    try:
        status = _train(cell.settings)
        record = evaluate_run(cell.settings.out, cell.settings.folder.path).record
        append_result(results, record)
        error_file(cell).unlink(missing_ok=True)
        return Outcome(cell, status, time.monotonic() - start, record.metrics)
    except Exception as exc:  # one broken cell is reported; the others go on
        where = error_file(cell)
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_text(traceback.format_exc(), encoding="utf-8")
        message = f"{type(exc).__name__}: {exc} (traceback in {where})"
        return Outcome(cell, "failed", time.monotonic() - start, error=message)


def _prepare_caches(cells: list[Cell], progress: Progress) -> None:
    """Build each cached-track cache and each features-track cache once, before cells run in parallel and could
    build the same one together; the config is part of the group because correspondence noise changes which audio a
    cache holds, the model and weights because they make the features."""
    seen = set()
    for cell in cells:
        s = cell.settings
        weights = s.init.record.sha256 if s.track == "features" else None
        group = (s.folder.path, s.config, s.media_root, s.decoding, s.cache_dir, s.track, s.model, weights)
        if s.track in ("cached", "features") and group not in seen:
            seen.add(group)
            progress.note(f"{s.track} track: cache of {s.folder.name} {s.config} (made once, if not there yet)")
            for split in ("train", "test"):
                split_arrays(s, split, progress)


def default_threads(jobs: int) -> int:
    """Torch threads per job: the machine's cores shared out evenly."""
    return max(1, (os.cpu_count() or 1) // jobs)


def _parallel(cells: list[Cell], results: Path, jobs: int, threads: int) -> Iterator[Outcome]:
    """Outcomes as cells finish, from `jobs` worker processes that die with this one."""
    with worker_pool(jobs) as pool:
        futures = [pool.submit(run_cell, cell, results, threads) for cell in cells]
        for future in as_completed(futures):
            yield future.result()


def run_sweep(
    sweep: Sweep, jobs: int = 1, threads: int | None = None, limit: int | None = None, progress: Progress = SILENT
) -> SweepSummary:
    """Run every cell of `sweep` (or of its shard) that has no record in its results log yet (at most `limit` of them),
    `jobs` at a time in worker processes; each finished cell appends one record, so an interrupted sweep resumes where
    it was. SIGTERM stops the sweep like Ctrl-C: its workers are killed, the finished cells stay in the log."""
    if jobs < 1:
        raise AvnbError(f"--jobs {jobs} must be at least 1")
    if limit is not None and limit < 1:
        raise AvnbError(f"--limit {limit} must be at least 1")
    if threads is not None and threads < 1:
        raise AvnbError(f"--threads {threads} must be at least 1")
    cells = sweep_cells(sweep)
    done = finished_keys(sweep.results, cells)
    todo = [c for c in cells if c.key not in done]
    pending = todo[:limit]
    part = f"shard {sweep.shard}: " if sweep.shard else ""
    progress.note(
        f"{part}{len(cells)} cells: {len(cells) - len(todo)} already in the results log, {len(pending)} to run"
    )
    outcomes: list[Outcome] = []
    with sigterm_raises():
        _prepare_caches(pending, progress)
        task = progress.task("sweep", len(pending), "cells")
        if jobs == 1:
            import torch

            before = torch.get_num_threads()
            try:
                stream = (run_cell(cell, sweep.results, threads or default_threads(1)) for cell in pending)
                for outcome in stream:
                    outcomes.append(outcome)
                    _report(progress, task, outcome)
            finally:
                torch.set_num_threads(before)
        else:
            for outcome in _parallel(pending, sweep.results, jobs, threads or default_threads(jobs)):
                outcomes.append(outcome)
                _report(progress, task, outcome)
        task.close()
    return SweepSummary(len(cells), len(cells) - len(todo), outcomes)


def _report(progress: Progress, task: Task, outcome: Outcome) -> None:
    s = outcome.cell.settings
    where = f"{outcome.cell.label} {s.folder.path.name} {s.config} seed {s.seed}"
    if outcome.metrics is None:
        progress.note(f"failed {where}: {outcome.error}")
    else:
        scores = "  ".join(f"{m} {v:.2f}" for m, v in outcome.metrics.items())
        progress.note(f"{outcome.status} {where}: {scores} ({outcome.seconds:.0f} s)")
    task.advance(failed=outcome.status == "failed")
