"""`avnb demo`: the toolkit end to end on a small generated benchmark, offline, in about two minutes."""

import time
from pathlib import Path
from typing import Annotated

import typer

from avnoisebench.cli.app import app, console, user_errors


@app.command()
@user_errors
def demo(
    out: Annotated[Path, typer.Option(help="Empty folder for the benchmark, media, runs and results.")] = Path(
        "avnb-data/demo"
    ),
) -> None:
    """Build synthetic-av with label and correspondence noise, train late-fusion and the noise-robust method,
    evaluate both and print the leaderboard; needs no network."""
    from avnoisebench.demo import run_demo
    from avnoisebench.evaluation.leaderboard import build_leaderboard, render
    from avnoisebench.evaluation.results import read_results

    began = time.monotonic()
    results = run_demo(out, report=lambda line: console.print(line, highlight=False, markup=False))
    typer.echo(render(build_leaderboard(read_results(results), reference=False), "md"), nl=False)
    console.print(
        f"done in {time.monotonic() - began:.0f} s; results in {results}, runs in {out / 'runs'}", highlight=False
    )
