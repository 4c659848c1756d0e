"""The CLI's progress bar over a known number of items, with running ok / failed counts, elapsed time and ETA."""

from types import TracebackType

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from avnoisebench.cli.app import console


class CountingBar:
    """A rich progress bar with ok / failed counts, shown once start() is given some work; stopped on exit."""

    def __init__(self, action: str) -> None:
        self.ok = self.failed = 0
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[green]{task.fields[ok]} ok[/] [red]{task.fields[failed]} failed[/]"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = self.progress.add_task(action, total=None, ok=0, failed=0)

    def __enter__(self) -> "CountingBar":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.progress.live.is_started:
            self.progress.stop()

    def start(self, total: int) -> None:
        """Set the number of items and show the bar if there are any."""
        self.progress.update(self.task, total=total)
        if total:
            self.progress.start()

    def count(self, ok: bool) -> None:
        """One item done, successfully or not."""
        self.ok += ok
        self.failed += not ok
        self.progress.update(self.task, advance=1, ok=self.ok, failed=self.failed)

    def note(self, text: str) -> None:
        """Print a line above the bar."""
        self.progress.console.print(text, highlight=False, markup=False)
