"""One job per clip on a pool of worker threads: progress, a shared stop flag, clean interruption."""

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from avnoisebench.errors import AvnbError
from avnoisebench.media.plan import Clip, Selection
from avnoisebench.media.status import StatusRecord
from avnoisebench.media.tools import Stopped
from avnoisebench.processes import Terminated
from avnoisebench.progress import SILENT, Progress


class RunStopped(AvnbError):
    """The run stopped early on repeated failures (a stop rule); finished clips are kept."""


class RunInterrupted(Exception):
    """Ctrl-C or SIGTERM stopped the run; its message says what was kept and how to resume."""


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

    def interrupted(self) -> str:
        """The one line for an interrupted run: what was kept, and how to resume."""
        ok = self.categories.get("ok", 0)
        return (
            f"{self.action} interrupted: {self.attempted} clip(s) finished in this run ({ok} ok) and the "
            f"{self.done_before} already in place are kept, unfinished ones left nothing behind; run the same "
            f"command again to resume"
        )


def run_clips(
    selection: Selection,
    summary: RunSummary,
    work: Callable[[Clip, threading.Event], StatusRecord | None],
    jobs: int,
    stop: threading.Event,
    progress: Progress = SILENT,
) -> RunSummary:
    """Apply `work` to every selected clip on `jobs` threads, one progress step per record; Ctrl-C, SIGTERM (inside
    processes.sigterm_raises) or `stop` let running clips end cleanly; an interruption raises RunInterrupted."""
    if jobs < 1:
        raise AvnbError(f"--jobs {jobs} must be at least 1")
    counting = threading.Lock()

    def guarded(clip: Clip) -> StatusRecord | None:
        if stop.is_set():
            return None
        try:
            record = work(clip, stop)
        except Stopped:
            return None
        if record is not None:
            with counting:
                summary.categories[record.category] += 1
        return record

    task = progress.task(summary.action, len(selection.todo), "clips")
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix=f"avnb-{summary.action}") as pool:
        futures = [pool.submit(guarded, clip) for clip in selection.todo]
        try:
            for future in as_completed(futures):
                record = future.result()
                if record is not None:
                    task.advance(failed=not record.ok)
        except (KeyboardInterrupt, Terminated) as exc:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise RunInterrupted(summary.interrupted()) from exc
        except BaseException:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            task.close()
    return summary
