"""The leaderboard: mean ± std over seeds per (benchmark, config, method) beside the paper's numbers, as md/csv/html."""

import base64
import csv
import html
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avnoisebench.errors import AvnbError
from avnoisebench.evaluation.files import write_atomically
from avnoisebench.evaluation.metrics import METRICS
from avnoisebench.evaluation.plot import Series, accuracy_vs_noise_png
from avnoisebench.evaluation.reference import PAPER, paper_results
from avnoisebench.evaluation.results import ResultRecord
from avnoisebench.noise.labels import NoiseSpec

FORMATS = ("md", "csv", "html")
PLOT_METRIC = "V@1"
_FAMILY_ORDER = ("clean", "sym", "asym")
REFERENCE_SUFFIX = " (paper)"
NO_STD = "—"
RULES = (
    "Mean ± sample standard deviation (ddof = 1) over seeds of each method's last-epoch predictions on the clean "
    "test split (— for a single seed); a re-evaluation of the same seed replaces the earlier one."
)
REFERENCE_NOTE = f"Rows marked{REFERENCE_SUFFIX} are the published numbers of {PAPER}, not measured here."


@dataclass(frozen=True)
class Entry:
    """One row: a method's mean ± std over seeds on one benchmark and config, or a paper reference."""

    benchmark: str
    lock_sha256: str | None
    config: str | None
    method: str
    track: str | None
    reference: bool
    seeds: int | None
    mean: dict[str, float]
    std: dict[str, float | None]
    runs: tuple[str, ...] = ()


@dataclass(frozen=True)
class BenchmarkTable:
    """The rows of one benchmark build (name and lock hash; None for a paper-only table)."""

    benchmark: str
    lock_sha256: str | None
    entries: list[Entry]

    @property
    def title(self) -> str:
        """The benchmark name, with the short lock hash of measured builds."""
        return f"{self.benchmark} (lock {self.lock_sha256[:12]})" if self.lock_sha256 else self.benchmark


def noise_point(config: str | None) -> tuple[str, float] | None:
    """(mode, rate in percent) of a config named like clean, sym40 or asym20; None for any other name."""
    if config is None:
        return None
    try:
        spec = NoiseSpec.parse(config)
    except AvnbError:
        return None
    return spec.mode, round(spec.rate * 100, 6)


def config_sort_key(config: str | None) -> tuple:
    """clean, then sym and asym by rate, then other names, then no config."""
    point = noise_point(config)
    if point is None:
        return (len(_FAMILY_ORDER) + (config is None), 0.0, config or "")
    return (_FAMILY_ORDER.index(point[0]), point[1], config)


def latest_per_seed(records: Iterable[ResultRecord]) -> list[ResultRecord]:
    """The last record of every (benchmark build, config, method, track, seed), in first-seen order."""
    latest: dict[tuple, ResultRecord] = {}
    for r in records:
        latest[(r.benchmark, r.benchmark_lock_sha256, r.config, r.method, r.track, r.seed)] = r
    return list(latest.values())


def aggregate(records: Iterable[ResultRecord]) -> list[Entry]:
    """Mean and sample std (None for one seed) of each metric over the seeds of each method and setting."""
    groups: dict[tuple, list[ResultRecord]] = defaultdict(list)
    for r in latest_per_seed(records):
        groups[(r.benchmark, r.benchmark_lock_sha256, r.config, r.method, r.track)].append(r)
    entries = []
    for (benchmark, lock, config, method, track), group in groups.items():
        values = np.array([[r.metrics[m] for m in METRICS] for r in group], dtype=np.float64)
        std = values.std(axis=0, ddof=1) if len(group) > 1 else [None] * len(METRICS)
        entries.append(
            Entry(
                benchmark=benchmark,
                lock_sha256=lock,
                config=config,
                method=method,
                track=track,
                reference=False,
                seeds=len(group),
                mean={m: float(v) for m, v in zip(METRICS, values.mean(axis=0), strict=True)},
                std={m: None if s is None else float(s) for m, s in zip(METRICS, std, strict=True)},
                runs=tuple(r.run for r in group if r.run),
            )
        )
    return entries


def reference_entries() -> list[Entry]:
    """The paper's numbers as leaderboard rows marked as references."""
    return [
        Entry(
            benchmark=p.benchmark,
            lock_sha256=None,
            config=p.config,
            method=p.method + REFERENCE_SUFFIX,
            track=None,
            reference=True,
            seeds=None,
            mean=p.metrics,
            std=dict.fromkeys(METRICS),
        )
        for p in paper_results()
    ]


def _row_key(entry: Entry) -> tuple:
    """Config order; measured rows best V@1 first, then the paper's rows in the paper's order."""
    if entry.reference:
        return (config_sort_key(entry.config), True, 0.0, "")
    return (config_sort_key(entry.config), False, -entry.mean[PLOT_METRIC], entry.method)


