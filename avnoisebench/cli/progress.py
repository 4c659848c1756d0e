"""The CLI's rendering of `avnoisebench.progress`: a rich bar with ok / failed counts, status, elapsed time and ETA on
a terminal; one line per step (at most one every few seconds for long tasks) when the output is not a terminal."""

import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from avnoisebench.progress import SILENT, Task

LINE_EVERY_S = 5.0
EVERY_STEP_UP_TO = 200


def _status_text(status: dict[str, object]) -> str:
    return "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in status.items())


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class _BarTask:
    def __init__(self, bars: "ConsoleProgress", name: str, total: int | None) -> None:
        self.bars, self.ok, self.failed = bars, 0, 0
        self.id = bars.rich.add_task(name, total=total, ok=0, failed=0, status="")
        if not bars.rich.live.is_started:
            bars.rich.start()

    def advance(self, steps: int = 1, *, failed: bool = False, **status: object) -> None:
        self.failed += steps if failed else 0
        self.ok += 0 if failed else steps
        self.bars.rich.update(self.id, advance=steps, ok=self.ok, failed=self.failed, status=_status_text(status))

    def close(self) -> None:
        self.bars.rich.remove_task(self.id)
        if not self.bars.rich.tasks:
            self.bars.rich.stop()


class _LineTask:
    def __init__(self, console: Console, name: str, total: int | None, unit: str) -> None:
        self.console, self.name, self.total, self.unit = console, name, total, unit
        self.done = self.failed = 0
        self.began = self.shown = time.monotonic()

    def advance(self, steps: int = 1, *, failed: bool = False, **status: object) -> None:
        self.done += steps
        self.failed += steps if failed else 0
        now = time.monotonic()
        last = self.total is not None and self.done >= self.total
        if not (last or (self.total or 0) <= EVERY_STEP_UP_TO or now - self.shown >= LINE_EVERY_S):
            return
        self.shown = now
        count = f"{self.done}/{self.total}" if self.total is not None else str(self.done)
        parts = [f"{self.name}: {self.unit} {count}"]
        parts += [f"{self.failed} failed"] if self.failed else []
        parts += [_status_text(status)] if status else []
        parts.append(f"elapsed {_duration(now - self.began)}")
        if self.total and not last:
            parts.append(f"ETA {_duration((now - self.began) / self.done * (self.total - self.done))}")
        self.console.print("  ".join(parts), highlight=False, markup=False)

    def close(self) -> None:
        """Nothing left to print: the last step printed its line."""


class ConsoleProgress:
    """Progress on the console: bars when it is a terminal, lines otherwise, nothing when `quiet`; use as a context
    manager."""

    def __init__(self, console: Console, quiet: bool = False) -> None:
        self.console, self.quiet = console, quiet
        self.rich = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[green]{task.fields[ok]} ok[/] [red]{task.fields[failed]} failed[/]"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )

    def __enter__(self) -> "ConsoleProgress":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.rich.live.is_started:
            self.rich.stop()

    def task(self, name: str, total: int | None, unit: str = "steps") -> Task:
        """A bar on a terminal, else lines (nothing when quiet)."""
        if self.quiet:
            return SILENT.task(name, total, unit)
        if self.console.is_terminal:
            return _BarTask(self, name, total)
        return _LineTask(self.console, name, total, unit)

    def note(self, text: str) -> None:
        """Print a line (above the bars on a terminal), unless quiet."""
        if not self.quiet:
            self.console.print(text, highlight=False, markup=False)
