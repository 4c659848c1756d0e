"""The `avnb` Typer application (its help, `--version`, commands listed in pipeline order), its consoles, and the
wrappers every command uses: user errors, interruptions, warnings."""

import functools
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from avnoisebench.errors import AvnbError
from avnoisebench.processes import Terminated, sigterm_raises

SIGINT_EXIT = 130
PIPELINE = (
    "build",
    "verify",
    "info",
    "download",
    "link",
    "status",
    "probe",
    "pretrain",
    "methods",
    "train",
    "select-lr",
    "cache",
    "evaluate",
    "scores",
    "leaderboard",
    "report",
    "sweep",
    "demo",
)
"""The order `avnb --help` lists commands in: the path from annotations to a leaderboard; others follow."""
HELP = """\
Benchmarks for audio-visual action recognition under noisy labels and noisy audio-visual correspondence, end to
end: `build` a benchmark folder from the official annotations, `download` or `link` its media, check them with
`status` and `probe`, `pretrain` encoders (CPU-scale benchmarks), `train` a method through the harness, `evaluate`
its test predictions into a results log, rank them with `leaderboard` or lay them out as the paper does with
`report`, and run whole grids of runs with `sweep`. `avnb demo` walks the whole path offline in a few minutes.
"""


class PipelineGroup(TyperGroup):
    """Lists commands in pipeline order (PIPELINE), commands it does not name after them in registration order."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Command names, pipeline order first."""
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: (PIPELINE.index(n) if n in PIPELINE else len(PIPELINE), names.index(n)))


app = typer.Typer(cls=PipelineGroup, no_args_is_help=True, add_completion=False, help=HELP)
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def _version(shown: bool) -> None:
    if shown:
        from avnoisebench.provenance import code_version

        console.print(f"avnb (avnoisebench) {code_version()}", highlight=False, markup=False)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the installed avnoisebench version and exit."
        ),
    ] = False,
) -> None:
    """Benchmarks for audio-visual action recognition under noisy labels and noisy audio-visual correspondence."""


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


@contextmanager
def shown_warnings() -> Iterator[None]:
    """Python warnings raised inside the block (e.g. a torn last line of a results log) printed as one `warning:` line
    each on stderr, without the file-and-line noise of the default display."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for warning in caught:
                errors.print(f"[yellow]warning:[/] {escape(str(warning.message))}", highlight=False)


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
