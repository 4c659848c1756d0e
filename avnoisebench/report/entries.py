"""Leaderboard rows: records grouped by everything that defines a run (benchmark build, config, method and its
options, sweep variant, display name, model, initial weights, budget, track), mean ± std over seeds; the paper's
reference rows; method order from the registered methods' metadata."""

import html
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from avnoisebench.evaluation.metrics import METRICS
from avnoisebench.evaluation.results import ResultRecord
from avnoisebench.harness.registry import registered_methods
from avnoisebench.report.reference import PAPER, paper_results

PLOT_METRIC = "V@1"
_FAMILY_ORDER = ("clean", "sym", "asym")
REFERENCE_SUFFIX = " (paper)"
NO_STD = "—"
RULES = (
    "Mean ± sample standard deviation (ddof = 1) over seeds of each method's last-epoch predictions on the clean "
    "test split (— for a single seed); rows differ by everything that defines a run (method and options, model, "
    "initial weights, epochs, learning rate, track); a re-evaluation of the same run and seed replaces the earlier one."
)
REFERENCE_NOTE = f"Rows marked{REFERENCE_SUFFIX} are the published numbers of {PAPER}, not measured here."
_PAPER_CONFIG = {"clean": ("clean", 0.0)}


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


def setup_text(record: ResultRecord) -> str:
    """The training setup a record's row stands for: model, initial weights, epochs, learning rate."""
    parts = []
    if record.model:
        parts.append(record.model)
    if record.init_sha256 is not None or record.model:
        parts.append("scratch" if record.init_sha256 is None else f"{record.init_source}@{record.init_sha256[:8]}")
    if record.epochs is not None:
        parts.append(f"{record.epochs} ep")
    if record.lr is not None:
        parts.append(f"lr {record.lr:g}")
    return ", ".join(parts)


def latest_per_seed(records: Iterable[ResultRecord]) -> list[ResultRecord]:
    """The last record of every setup and seed, in first-seen order."""
    latest: dict[tuple, ResultRecord] = {}
    for r in records:
        latest[r.key()] = r
    return list(latest.values())


def aggregate(records: Iterable[ResultRecord]) -> list[Entry]:
    """Mean and sample std (None for one seed) of each metric over the seeds of each setup."""
    groups: dict[tuple, list[ResultRecord]] = defaultdict(list)
    for r in latest_per_seed(records):
        groups[r.setup()].append(r)
    entries = []
    for group in groups.values():
        first = group[0]
        values = np.array([[r.metrics[m] for m in METRICS] for r in group], dtype=np.float64)
        std = values.std(axis=0, ddof=1) if len(group) > 1 else [None] * len(METRICS)
        noise = None if first.label_noise_mode is None else (first.label_noise_mode, first.label_noise_rate or 0.0)
        entries.append(
            Entry(
                benchmark=first.benchmark,
                lock_sha256=first.benchmark_lock_sha256,
                config=first.config,
                method=first.method,
                label=first.label,
                track=first.track,
                reference=False,
                seeds=len(group),
                mean={m: float(v) for m, v in zip(METRICS, values.mean(axis=0), strict=True)},
                std={m: None if s is None else float(s) for m, s in zip(METRICS, std, strict=True)},
                label_noise=noise,
                correspondence=first.correspondence,
                family=first.benchmark_family or first.benchmark,
                variant=dict(first.variant),
                setup=setup_text(first),
                runs=tuple(r.run for r in group if r.run),
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
            )
        )
    return entries


def _row_key(entry: Entry) -> tuple:
    """Config order; measured rows best V@1 first, then the paper's rows in the paper's order."""
    if entry.reference:
        return (config_sort_key(entry), True, 0.0, "")
    return (config_sort_key(entry), False, -entry.mean[PLOT_METRIC], entry.label, entry.setup)


def _rank(order: list[str], name: str) -> int:
    return order.index(name) if name in order else len(order)


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


def markdown_row(cells: list[str]) -> str:
    """One Markdown table row; each cell's text is shown as written (HTML and `|` escaped)."""
    return "| " + " | ".join(html.escape(cell, quote=False).replace("|", "\\|") for cell in cells) + " |"
