"""Leaderboard rows: records grouped by everything that defines a run (benchmark build, config, method and its
options, sweep variant, display name, model, initial weights, budget, track), mean ± std over seeds (pandas); the
paper's reference rows; the best measured entry per column; what the metrics mean and their chance levels; method
order from the registered methods' metadata."""

import html
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from avnoisebench.evaluation.metrics import METRICS
from avnoisebench.evaluation.results import SETUP_FIELDS, TABLE_FIELDS, ResultRecord, canonical, records_frame
from avnoisebench.harness.registry import registered_methods
from avnoisebench.report.reference import PAPER, paper_results

PLOT_METRIC = "V@1"
_FAMILY_ORDER = ("clean", "sym", "asym")
REFERENCE_SUFFIX = " (paper)"
NO_STD = "—"
RULES = (
    "Mean ± sample standard deviation (ddof = 1) over seeds of each method's last-epoch predictions on the clean "
    "test split (— for a single seed); rows differ by everything that defines a run (method and options, model, "
    "initial weights, epochs, learning rate, track); a re-evaluation of the same run and seed replaces the earlier "
    "one. Bold: the best measured mean of a column among a benchmark build's rows of one config (when there are two "
    "or more)."
)
REFERENCE_NOTE = f"Rows marked{REFERENCE_SUFFIX} are the published numbers of {PAPER}, not measured here."
FAMILY_CLASSES = {"ucf101-av": 51, "mini-kinetics": 50, "av-mnist": 10}
"""The number of classes of the benchmarks whose recipe fixes it (synthetic-av's is a build option)."""
_PAPER_CONFIG = {"clean": ("clean", 0.0)}


SCRATCH = "scratch"  # the initial weights of a run trained from scratch, as rows show them


@dataclass(frozen=True)
class Protocol:
    """How a row's runs were trained: model, initial weights, epochs, learning rate, batch size, track."""

    model: str | None
    init: str
    epochs: int | None
    lr: float | None
    batch_size: int | None
    track: str | None


@dataclass(frozen=True)
class Entry:
    """One row: a run setup's mean ± std over seeds on one benchmark build and config, or a paper reference."""

    benchmark: str
    lock_sha256: str | None
    config: str | None
    method: str
    label: str
    track: str | None
    reference: bool
    seeds: int | None
    mean: dict[str, float]
    std: dict[str, float | None]
    label_noise: tuple[str, float] | None = None
    correspondence: float | None = None
    family: str | None = None
    variant: dict = field(default_factory=dict)
    setup: str = ""
    runs: tuple[str, ...] = ()
    diagnostics: tuple[dict[str, float], ...] = ()
    protocol: Protocol | None = None
    classes: int | None = None

    @property
    def level(self) -> str:
        """The noisy-correspondence level as a column name (`nc30`), or "" when the benchmark has none."""
        return "" if self.correspondence is None else f"nc{self.correspondence:g}"


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

    @property
    def classes(self) -> int | None:
        """The benchmark's number of classes K, when an entry knows it."""
        return next((e.classes for e in self.entries if e.classes is not None), None)


@cache
def method_order() -> dict[str, int]:
    """Each registered method's (and its paper row's) place in tables, from the methods' `order` metadata."""
    order: dict[str, int] = {}
    for name, entry in registered_methods().items():
        try:
            method = entry.load()
        except Exception:  # a broken third-party plug-in is ranked last, not fatal to a report
            continue
        rank = getattr(method, "order", 1000)
        order[name] = rank
        if getattr(method, "paper_name", None):
            order[method.paper_name] = rank
    return order


def method_rank(method: str) -> tuple[int, str]:
    """Sort key of a method name (measured or a paper row's)."""
    name = method.removesuffix(REFERENCE_SUFFIX)
    return method_order().get(name, 1000), method


def noise_point(entry: Entry) -> tuple[str, float] | None:
    """(mode, rate in percent) of an entry's label noise, None when unknown."""
    if entry.label_noise is None:
        return None
    mode, rate = entry.label_noise
    return mode, round(rate * 100, 6)


