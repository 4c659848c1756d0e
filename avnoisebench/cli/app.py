"""The `avnb` Typer application, its consoles, and the error wrapper every command uses."""

import functools
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from avnoisebench.errors import AvnbError

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
