"""Progress of long work: library code reports it through `Progress`; the CLI renders it (a rich bar on a terminal,
one line per step otherwise); `SILENT` shows nothing."""

from typing import Protocol


class Task(Protocol):
    """One piece of long work with a known (or unknown) number of steps."""

    def advance(self, steps: int = 1, *, failed: bool = False, **status: object) -> None:
        """`steps` more steps done (counted as failed when `failed`); `status` values (loss, phase, ...) are shown
        beside the bar until the next call."""

    def close(self) -> None:
        """The task is over (finished or abandoned)."""


class Progress(Protocol):
    """Where long work reports: tasks with steps, and notes (one line each)."""

    def task(self, name: str, total: int | None, unit: str = "steps") -> Task:
        """Start a task of `total` steps (None when unknown) named `name`."""

    def note(self, text: str) -> None:
        """A line of text worth showing (a stage begins, a file was written)."""


class _SilentTask:
    def advance(self, steps: int = 1, *, failed: bool = False, **status: object) -> None:
        """Nothing to show."""

    def close(self) -> None:
        """Nothing to show."""


class _Silent:
    def task(self, name: str, total: int | None, unit: str = "steps") -> Task:
        """A task that shows nothing."""
        return _SilentTask()

    def note(self, text: str) -> None:
        """Nothing to show."""


SILENT: Progress = _Silent()
