"""The paper's layout of leaderboard entries: Tables I/II (rows noise rate × method, column groups by benchmark and
noisy-correspondence level), Table III style variant tables, Fig. 6 style γ curves, accuracy-vs-noise plots per
level and Fig. 8 style ω histograms, as Markdown (with PNG files) or HTML (inline PNGs)."""

import base64
import html
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from avnoisebench.errors import AvnbError
from avnoisebench.evaluation.metrics import METRICS
from avnoisebench.files import write_atomically
from avnoisebench.report.diagnostics import Diagnostics, diagnostics_markdown, entry_diagnostics
from avnoisebench.report.entries import (
    PLOT_METRIC,
    SCRATCH,
    BenchmarkTable,
    Entry,
    best_metrics,
    describe,
    format_cell,
    markdown_row,
    method_rank,
    noise_point,
)
from avnoisebench.report.plot import FAMILIES, Series, accuracy_vs_noise_png, gamma_curve_png, score_histogram_png
from avnoisebench.report.reading import reading_markdown
from avnoisebench.report.reference import PAPER
from avnoisebench.runs.folder import RunFolder

GAMMA_METRIC = "C@1"
OMEGA = "omega"
VALUE_ORDER = ("none", "ins", "cat", "full")
_MODE_TITLES = {"clean": "no label noise", **FAMILIES}


def _column(entry: Entry) -> tuple[bool, str, float, str]:
    """Benchmarks without levels first (the paper's UCF101 before mini-Kinetics), then by family and level."""
    level = -1.0 if entry.correspondence is None else entry.correspondence
    return entry.correspondence is not None, entry.family or entry.benchmark, level, entry.lock_sha256 or ""


def _value_text(values: dict) -> str:
    return ", ".join(str(v).lower() if isinstance(v, bool) else str(v) for v in values.values())


def noise_series(entries: list[Entry], metric: str = PLOT_METRIC) -> list[Series]:
    """One line per row label and noise family over the entries with a label-noise rate; clean is rate 0 of both
    families."""
    points: dict[tuple[str, str, bool], list[tuple[float, float, float | None]]] = defaultdict(list)
    for entry in entries:
        point = noise_point(entry)
        if point is None:
            continue
        mode, rate = point
        label = f"{entry.label} [{entry.track}]" if entry.track else entry.label
        for family in ("sym", "asym") if mode == "clean" else (mode,):
            points[(label, family, entry.reference)].append((rate, entry.mean[metric], entry.std[metric]))
    series = [Series(label, family, ref, sorted(p)) for (label, family, ref), p in points.items()]
    return [s for s in series if any(rate > 0 for rate, _, _ in s.points)]


@dataclass(frozen=True)
class StudyTable:
    """Tables I/II style: one label-noise family; columns are benchmark/level groups, rows (rate, method)."""

    title: str
    columns: list[str]
    rows: list[tuple[float, str, list[Entry | None]]]


@dataclass(frozen=True)
class VariantTable:
    """Table III style: one method and setting, a row per varied value (e.g. ablation none/ins/cat/full)."""

    title: str
    rows: list[tuple[str, Entry]]


@dataclass(frozen=True)
class Figure:
    """A titled PNG with the file name it gets beside the Markdown report."""

    title: str
    name: str
    png: bytes


@dataclass(frozen=True)
class Study:
    """Everything the report shows: measured study tables, variant tables, figures, the paper's tables apart."""

    measured: list[StudyTable]
    variants: list[VariantTable]
    figures: list[Figure]
    paper: list[StudyTable]
    diagnostics: list[Diagnostics] = field(default_factory=list)


def _row_labels(entries: list[Entry]) -> dict[int, str]:
    """Each entry's row label: its label, with its setup when the same label has several setups."""
    setups: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        setups[entry.label].add(entry.setup)
    return {id(e): f"{e.label} ({e.setup})" if len(setups[e.label]) > 1 else e.label for e in entries}


