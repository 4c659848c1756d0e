"""The `avnb` Typer application, its consoles, and the error wrapper every command uses."""

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from avnoisebench.errors import AvnbError
from avnoisebench.processes import Terminated, sigterm_raises

SIGINT_EXIT = 130

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="`avnb`: build, fetch, check and inspect benchmark data."
)
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Report AvnbError as one message and exit code 2 instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except AvnbError as exc:
            errors.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(2) from exc

    return wrapper


def exit_code(cause: BaseException | None) -> int:
    """130 for Ctrl-C, 128 + the signal number for a signal turned into Terminated (143 for SIGTERM)."""
    return 128 + cause.signum if isinstance(cause, Terminated) else SIGINT_EXIT


@contextmanager
def interrupted(action: str, kept: Callable[[], str]) -> Iterator[None]:
    """Ctrl-C or SIGTERM inside the block: one line `<action> interrupted: <what was kept and how to go on>`, then
    exit 130 (143 for SIGTERM) instead of a traceback."""
    try:
        with sigterm_raises():
            yield
    except (KeyboardInterrupt, Terminated) as exc:
        errors.print(f"{action} interrupted: {kept()}", highlight=False, markup=False)
        raise typer.Exit(exit_code(exc)) from exc
