"""One job per clip on a pool of worker threads: progress reports, a shared stop flag, clean interruption."""

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Protocol

from avnoisebench.errors import AvnbError
from avnoisebench.media.plan import Clip, Selection
from avnoisebench.media.status import StatusRecord


class Reporter(Protocol):
    """Receives the size of a run and each record as it is written."""

    def start(self, total: int) -> None:
        """The run is about to attempt `total` clips."""

    def advance(self, record: StatusRecord) -> None:
        """One clip is finished (ok or failed)."""


class Interrupted(Exception):
    """Raised inside a worker when the run is stopping; the clip gets no record and is attempted again next run."""


class RunStopped(AvnbError):
    """The run stopped early (interrupted, or halted on repeated failures); finished clips are kept."""


@dataclass
class RunSummary:
    """What one run did: clips considered, left alone, and attempted by category."""

    action: str
    clips: int
    done_before: int
    failed_before: int
    categories: Counter[str] = field(default_factory=Counter)

    @property
    def attempted(self) -> int:
        """Clips attempted in this run."""
        return sum(self.categories.values())

    def text(self) -> str:
        """One-paragraph account of the run for the terminal."""
        ok = self.categories.get("ok", 0)
        failed = ", ".join(f"{c} {n}" for c, n in self.categories.most_common() if c != "ok")
        lines = [f"{self.action}: {self.attempted} attempted, {ok} ok, {self.attempted - ok} failed"]
        lines[0] += f" ({failed})" if failed else ""
        lines.append(f"{self.done_before} of {self.clips} clips were already in place")
        if self.failed_before:
            lines[-1] += f"; {self.failed_before} failed for good earlier (--retry-failed tries them again)"
        return "\n".join(lines)


def run_clips(
    selection: Selection,
    summary: RunSummary,
    work: Callable[[Clip, threading.Event], StatusRecord | None],
    jobs: int,
    reporter: Reporter | None,
    stop: threading.Event,
) -> RunSummary:
    """Apply `work` to every selected clip on `jobs` threads; Ctrl-C or `stop` lets running clips end cleanly."""
    if jobs < 1:
        raise AvnbError(f"--jobs {jobs} must be at least 1")
    if reporter is not None:
        reporter.start(len(selection.todo))

    counting = threading.Lock()

    def guarded(clip: Clip) -> StatusRecord | None:
        if stop.is_set():
            return None
        try:
            record = work(clip, stop)
        except Interrupted:
            return None
        if record is not None:
            with counting:
                summary.categories[record.category] += 1
        return record

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix=f"avnb-{summary.action}") as pool:
        futures = [pool.submit(guarded, clip) for clip in selection.todo]
        try:
            for future in as_completed(futures):
                record = future.result()
                if record is not None and reporter is not None:
                    reporter.advance(record)
        except KeyboardInterrupt as exc:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise RunStopped(
                f"interrupted: {summary.attempted} clip(s) finished in this run are kept, temporary files are "
                f"removed; run the same command again to resume"
            ) from exc
        except BaseException:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return summary