def build_leaderboard(records: Iterable[ResultRecord], reference: bool = True) -> list[BenchmarkTable]:
    """One table per benchmark build: its measured rows, plus the paper's rows for that benchmark if `reference`."""
    measured = aggregate(records)
    references = reference_entries()
    paper_order = list(dict.fromkeys(e.benchmark for e in references))
    references = references if reference else []
    builds = {(e.benchmark, e.lock_sha256) for e in measured}
    builds |= {(e.benchmark, None) for e in references if e.benchmark not in {name for name, _ in builds}}
    ordered = sorted(builds, key=lambda b: (_rank(paper_order, b[0]), b[0], b[1] or ""))
    return [
        BenchmarkTable(
            benchmark,
            lock,
            sorted(
                [e for e in measured if (e.benchmark, e.lock_sha256) == (benchmark, lock)]
                + [e for e in references if e.benchmark == benchmark],
                key=_row_key,
            ),
        )
        for benchmark, lock in ordered
    ]


def _rank(order: list[str], name: str) -> int:
    return order.index(name) if name in order else len(order)


def format_cell(entry: Entry, metric: str) -> str:
    """`mean ± std` with two decimals; `mean ± —` for one seed; the bare number for a paper reference."""
    mean = f"{entry.mean[metric]:.2f}"
    if entry.reference:
        return mean
    std = entry.std[metric]
    return f"{mean} ± {NO_STD if std is None else f'{std:.2f}'}"


def describe(tables: list[BenchmarkTable]) -> str:
    """The rules line heading a leaderboard, with the note on reference rows when there are any."""
    references = any(e.reference for table in tables for e in table.entries)
    return f"{RULES} {REFERENCE_NOTE}" if references else RULES


def _cells(entry: Entry) -> list[str]:
    seeds = "" if entry.seeds is None else str(entry.seeds)
    return [entry.config or "", entry.method, entry.track or "", seeds, *(format_cell(entry, m) for m in METRICS)]


HEADER = ["config", "method", "track", "seeds", *METRICS]


def to_markdown(tables: list[BenchmarkTable]) -> str:
    """One Markdown table per benchmark build: rows (config, method), columns C@1, C@5, V@1."""
    parts = ["# avnoisebench leaderboard", describe(tables)]
    for table in tables:
        lines = ["| " + " | ".join(HEADER) + " |", "|---|---|---|---:|---:|---:|---:|"]
        for entry in table.entries:
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in _cells(entry)) + " |")
        parts += [f"## {table.title}", "\n".join(lines)]
    return "\n\n".join(parts) + "\n"


def to_csv(tables: list[BenchmarkTable]) -> str:
    """Every row with full lock hash, reference flag, seed count, and mean and std per metric."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    metric_columns = [name for m in METRICS for name in (m, f"{m}_std")]
    writer.writerow(
        ["benchmark", "benchmark_lock_sha256", "config", "method", "track", "reference", "seeds", *metric_columns]
    )
    for table in tables:
        for e in table.entries:
            values = [v for m in METRICS for v in (round(e.mean[m], 4), "" if e.std[m] is None else round(e.std[m], 4))]
            writer.writerow(
                [
                    e.benchmark,
                    e.lock_sha256 or "",
                    e.config or "",
                    e.method,
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
tr.reference td { color: #666; font-style: italic; background: #f6f6f6; }
img { max-width: 100%; }
"""


def _html_table(table: BenchmarkTable) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER)
    rows = []
    for entry in table.entries:
        cells = _cells(entry)
        tds = [f"<td>{html.escape(c)}</td>" for c in cells[:3]] + [
            f'<td class="num">{html.escape(c)}</td>' for c in cells[3:]
        ]
        css = ' class="reference"' if entry.reference else ""
        rows.append(f"<tr{css}>{''.join(tds)}</tr>")
    return f"<table>\n<tr>{head}</tr>\n" + "\n".join(rows) + "\n</table>"


def _label(entry: Entry) -> str:
    return f"{entry.method} [{entry.track}]" if entry.track else entry.method


def noise_series(entries: list[Entry], metric: str = PLOT_METRIC) -> list[Series]:
    """One line per method and noise family over the configs with a noise rate; clean is rate 0 of both families."""
    points: dict[tuple[str, str, bool], list[tuple[float, float, float | None]]] = defaultdict(list)
    for entry in entries:
        point = noise_point(entry.config)
        if point is None:
            continue
        mode, rate = point
        for family in ("sym", "asym") if mode == "clean" else (mode,):
            points[(_label(entry), family, entry.reference)].append((rate, entry.mean[metric], entry.std[metric]))
    series = [Series(label, family, ref, sorted(p)) for (label, family, ref), p in points.items()]
    return [s for s in series if any(rate > 0 for rate, _, _ in s.points)]


def to_html(tables: list[BenchmarkTable]) -> str:
    """A self-contained page: the study layout (paper-style tables, variants, inline figures, the paper's numbers
    apart), then per benchmark build an inline V@1-vs-noise plot and the table of every row."""
    from avnoisebench.evaluation.study import build_study, study_html

    body = ["<h1>avnoisebench leaderboard</h1>", f"<p>{html.escape(describe(tables))}</p>"]
    body += [*study_html(build_study(tables)), "<h2>Every row, by benchmark build</h2>"]
    for table in tables:
        body.append(f"<h3>{html.escape(table.title)}</h3>")
        series = noise_series(table.entries)
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


def render(tables: list[BenchmarkTable], fmt: str) -> str:
    """The leaderboard as text in `fmt` (md, csv or html)."""
    return RENDERERS[fmt](tables)


def save(text: str, out: Path) -> Path:
    """Write a rendered leaderboard to `out` atomically."""
    return write_atomically(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