def config_sort_key(entry: Entry) -> tuple:
    """Correspondence level, then clean, sym and asym by rate, then other configs, then no config."""
    point = noise_point(entry)
    level = -1.0 if entry.correspondence is None else entry.correspondence
    if point is None:
        return (level, len(_FAMILY_ORDER) + (entry.config is None), 0.0, entry.config or "")
    return (level, _FAMILY_ORDER.index(point[0]), point[1], entry.config or "")


def init_text(record: ResultRecord) -> str:
    """A record's initial weights: `scratch`, or their source and short digest."""
    return SCRATCH if record.init_sha256 is None else f"{record.init_source}@{record.init_sha256[:8]}"


def setup_text(record: ResultRecord) -> str:
    """The training setup a record's row stands for: model, initial weights, epochs, learning rate."""
    parts = []
    if record.model:
        parts.append(record.model)
    if record.init_sha256 is not None or record.model:
        parts.append(init_text(record))
    if record.epochs is not None:
        parts.append(f"{record.epochs} ep")
    if record.lr is not None:
        parts.append(f"lr {record.lr:g}")
    return ", ".join(parts)


def latest_per_seed(records: Iterable[ResultRecord]) -> list[ResultRecord]:
    """The last record of every setup and seed, in first-seen order."""
    return list({r.key(): r for r in records}.values())


def _classes(record: ResultRecord) -> int | None:
    """The benchmark's number of classes K: as the record gives it, else the length of a score row of its predictions
    file when that is still there, else the fixed K of a known benchmark family."""
    if record.num_classes is not None:
        return record.num_classes
    if record.predictions and Path(record.predictions).is_file():
        import pyarrow.parquet as pq

        try:
            rows = pq.ParquetFile(record.predictions).read_row_group(0, columns=["scores"]).column(0)
            return len(rows[0].as_py()) if len(rows) else None
        except (OSError, ValueError, KeyError):
            pass  # an unreadable file tells nothing; the family may
    return FAMILY_CLASSES.get(record.benchmark_family or record.benchmark)


def aggregate(records: Iterable[ResultRecord]) -> list[Entry]:
    """Mean and sample std (ddof 1; None for one seed) of each metric over the seeds of each setup (the records'
    SETUP_FIELDS), computed with pandas on the records' DataFrame; entries in the order their setups first appear."""
    latest = latest_per_seed(records)
    if not latest:
        return []
    frame = records_frame(latest)
    keys = frame[list(SETUP_FIELDS)].assign(**{name: frame[name].map(canonical) for name in TABLE_FIELDS})
    frame["setup"] = keys.groupby(list(SETUP_FIELDS), dropna=False, sort=False).ngroup()
    groups = frame.groupby("setup")
    stats = groups[list(METRICS)].agg(["mean", "std", "count"])
    firsts = groups.head(1).index
    runs = groups["run"].agg(lambda column: tuple(column.dropna()))
    diagnostics = groups["diagnostics"].agg(lambda column: tuple(d for d in column if d))
    classes: dict[str, int | None] = {}
    entries = []
    for (setup, row), first in zip(stats.iterrows(), firsts, strict=True):
        record = latest[first]
        seeds = int(row[METRICS[0], "count"])
        lock = record.benchmark_lock_sha256
        classes[lock] = classes.get(lock) or _classes(record)
        noise = None if record.label_noise_mode is None else (record.label_noise_mode, record.label_noise_rate or 0.0)
        entries.append(
            Entry(
                benchmark=record.benchmark,
                lock_sha256=record.benchmark_lock_sha256,
                config=record.config,
                method=record.method,
                label=record.label,
                track=record.track,
                reference=False,
                seeds=seeds,
                mean={m: float(row[m, "mean"]) for m in METRICS},
                std={m: float(row[m, "std"]) if seeds > 1 else None for m in METRICS},
                label_noise=noise,
                correspondence=record.correspondence,
                family=record.benchmark_family or record.benchmark,
                variant=dict(record.variant),
                setup=setup_text(record),
                runs=runs[setup],
                diagnostics=diagnostics[setup],
                protocol=Protocol(
                    record.model, init_text(record), record.epochs, record.lr, record.batch_size, record.track
                ),
                classes=classes[lock],
            )
        )
    return entries


