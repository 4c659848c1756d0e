"""`avnb sweep`: run a TOML grid of harness runs into one results log, resumably and in parallel."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from avnoisebench.cli.app import app, console, errors, user_errors
from avnoisebench.cli.progress import ConsoleProgress

if TYPE_CHECKING:
    from avnoisebench.sweep.runner import Outcome


class _SweepBar(ConsoleProgress):
    """Overall progress over the cells to run, with ok / failed counts, elapsed time and the ETA."""

    def __init__(self) -> None:
        super().__init__(console)

    def begin(self, total: int, skipped: int, pending: int) -> None:
        self.note(f"{total} cells: {skipped} already in the results log, {pending} to run")
        self.cells = self.task("sweep", pending, "cells")

    def finished(self, outcome: "Outcome") -> None:
        s = outcome.cell.settings
        where = f"{outcome.cell.label} {s.folder.name} {s.config} seed {s.seed}"
        if outcome.metrics is None:
            self.note(f"failed {where}: {outcome.error}")
        else:
            scores = "  ".join(f"{m} {v:.2f}" for m, v in outcome.metrics.items())
            self.note(f"{outcome.status} {where}: {scores} ({outcome.seconds:.0f} s)")
        self.cells.advance(failed=outcome.status == "failed")


@app.command()
@user_errors
def sweep(
    file: Annotated[Path, typer.Argument(help="Sweep file (TOML), e.g. sweeps/paper-avmnist.toml.")],
    jobs: Annotated[int, typer.Option(help="Cells trained at once, each in its own process.")] = 1,
    threads: Annotated[
        int | None, typer.Option(help="Torch threads per cell (default: the CPU cores divided by --jobs).")
    ] = None,
    runs: Annotated[Path | None, typer.Option(help="Folder of the run folders (overrides the file's `runs`).")] = None,
    results: Annotated[Path | None, typer.Option(help="Results log (overrides the file's `results`).")] = None,
    limit: Annotated[int | None, typer.Option(help="Run at most this many of the pending cells (for timing).")] = None,
    dry_run: Annotated[bool, typer.Option(help="List the cells and which are done; train nothing.")] = False,
) -> None:
    """Run every cell of a sweep file not yet in its results log; rerun the same command to resume."""
    from avnoisebench.sweep import expand, load_sweep, run_sweep
    from avnoisebench.sweep.runner import finished_keys

    plan = load_sweep(file, runs, results)
    if dry_run:
        done = finished_keys(plan.results)
        cells = expand(plan)
        for cell in cells:
            s = cell.settings
            mark = "done" if cell.key in done else "todo"
            line = f"{mark} {cell.key} {cell.label} {s.folder} {s.config} seed {s.seed}"
            console.print(line, highlight=False, markup=False)
        pending = sum(c.key not in done for c in cells)
        line = f"{len(cells)} cells, {pending} to run; runs in {plan.runs}, results in {plan.results}"
        console.print(line, highlight=False, markup=False)
        return
    with _SweepBar() as bar:
        summary = run_sweep(plan, jobs, threads, limit, bar)
    console.print(f"results in {plan.results}; run folders in {plan.runs}", highlight=False, markup=False)
    if summary.failed:
        errors.print(f"{len(summary.failed)} cell(s) failed; fix them and rerun the same command", highlight=False)
        raise typer.Exit(1)


@app.command()
@user_errors
def report(
    results: Annotated[list[Path], typer.Argument(help="Results logs, e.g. results/avmnist.jsonl.")],
    out: Annotated[Path, typer.Option(help="Markdown report; its figures go to the folder of the same name.")] = Path(
        "docs/results.md"
    ),
    no_reference: Annotated[bool, typer.Option("--no-reference", help="Leave out the paper's numbers.")] = False,
    notes: Annotated[
        Path | None,
        typer.Option(
            help="A Markdown file (e.g. your reading of the results) put after the introduction.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """The results as the paper lays them out: Tables I/II and III, γ curve, accuracy-vs-noise and ω figures."""
    from avnoisebench.evaluation.leaderboard import build_leaderboard
    from avnoisebench.evaluation.results import read_results
    from avnoisebench.evaluation.study import build_study, save_study

    tables = build_leaderboard([r for path in results for r in read_results(path)], reference=not no_reference)
    text = notes.read_text(encoding="utf-8") if notes else ""
    written = save_study(build_study(tables), tables, out, text)
    console.print(f"wrote {written[0]} and {len(written) - 1} figure(s)", highlight=False, markup=False)
