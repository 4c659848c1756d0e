"""The leaderboard rendered as Markdown, CSV or a self-contained HTML page (how to read it, the author's notes, the
protocol of the runs shown, the study layout, figures and every row by benchmark build); the best measured entry of
each column is bold."""

import base64
import csv
import html
import io
from pathlib import Path

from avnoisebench.errors import AvnbError
from avnoisebench.evaluation.metrics import METRICS
from avnoisebench.files import write_atomically
from avnoisebench.report.entries import (
    PLOT_METRIC,
    BenchmarkTable,
    Entry,
    best_metrics,
    describe,
    format_cell,
    markdown_row,
)
from avnoisebench.report.plot import accuracy_vs_noise_png
from avnoisebench.report.reading import METRIC_NOTES, chance_text, reading_html
from avnoisebench.report.study import build_study, noise_series, study_html

FORMATS = ("md", "csv", "html")


def _cells(entry: Entry) -> list[str]:
    seeds = "" if entry.seeds is None else str(entry.seeds)
    return [
        entry.config or "",
        entry.label,
        entry.setup,
        entry.track or "",
        seeds,
        *(format_cell(entry, m) for m in METRICS),
    ]


HEADER = ["config", "method", "setup", "track", "seeds", *METRICS]
_TEXT_COLUMNS = 4


def _metric_columns(best: frozenset[str]) -> set[int]:
    """The columns of a row's cells that hold its best metrics."""
    return {HEADER.index(m) for m in best}


def _markdown_table(table: BenchmarkTable) -> str:
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * _TEXT_COLUMNS + "---:|" * (len(HEADER) - _TEXT_COLUMNS),
    ]
    for entry, best in zip(table.entries, best_metrics(table.entries), strict=True):
        lines.append(markdown_row(_cells(entry), bold=_metric_columns(best)))
    return "\n".join(lines)


def to_markdown(tables: list[BenchmarkTable], notes: str = "") -> str:
    """One Markdown table per benchmark build (rows config and method, columns C@1, C@5, V@1, the best measured entry
    of each column bold) after the rules, what the metrics mean and the author's `notes`."""
    metrics = "; ".join(f"{name}: {text}" for name, text in METRIC_NOTES.items())
    parts = ["# avnoisebench leaderboard", describe(tables), f"{metrics}.", *([notes.strip()] if notes.strip() else [])]
    for table in tables:
        parts += [f"## {table.title}", chance_text(table.classes) + ".", _markdown_table(table)]
    return "\n\n".join(parts) + "\n"


def to_csv(tables: list[BenchmarkTable]) -> str:
    """Every row with full lock hash, reference flag, seed count, and mean and std per metric."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    metric_columns = [name for m in METRICS for name in (m, f"{m}_std")]
    writer.writerow(
        [
            "benchmark",
            "benchmark_lock_sha256",
            "config",
            "method",
            "setup",
            "track",
            "reference",
            "seeds",
            *metric_columns,
        ]
    )
    for table in tables:
        for e in table.entries:
            values = [v for m in METRICS for v in (round(e.mean[m], 4), "" if e.std[m] is None else round(e.std[m], 4))]
            writer.writerow(
                [
                    e.benchmark,
                    e.lock_sha256 or "",
                    e.config or "",
                    e.label,
                    e.setup,
                    e.track or "",
                    str(e.reference).lower(),
                    "" if e.seeds is None else e.seeds,
                    *values,
                ]
            )
    return out.getvalue()


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0 2em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { font-weight: bold; }
dt { font-weight: bold; }
tr.reference td { color: #666; font-style: italic; background: #f6f6f6; }
img { max-width: 100%; }
"""


def _html_table(table: BenchmarkTable) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER)
    rows = []
    for entry, best in zip(table.entries, best_metrics(table.entries), strict=True):
        cells = _cells(entry)
        bold = _metric_columns(best)
        tds = [f"<td>{html.escape(c)}</td>" for c in cells[:_TEXT_COLUMNS]] + [
            f'<td class="{"num best" if i in bold else "num"}">{html.escape(cells[i])}</td>'
            for i in range(_TEXT_COLUMNS, len(cells))
        ]
        css = ' class="reference"' if entry.reference else ""
        rows.append(f"<tr{css}>{''.join(tds)}</tr>")
    return f"<table>\n<tr>{head}</tr>\n" + "\n".join(rows) + "\n</table>"


def to_html(tables: list[BenchmarkTable], notes: str = "") -> str:
    """A self-contained page: the rules, what the metrics mean and their chance levels, the author's `notes`
    (Markdown), the protocol of the runs shown, the study layout (paper-style tables, variants, inline figures, the
    paper's numbers apart), then per benchmark build an inline V@1-vs-noise plot and the table of every row."""
    body = ["<h1>avnoisebench leaderboard</h1>", f"<p>{html.escape(describe(tables))}</p>"]
    body += [*reading_html(tables, notes), *study_html(build_study(tables)), "<h2>Every row, by benchmark build</h2>"]
    for table in tables:
        body.append(f"<h3>{html.escape(table.title)}</h3>")
        body.append(f"<p>{html.escape(chance_text(table.classes))}.</p>")
        levels = {e.correspondence for e in table.entries}
        series = noise_series(table.entries) if len(levels) == 1 else []  # several levels: the study's figures
        if series:
            data = base64.b64encode(accuracy_vs_noise_png(table.title, series, PLOT_METRIC)).decode("ascii")
            alt = html.escape(f"{PLOT_METRIC} against label noise rate on {table.title}")
            body.append(f'<img alt="{alt}" src="data:image/png;base64,{data}">')
        body.append(_html_table(table))
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>avnoisebench leaderboard</title>\n'
        f"<style>{_STYLE}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


RENDERERS = {"md": to_markdown, "csv": to_csv, "html": to_html}


def output_format(fmt: str | None, out: Path | None) -> str:
    """The format asked for, else the one named by the output file's suffix, else Markdown."""
    if fmt is None:
        suffix = out.suffix.lstrip(".").lower() if out else ""
        return suffix if suffix in FORMATS else "md"
    if fmt not in FORMATS:
        raise AvnbError(f"leaderboard format {fmt!r} is unknown; use one of {', '.join(FORMATS)}")
    return fmt


def render(tables: list[BenchmarkTable], fmt: str, notes: str = "") -> str:
    """The leaderboard as text in `fmt` (md, csv or html), with the author's `notes` (Markdown; not in CSV)."""
    if notes.strip() and fmt == "csv":
        raise AvnbError("--notes goes into a Markdown or HTML leaderboard, not CSV; pass --format md or html")
    return to_csv(tables) if fmt == "csv" else RENDERERS[fmt](tables, notes)


def save(text: str, out: Path) -> Path:
    """Write a rendered leaderboard to `out` atomically."""
    return write_atomically(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