def _paper_noise(config: str) -> tuple[str, float] | None:
    if config in _PAPER_CONFIG:
        return _PAPER_CONFIG[config]
    for mode in ("asym", "sym"):
        if config.startswith(mode) and config[len(mode) :].isdigit():
            return mode, int(config[len(mode) :]) / 100
    return None


def reference_entries() -> list[Entry]:
    """The paper's numbers as leaderboard rows marked as references."""
    entries = []
    for p in paper_results():
        family, _, level = p.benchmark.rpartition("-nc")
        real = family and level.isdigit()
        entries.append(
            Entry(
                benchmark=p.benchmark,
                lock_sha256=None,
                config=p.config,
                method=p.method + REFERENCE_SUFFIX,
                label=p.method + REFERENCE_SUFFIX,
                track=None,
                reference=True,
                seeds=None,
                mean=p.metrics,
                std=dict.fromkeys(METRICS),
                label_noise=_paper_noise(p.config),
                correspondence=float(level) if real else None,
                family=family if real else p.benchmark,
                classes=FAMILY_CLASSES.get(family if real else p.benchmark),
            )
        )
    return entries


def _row_key(entry: Entry) -> tuple:
    """Config order; measured rows best V@1 first, then the paper's rows in the paper's order."""
    if entry.reference:
        return (config_sort_key(entry), True, 0.0, "")
    return (config_sort_key(entry), False, -entry.mean[PLOT_METRIC], entry.label, entry.setup)


def build_leaderboard(
    records: Iterable[ResultRecord], reference: bool = True, only_logged: bool = False
) -> list[BenchmarkTable]:
    """One table per benchmark build, the builds of `records` first (in the order they first appear), each with its
    measured rows and, if `reference`, the paper's rows for that benchmark; then the paper's other benchmarks, unless
    `only_logged`."""
    measured = aggregate(records)
    references = reference_entries() if reference else []
    builds = list(dict.fromkeys((e.benchmark, e.lock_sha256) for e in measured))
    logged = {name for name, _ in builds}
    if not only_logged:
        builds += [(name, None) for name in dict.fromkeys(e.benchmark for e in references) if name not in logged]
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
        for benchmark, lock in builds
    ]


def best_metrics(entries: list[Entry]) -> list[frozenset[str]]:
    """For each entry, the metrics on which it is the best measured entry (highest mean as shown, ties all best) among
    the measured entries of its benchmark build and config, where there are two or more."""
    import pandas as pd

    frame = pd.DataFrame(
        [{"build": (e.benchmark, e.lock_sha256, e.config), **e.mean} for e in entries if not e.reference],
        columns=["build", *METRICS],
    )
    shown = frame[list(METRICS)].round(2)
    groups = shown.groupby(frame["build"])
    best = shown.eq(groups.transform("max")) & groups[METRICS[0]].transform("size").gt(1).to_numpy()[:, None]
    marks = iter(best.itertuples(index=False))
    return [
        frozenset() if e.reference else frozenset(m for m, b in zip(METRICS, next(marks), strict=True) if b)
        for e in entries
    ]


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


def markdown_row(cells: list[str], bold: Collection[int] = ()) -> str:
    """One Markdown table row; each cell's text is shown as written (HTML and `|` escaped), the cells at the positions
    in `bold` in bold."""
    shown = [html.escape(cell, quote=False).replace("|", "\\|") for cell in cells]
    return "| " + " | ".join(f"**{text}**" if i in bold and text else text for i, text in enumerate(shown)) + " |"
