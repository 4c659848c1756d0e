"""`avnb evaluate`, `avnb leaderboard`, `avnb report`, `avnb scores`: score predictions into the results log, rank
methods, lay results out as the paper does."""

import json
from pathlib import Path
from typing import Annotated

import typer

from avnoisebench.cli.app import app, console, errors, shown_warnings, user_errors
from avnoisebench.errors import AvnbError
from avnoisebench.evaluation.metrics import METRICS
from avnoisebench.evaluation.results import DEFAULT_RESULTS, append_result, read_logs
from avnoisebench.evaluation.scoring import evaluate_path
from avnoisebench.report.leaderboard import FORMATS

Logs = Annotated[
    list[Path],
    typer.Argument(
        help="Results logs (from `avnb evaluate` or `avnb sweep`) or folders of them, e.g. a sweep's shard logs; "
        "merged (a cell in two logs: the later record, with a warning)."
    ),
]
NoReference = Annotated[bool, typer.Option("--no-reference", help="Leave out the paper's numbers.")]
Notes = Annotated[
    Path | None,
    typer.Option(
        help="A Markdown file (e.g. your reading of the results) put after the introduction.",
        exists=True,
        dir_okay=False,
    ),
]


@app.command()
@user_errors
def evaluate(
    target: Annotated[
        Path, typer.Argument(help="A run folder (config.json, predictions.parquet) or a predictions .parquet file.")
    ],
    benchmark: Annotated[
        Path | None,
        typer.Option(help="Benchmark folder the predictions were made on (needed for a file; overrides a run's)."),
    ] = None,
    method_name: Annotated[str | None, typer.Option(help="Name of the method (needed for a file).")] = None,
    config: Annotated[str | None, typer.Option(help="Noise config the model was trained on, e.g. sym40.")] = None,
    seed: Annotated[int | None, typer.Option(help="Training seed of the run.")] = None,
    name: Annotated[
        str | None,
        typer.Option(help="Display name for this result on the leaderboard (a run folder's own --name otherwise)."),
    ] = None,
    results: Annotated[Path, typer.Option(help="Results log to append to.")] = DEFAULT_RESULTS,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the metrics, as JSON.")] = False,
) -> None:
    """Score test-split predictions (C@1, C@5, V@1) and append the result to the results log."""
    evaluation = evaluate_path(target, benchmark, method_name, config, seed, name)
    with shown_warnings():
        superseded = append_result(results, evaluation.record)
    for warning in evaluation.warnings:
        errors.print(f"[yellow]warning:[/] {warning}", highlight=False, markup=True)
    record = evaluation.record
    if as_json:
        typer.echo(json.dumps(record.metrics))
        return
    scores = "  ".join(f"{m} {record.metrics[m]:.2f}" for m in METRICS)
    setting = f"{record.benchmark} {record.config or '(no config)'} {record.label} seed {record.seed}"
    console.print(f"{setting}: {scores}", highlight=False, markup=False)
    if superseded:
        before = "  ".join(f"{m} {superseded[-1].metrics[m]:.2f}" for m in METRICS)
        console.print(
            f"appended to {results}; it supersedes the earlier record of identical settings and seed "
            f"({superseded[-1].date}: {before}), which the leaderboard no longer shows",
            highlight=False,
            markup=False,
        )
    else:
        console.print(f"appended to {results}", highlight=False, markup=False)


@app.command()
@user_errors
def leaderboard(
    results: Logs,
    fmt: Annotated[
        str | None, typer.Option("--format", help=f"One of {', '.join(FORMATS)} (default: from --out, else md).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of printing.")] = None,
    no_reference: NoReference = False,
    all_reference: Annotated[
        bool,
        typer.Option(
            "--all-reference", help="Show the paper's rows of every benchmark (default: of the benchmarks logged)."
        ),
    ] = False,
    notes: Notes = None,
) -> None:
    """Mean ± std over seeds per benchmark, config and run setup, your benchmarks first, beside the paper's numbers
    for them; the best entry of each column in bold."""
    from avnoisebench.report.entries import build_leaderboard
    from avnoisebench.report.leaderboard import output_format, render, save

    if no_reference and all_reference:
        raise AvnbError("--no-reference and --all-reference exclude each other; pass one of them")
    with shown_warnings():
        records = read_logs(results)
    tables = build_leaderboard(records, reference=not no_reference, only_logged=not all_reference)
    text = render(tables, output_format(fmt, out), notes.read_text(encoding="utf-8") if notes else "")
    if out is None:
        typer.echo(text, nl=False)
        return
    console.print(f"wrote {save(text, out)}", highlight=False, markup=False)


@app.command()
@user_errors
def report(
    results: Logs,
    out: Annotated[Path, typer.Option(help="Markdown report; its figures go to the folder of the same name.")] = Path(
        "docs/results.md"
    ),
    no_reference: NoReference = False,
    notes: Notes = None,
) -> None:
    """The results as the paper lays them out: how to read them, the protocol, Tables I/II and III, γ curve,
    accuracy-vs-noise and ω figures, the paper's own tables apart."""
    from avnoisebench.report.entries import build_leaderboard
    from avnoisebench.report.study import build_study, save_study

    with shown_warnings():
        records = read_logs(results)
    tables = build_leaderboard(records, reference=not no_reference)
    text = notes.read_text(encoding="utf-8") if notes else ""
    written = save_study(build_study(tables), tables, out, text)
    console.print(f"wrote {written[0]} and {len(written) - 1} figure(s)", highlight=False, markup=False)


@app.command()
@user_errors
def scores(
    run: Annotated[Path, typer.Argument(help="A run folder whose method logged per-sample scores (e.g. ntl's omega).")],
    name: Annotated[str, typer.Option(help="Which scores: omega, omega_v, omega_a, ...")] = "omega",
    out: Annotated[Path | None, typer.Option(help="Write the matched vs mismatched histogram (PNG) here.")] = None,
) -> None:
    """Summarise a run's last per-sample scores: ROC-AUC for matched vs mismatched pairs, and the Fig. 8 histogram."""
    from avnoisebench.files import write_atomically
    from avnoisebench.harness.truth import roc_auc
    from avnoisebench.report.plot import score_histogram_png
    from avnoisebench.runs.folder import RunFolder

    folder = RunFolder(run)
    if not folder.has_config:
        raise AvnbError(f"{run} is not a run folder (no config.json); pass a folder written by `avnb train`")
    sample = folder.scores(name)
    valid = sample.valid.astype(bool)
    line = f"{run}: {name} of epoch {sample.epoch}, {int(valid.sum())} samples"
    if sample.nc_flags is not None:
        matched = ~sample.nc_flags.astype(bool)[valid]
        line += f", ROC-AUC matched vs mismatched pairs {roc_auc(sample.scores[valid], matched):.3f}"
    console.print(line, highlight=False, markup=False)
    if out is not None:
        write_atomically(out, lambda tmp: tmp.write_bytes(score_histogram_png(sample)))
        console.print(f"wrote {out}", highlight=False, markup=False)