def study_tables(entries: list[Entry], title: str) -> list[StudyTable]:
    """One table per label-noise family over the entries without sweep variants."""
    plain = [e for e in entries if not e.variant and noise_point(e)]
    labels = _row_labels(plain)
    by_mode: dict[str, list[Entry]] = defaultdict(list)
    for entry in plain:
        by_mode[noise_point(entry)[0]].append(entry)
    tables = []
    for mode in (m for m in _MODE_TITLES if m in by_mode):
        group = by_mode[mode]
        columns = sorted({_column(e) for e in group})
        locks = defaultdict(set)
        for _, benchmark, _, lock in columns:
            locks[benchmark].add(lock)
        names = [
            (f"{b} nc{level:g}" if level >= 0 else b) + (f" (lock {lock[:8]})" if len(locks[b]) > 1 else "")
            for _, b, level, lock in columns
        ]
        cells: dict[tuple[float, str], list[Entry | None]] = {}
        for entry in group:
            rate = noise_point(entry)[1]
            row = cells.setdefault((rate, labels[id(entry)]), [None] * len(columns))
            row[columns.index(_column(entry))] = entry
        rows = [
            (rate, label, cells[rate, label])
            for rate, label in sorted(cells, key=lambda k: (k[0], method_rank(_method_of(k[1], group))))
        ]
        tables.append(StudyTable(f"{_MODE_TITLES[mode]}: {title}", names, rows))
    return tables


def _method_of(label: str, entries: list[Entry]) -> str:
    """The method behind a row label (for its order)."""
    return next((e.method for e in entries if label.startswith(e.label)), label)


def variant_tables(entries: list[Entry]) -> list[VariantTable]:
    """Table III style tables of the sweep variants other than a γ sweep, one per method, setting and varied keys."""
    groups: dict[tuple, list[tuple[str, Entry]]] = defaultdict(list)
    for entry in entries:
        values = entry.variant
        if values and set(values) != {"gamma"}:
            key = (entry.benchmark, entry.lock_sha256, entry.config, entry.track, entry.method, tuple(values))
            groups[key].append((_value_text(values), entry))
    tables = []
    for (benchmark, _, config, track, method, keys), rows in groups.items():
        rows.sort(key=lambda r: (VALUE_ORDER.index(r[0]) if r[0] in VALUE_ORDER else len(VALUE_ORDER), r[0]))
        tables.append(VariantTable(f"{method}: {', '.join(keys)} on {benchmark} {config} ({track} track)", rows))
    return tables


