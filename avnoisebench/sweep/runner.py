"""Run a sweep's cells through the harness: skip finished cells, resume interrupted ones, several processes at once."""

import multiprocessing
import os
import shutil
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from avnoisebench.errors import AvnbError
from avnoisebench.evaluation.evaluate import evaluate_run
from avnoisebench.evaluation.results import append_result, read_results
from avnoisebench.harness.run import CONFIG, PREDICTIONS, prepare_run_dir
from avnoisebench.harness.train import TrainSettings
from avnoisebench.sweep.spec import Cell, Sweep, expand

ERROR_FILE = "sweep-error.txt"
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


class Reporter(Protocol):
    """Receives a sweep's progress (the CLI's progress bar)."""

    def note(self, text: str) -> None:
        """A stage of the sweep, e.g. building a cache."""

    def begin(self, total: int, skipped: int, pending: int) -> None:
        """The plan: all cells, those already in the results log, those to run now."""

    def finished(self, outcome: Outcome) -> None:
        """One cell is done (or failed)."""


class _Silent:
    def note(self, text: str) -> None:
        """Nothing to show."""

    def begin(self, total: int, skipped: int, pending: int) -> None:
        """Nothing to show."""

    def finished(self, outcome: Outcome) -> None:
        """Nothing to show."""


def finished_keys(results: Path) -> set[str]:
    """Keys (run-folder names) of the cells that already have a record in the results log."""
    if not results.is_file():
        return set()
    return {Path(r.run).name for r in read_results(results) if r.run}


def _train(settings: TrainSettings) -> str:
    """Bring a cell's run folder to predictions: keep finished ones, resume interrupted ones, else start over."""
    from avnoisebench.harness.train import run_training

    out = settings.out
    if (out / PREDICTIONS).is_file():
        return "evaluated"
    if (out / CONFIG).is_file():
        try:
            prepare_run_dir(out, settings.record(), resume=True)
        except AvnbError:
            shutil.rmtree(out)
        else:
            run_training(settings, resume=True)
            return "resumed"
    elif out.exists():
        shutil.rmtree(out)
    run_training(settings)
    return "trained"


def run_cell(cell: Cell, results: Path, threads: int) -> Outcome:
    """Train (or resume) one cell with `threads` torch threads, evaluate it, append its record under the cell's label;
    an exception becomes a failed outcome with the traceback in the run folder."""
    import torch

    torch.set_num_threads(threads)
    start = time.monotonic()
    try:
        status = _train(cell.settings)
        record = replace(evaluate_run(cell.settings.out, cell.settings.folder).record, method=cell.label)
        append_result(results, record)
        return Outcome(cell, status, time.monotonic() - start, record.metrics)
    except Exception as exc:  # one broken cell is reported; the others go on
        cell.settings.out.mkdir(parents=True, exist_ok=True)
        (cell.settings.out / ERROR_FILE).write_text(traceback.format_exc(), encoding="utf-8")
        message = f"{type(exc).__name__}: {exc} (traceback in {cell.settings.out / ERROR_FILE})"
        return Outcome(cell, "failed", time.monotonic() - start, error=message)


def _prepare_caches(cells: list[Cell], reporter: Reporter) -> None:
    """Build each cached-track cache once, before cells run in parallel and could build the same one together; the
    config is part of the group because correspondence noise changes which audio a cache holds."""
    from avnoisebench.harness.train import cached

    seen = set()
    for cell in cells:
        s = cell.settings
        group = (s.folder, s.config, s.media_root, s.sampling, s.audio, s.cache_dir)
        if s.track == "cached" and group not in seen:
            seen.add(group)
            reporter.note(f"cache of {s.folder} {s.config} in {s.cache_dir} (decoded once, if not there yet)")
            for split in ("train", "test"):
                cached(s, split)


def default_threads(jobs: int) -> int:
    """Torch threads per job: the machine's cores shared out evenly."""
    return max(1, (os.cpu_count() or 1) // jobs)


def _parallel(cells: list[Cell], results: Path, jobs: int, threads: int) -> Iterator[Outcome]:
    """Outcomes as cells finish, from `jobs` processes forked by a fresh server that imported the harness once (a
    fork of this process could inherit a busy OpenMP pool; a spawn per worker would import torch every time)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context)
    try:
        futures: list[Future[Outcome]] = [pool.submit(run_cell, cell, results, threads) for cell in cells]
        for future in as_completed(futures):
            yield future.result()
    except BrokenProcessPool as exc:
        raise AvnbError(
            "a sweep process died (out of memory?); the cells finished so far are in the results log: rerun the same "
            "command to go on, with fewer --jobs if memory is short"
        ) from exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_sweep(
    sweep: Sweep,
    jobs: int = 1,
    threads: int | None = None,
    limit: int | None = None,
    reporter: Reporter | None = None,
) -> SweepSummary:
    """Run every cell of `sweep` that has no record in its results log yet (at most `limit` of them), `jobs` at a
    time in separate processes; each finished cell appends one record, so an interrupted sweep resumes where it was."""
    if jobs < 1:
        raise AvnbError(f"--jobs {jobs} must be at least 1")
    if limit is not None and limit < 1:
        raise AvnbError(f"--limit {limit} must be at least 1")
    reporter = reporter or _Silent()
    cells = expand(sweep)
    done = finished_keys(sweep.results)
    todo = [c for c in cells if c.key not in done]
    pending = todo[:limit]
    reporter.begin(len(cells), len(cells) - len(todo), len(pending))
    _prepare_caches(pending, reporter)
    threads = threads or default_threads(jobs)
    outcomes = []
    if jobs == 1:
        import torch

        before = torch.get_num_threads()
        try:
            for cell in pending:
                outcomes.append(run_cell(cell, sweep.results, threads))
                reporter.finished(outcomes[-1])
        finally:
            torch.set_num_threads(before)
    else:
        for outcome in _parallel(pending, sweep.results, jobs, threads):
            outcomes.append(outcome)
            reporter.finished(outcome)
    return SweepSummary(len(cells), len(cells) - len(todo), outcomes)