def _slug(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", "-".join(p for p in parts if p)).strip("-").lower()


def _noise_name(entry: Entry) -> str:
    """The label-noise part of an entry's setting (clean, sym40, ...)."""
    point = noise_point(entry)
    if point is None:
        return entry.config or ""
    return "clean" if point[0] == "clean" else f"{point[0]}{point[1]:g}"


def gamma_figures(entries: list[Entry]) -> list[Figure]:
    """Fig. 6 style: C@1 against a constant γ, a panel per benchmark level and a line per label-noise config."""
    series: dict[tuple, dict[tuple[str, str], list]] = defaultdict(lambda: defaultdict(list))
    for entry in entries:
        if set(entry.variant) == {"gamma"}:
            panel = f"{entry.family} {entry.level}".strip()
            noise = _noise_name(entry)
            point = (float(entry.variant["gamma"]), entry.mean[GAMMA_METRIC], entry.std[GAMMA_METRIC])
            series[(entry.method, entry.track)][(panel, noise)].append(point)
    figures = []
    for (method, track), lines in series.items():
        drawn = [Series(noise, panel, False, sorted(points)) for (panel, noise), points in sorted(lines.items())]
        title = f"{method}: {GAMMA_METRIC} against a constant γ ({track} track)"
        figures.append(
            Figure(title, f"{_slug('gamma', method, track or '')}.png", gamma_curve_png(title, drawn, GAMMA_METRIC))
        )
    return figures


def noise_figures(entries: list[Entry]) -> list[Figure]:
    """V@1 against the label-noise rate, a figure per benchmark build and noisy-correspondence level (titled with the
    build's short lock hash when a benchmark has several)."""
    groups: dict[tuple[str, str, str], list[Entry]] = defaultdict(list)
    for entry in entries:
        if not entry.variant and not entry.reference:
            groups[(entry.family or entry.benchmark, entry.level, entry.lock_sha256 or "")].append(entry)
    builds = Counter(benchmark for benchmark, _ in {(benchmark, lock) for benchmark, _, lock in groups})
    figures = []
    for (benchmark, level, lock), group in sorted(groups.items()):
        series = noise_series(group)
        if series:
            title = f"{benchmark} {level}".strip() + (f" (lock {lock[:8]})" if builds[benchmark] > 1 else "")
            png = accuracy_vs_noise_png(title, series, PLOT_METRIC)
            figures.append(
                Figure(
                    f"{PLOT_METRIC} against label noise on {title}",
                    f"{_slug('noise', benchmark, level, lock[:8])}.png",
                    png,
                )
            )
    return figures


def _omega_run(entry: Entry) -> RunFolder | None:
    """The first of an entry's run folders that still holds ω scores (run folders are not always kept)."""
    runs = (RunFolder(run) for run in entry.runs)
    return next((run for run in runs if OMEGA in run.score_names()), None)


def omega_figures(entries: list[Entry]) -> list[Figure]:
    """Fig. 8 style ω histograms (matched vs mismatched pairs) at the highest noisy-correspondence level, one per
    entry, from the first of its runs whose folder kept ω scores."""
    found = [(e, run) for e in entries if not e.variant and (run := _omega_run(e)) is not None]
    if not found:
        return []
    top = max(-1.0 if e.correspondence is None else e.correspondence for e, _ in found)
    figures = []
    for entry, run in sorted(found, key=lambda f: (f[0].family or "", _noise_name(f[0]), f[0].label)):
        if (-1.0 if entry.correspondence is None else entry.correspondence) == top:
            setting = f"{entry.family} {entry.level} {_noise_name(entry)}".replace("  ", " ")
            scores = run.scores(OMEGA)
            title = f"{entry.label}: ω of the training pairs on {setting}, epoch {scores.epoch}"
            figures.append(
                Figure(
                    title,
                    f"{_slug('omega', entry.label, entry.family or '', entry.level, _noise_name(entry))}.png",
                    score_histogram_png(scores, title=f"{entry.label} on {setting}: ω at epoch {scores.epoch}"),
                )
            )
    return figures


def build_study(tables: list[BenchmarkTable]) -> Study:
    """The study of a leaderboard: measured tables per track (tracks of pretrained runs first), variants, figures,
    the mechanisms' diagnostics from the records; the paper's rows in tables apart."""
    entries = [e for table in tables for e in table.entries]
    measured = [e for e in entries if not e.reference]

    def from_scratch(track: str) -> bool:
        return all(e.protocol is None or e.protocol.init == SCRATCH for e in measured if (e.track or "") == track)

    tracks = sorted({e.track or "" for e in measured}, key=lambda track: (from_scratch(track), track))
    return Study(
        measured=[
            t
            for track in tracks
            for t in study_tables([e for e in measured if (e.track or "") == track], f"measured, {track or 'no'} track")
        ],
        variants=variant_tables(measured),
        figures=noise_figures(measured) + gamma_figures(measured) + omega_figures(measured),
        paper=study_tables([e for e in entries if e.reference], f"{PAPER} (published, not measured here)"),
        diagnostics=entry_diagnostics(measured),
    )


def _best(table: StudyTable) -> dict[int, frozenset[str]]:
    """The metrics on which each measured cell's entry (by id) is the best of its column group and noise rate."""
    entries = [e for _, _, cells in table.rows for e in cells if e is not None]
    return {id(e): best for e, best in zip(entries, best_metrics(entries), strict=True)}


def _md_cell(entry: Entry | None, best: frozenset[str]) -> str:
    """`C@1 / C@5 / V@1` of an entry, its best metrics in bold (markdown_row escapes only HTML and |)."""
    if entry is None:
        return ""
    return " / ".join(f"**{format_cell(entry, m)}**" if m in best else format_cell(entry, m) for m in METRICS)


def _md_study(table: StudyTable) -> str:
    head = markdown_row(["noise", "method", *(f"{c} ({' / '.join(METRICS)})" for c in table.columns)])
    rule = "|---|---|" + "---:|" * len(table.columns)
    best = _best(table)
    rows = [
        markdown_row([f"{rate:g}%", method, *(_md_cell(e, best.get(id(e), frozenset())) for e in cells)])
        for rate, method, cells in table.rows
    ]
    return "\n".join([f"### {html.escape(table.title, quote=False)}", "", head, rule, *rows])


def _md_variant(table: VariantTable) -> str:
    rows = [markdown_row([value, *(format_cell(e, m) for m in METRICS)]) for value, e in table.rows]
    title = html.escape(table.title, quote=False)
    return "\n".join([f"### {title}", "", markdown_row(["variant", *METRICS]), "|---|---:|---:|---:|", *rows])


def to_study_markdown(study: Study, tables: list[BenchmarkTable], image_dir: str, notes: str = "") -> str:
    """The report as Markdown, with the author's `notes` (Markdown) after the introduction; figures are referenced
    as `image_dir/NAME.png` (written by `save_study`)."""
    parts = ["# Results", describe(tables), *reading_markdown(tables, notes)]
    if study.measured:
        parts += ["## Label and correspondence noise (Tables I and II layout)", *map(_md_study, study.measured)]
    if study.variants:
        parts += ["## Variants (Table III layout)", *map(_md_variant, study.variants)]
    if study.diagnostics:
        parts += [
            "## What the mechanisms did (from the result records, mean ± std over seeds)",
            "Accuracy of the labels a method trained on after its k-NN correction (last epoch) against the observed "
            "labels' (hidden truth of the training split); ω's ROC-AUC for telling matched from mismatched training "
            "pairs (last epoch; none without mismatched pairs); AdaMML's test-time decisions.",
            diagnostics_markdown(study.diagnostics),
        ]
    if study.figures:
        shown = [(html.escape(f.title, quote=False), f.name) for f in study.figures]
        parts += ["## Figures", *(f"### {title}\n\n![{title}]({image_dir}/{name})" for title, name in shown)]
    if study.paper:
        parts += ["## The paper's numbers (UCF101-AV, mini-Kinetics), kept apart", *map(_md_study, study.paper)]
    if not (study.measured or study.variants or study.figures):
        parts.insert(2, "No measured results yet: run a sweep from `sweeps/` and `avnb report` its results log.")
    return "\n\n".join(parts) + "\n"


def save_study(study: Study, tables: list[BenchmarkTable], out: Path, notes: str = "") -> list[Path]:
    """Write the Markdown report (with `notes`) to `out` and its figures to a folder named after it (`results.md` ->
    `results/`)."""
    if out.suffix != ".md":
        raise AvnbError(f"report {out} must be a .md file; its figures go to the folder {out.with_suffix('')}")
    folder = out.with_suffix("")
    written = [write_atomically(folder / f.name, lambda tmp, f=f: tmp.write_bytes(f.png)) for f in study.figures]
    text = to_study_markdown(study, tables, folder.name, notes)
    return [write_atomically(out, lambda tmp: tmp.write_text(text, encoding="utf-8")), *written]


def _html_study(table: StudyTable, reference: bool) -> str:
    groups = "".join(f'<th colspan="{len(METRICS)}">{html.escape(c)}</th>' for c in table.columns)
    metrics = "".join(f"<th>{m}</th>" for _ in table.columns for m in METRICS)
    kind = ' class="reference"' if reference else ""
    best = _best(table)
    rows = []
    for rate, method, cells in table.rows:
        values = "".join(
            f'<td class="{"num best" if m in best.get(id(e), ()) else "num"}">'
            f"{html.escape(format_cell(e, m)) if e else ''}</td>"
            for e in cells
            for m in METRICS
        )
        rows.append(f"<tr{kind}><td>{rate:g}%</td><td>{html.escape(method)}</td>{values}</tr>")
    return (
        f'<h3>{html.escape(table.title)}</h3>\n<table>\n<tr><th rowspan="2">noise</th><th rowspan="2">method</th>'
        f"{groups}</tr>\n<tr>{metrics}</tr>\n" + "\n".join(rows) + "\n</table>"
    )


def _html_variant(table: VariantTable) -> str:
    head = "".join(f"<th>{m}</th>" for m in METRICS)
    rows = [
        f"<tr><td>{html.escape(v)}</td>"
        + "".join(f'<td class="num">{format_cell(e, m)}</td>' for m in METRICS)
        + "</tr>"
        for v, e in table.rows
    ]
    return (
        f"<h3>{html.escape(table.title)}</h3>\n<table>\n<tr><th>variant</th>{head}</tr>\n"
        + "\n".join(rows)
        + "\n</table>"
    )


def study_html(study: Study) -> list[str]:
    """HTML sections of the study: measured tables, variants, inline figures, then the paper's tables apart."""
    body = []
    if study.measured:
        body += [
            "<h2>Label and correspondence noise (Tables I and II layout)</h2>",
            *(_html_study(t, False) for t in study.measured),
        ]
    if study.variants:
        body += ["<h2>Variants (Table III layout)</h2>", *map(_html_variant, study.variants)]
    body += ["<h2>Figures</h2>"] if study.figures else []
    for figure in study.figures:
        data = base64.b64encode(figure.png).decode("ascii")
        body += [
            f"<h3>{html.escape(figure.title)}</h3>",
            f'<img alt="{html.escape(figure.title)}" src="data:image/png;base64,{data}">',
        ]
    if study.paper:
        body += [
            "<h2>The paper's numbers (UCF101-AV, mini-Kinetics), kept apart</h2>",
            *(_html_study(t, True) for t in study.paper),
        ]
    return body
