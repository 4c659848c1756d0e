"""The paper's layout of leaderboard entries: Tables I/II (rows noise rate × method, column groups by benchmark and
noisy-correspondence level), Table III style variant tables, Fig. 6 style γ curves, accuracy-vs-noise plots per
level and Fig. 8 style ω histograms, as Markdown (with PNG files) or HTML (inline PNGs)."""

import base64
import html
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from avnoisebench.errors import AvnbError
from avnoisebench.evaluation.files import write_atomically
from avnoisebench.evaluation.leaderboard import (
    PLOT_METRIC,
    REFERENCE_SUFFIX,
    BenchmarkTable,
    Entry,
    describe,
    format_cell,
    noise_point,
    noise_series,
)
from avnoisebench.evaluation.metrics import METRICS
from avnoisebench.evaluation.plot import FAMILIES, Series, accuracy_vs_noise_png, gamma_curve_png
from avnoisebench.evaluation.reference import PAPER

GAMMA_METRIC = "C@1"
OMEGA = "omega"
_LABEL = re.compile(r"^(?P<method>[^\[\]]+)\[(?P<values>.+)\]$")
_NC_CONFIG = re.compile(r"^nc(?P<level>\d+)-(?P<noise>.+)$")
_NC_BENCHMARK = re.compile(r"^(?P<name>.+)-nc(?P<level>\d+)$")
METHOD_ORDER = (
    *("late-fusion", "video-only", "audio-only", "gblend", "G-Blend", "mrl", "MRL", "xdc", "XDC*"),
    *("avr", "AV-R", "adamml", "AdaMML", "ntl", "Ours"),
)
VALUE_ORDER = ("none", "ins", "cat", "full")
_MODE_TITLES = {"clean": "no label noise", **FAMILIES}


def parse_label(method: str) -> tuple[str, dict[str, str]]:
    """(method, varied values as written) of a sweep label such as `ntl[ablation=ins, gamma=0.2]`."""
    match = _LABEL.match(method)
    if not match:
        return method, {}
    pairs = [part.partition("=") for part in match["values"].split(", ")]
    return match["method"], {key: value for key, _, value in pairs}


def split_setting(benchmark: str, config: str | None) -> tuple[str, str, str | None]:
    """(benchmark, noisy-correspondence level or "", label-noise config) of `nc20-sym40` configs and of benchmarks
    named like `mini-kinetics-nc20`."""
    if config and (match := _NC_CONFIG.match(config)):
        return benchmark, f"nc{match['level']}", match["noise"]
    if match := _NC_BENCHMARK.match(benchmark):
        return match["name"], f"nc{match['level']}", config
    return benchmark, "", config


def _column(entry: Entry) -> tuple[bool, str, int, str]:
    """Benchmarks without levels first (the paper's UCF101 before mini-Kinetics), then by name and level."""
    benchmark, level, _ = split_setting(entry.benchmark, entry.config)
    return bool(level), benchmark, int(level[2:]) if level else -1, entry.lock_sha256 or ""


def _method_rank(method: str) -> tuple[int, str]:
    name = method.removesuffix(REFERENCE_SUFFIX)
    return (METHOD_ORDER.index(name) if name in METHOD_ORDER else len(METHOD_ORDER), method)


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


def study_tables(entries: list[Entry], title: str) -> list[StudyTable]:
    """One table per label-noise family over the entries without sweep variants."""
    plain = [
        e for e in entries if not parse_label(e.method)[1] and noise_point(split_setting(e.benchmark, e.config)[2])
    ]
    by_mode: dict[str, list[Entry]] = defaultdict(list)
    for entry in plain:
        by_mode[noise_point(split_setting(entry.benchmark, entry.config)[2])[0]].append(entry)
    tables = []
    for mode in (m for m in _MODE_TITLES if m in by_mode):
        group = by_mode[mode]
        columns = sorted({_column(e) for e in group})
        locks = defaultdict(set)
        for _, benchmark, _, lock in columns:
            locks[benchmark].add(lock)
        names = [
            (f"{b} nc{level}" if level >= 0 else b) + (f" (lock {lock[:8]})" if len(locks[b]) > 1 else "")
            for _, b, level, lock in columns
        ]
        cells: dict[tuple[float, str], list[Entry | None]] = {}
        for entry in group:
            rate = noise_point(split_setting(entry.benchmark, entry.config)[2])[1]
            row = cells.setdefault((rate, entry.method), [None] * len(columns))
            row[columns.index(_column(entry))] = entry
        rows = [
            (rate, method, cells[rate, method])
            for rate, method in sorted(cells, key=lambda k: (k[0], _method_rank(k[1])))
        ]
        tables.append(StudyTable(f"{_MODE_TITLES[mode]}: {title}", names, rows))
    return tables


def variant_tables(entries: list[Entry]) -> list[VariantTable]:
    """Table III style tables of the sweep variants other than a γ sweep, one per method, setting and varied keys."""
    groups: dict[tuple, list[tuple[str, Entry]]] = defaultdict(list)
    for entry in entries:
        method, values = parse_label(entry.method)
        if values and set(values) != {"gamma"}:
            key = (entry.benchmark, entry.lock_sha256, entry.config, entry.track, method, tuple(values))
            groups[key].append((", ".join(values.values()), entry))
    tables = []
    for (benchmark, _, config, track, method, keys), rows in groups.items():
        rows.sort(key=lambda r: (VALUE_ORDER.index(r[0]) if r[0] in VALUE_ORDER else len(VALUE_ORDER), r[0]))
        tables.append(VariantTable(f"{method}: {', '.join(keys)} on {benchmark} {config} ({track} track)", rows))
    return tables


def _slug(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", "-".join(p for p in parts if p)).strip("-").lower()


def gamma_figures(entries: list[Entry]) -> list[Figure]:
    """Fig. 6 style: C@1 against a constant γ, a panel per benchmark level and a line per label-noise config."""
    series: dict[tuple, dict[tuple[str, str], list]] = defaultdict(lambda: defaultdict(list))
    for entry in entries:
        method, values = parse_label(entry.method)
        if set(values) == {"gamma"}:
            benchmark, level, noise = split_setting(entry.benchmark, entry.config)
            panel = f"{benchmark} {level}".strip()
            point = (float(values["gamma"]), entry.mean[GAMMA_METRIC], entry.std[GAMMA_METRIC])
            series[(method, entry.track)][(panel, noise or "")].append(point)
    figures = []
    for (method, track), lines in series.items():
        drawn = [Series(noise, panel, False, sorted(points)) for (panel, noise), points in sorted(lines.items())]
        title = f"{method}: {GAMMA_METRIC} against a constant γ ({track} track)"
        figures.append(
            Figure(title, f"{_slug('gamma', method, track or '')}.png", gamma_curve_png(title, drawn, GAMMA_METRIC))
        )
    return figures


def noise_figures(entries: list[Entry]) -> list[Figure]:
    """V@1 against the label-noise rate, a figure per benchmark build and noisy-correspondence level."""
    groups: dict[tuple[str, str, str], list[Entry]] = defaultdict(list)
    for entry in entries:
        if not parse_label(entry.method)[1] and not entry.reference:
            benchmark, level, noise = split_setting(entry.benchmark, entry.config)
            groups[(benchmark, level, entry.lock_sha256 or "")].append(replace(entry, config=noise))
    figures = []
    for (benchmark, level, lock), group in sorted(groups.items()):
        series = noise_series(group)
        if series:
            title = f"{benchmark} {level}".strip()
            png = accuracy_vs_noise_png(title, series, PLOT_METRIC)
            figures.append(
                Figure(
                    f"{PLOT_METRIC} against label noise on {title}",
                    f"{_slug('noise', benchmark, level, lock[:8])}.png",
                    png,
                )
            )
    return figures


def _omega_run(entry: Entry) -> Path | None:
    """The first of an entry's run folders that still holds ω scores (run folders are not always kept)."""
    from avnoisebench.harness.run import SCORES

    return next((Path(run) for run in entry.runs if (Path(run) / SCORES / f"{OMEGA}.npz").is_file()), None)


def omega_figures(entries: list[Entry]) -> list[Figure]:
    """Fig. 8 style ω histograms (matched vs mismatched pairs) at the highest noisy-correspondence level, one per
    entry, from the first of its runs whose folder kept ω scores."""
    from avnoisebench.evaluation.plot import score_histogram_png
    from avnoisebench.harness.run import read_sample_scores

    found = [
        (split_setting(e.benchmark, e.config), e, run)
        for e in entries
        if not parse_label(e.method)[1] and (run := _omega_run(e)) is not None
    ]
    if not found:
        return []
    top = max(int(level[2:]) if level else -1 for (_, level, _), _, _ in found)
    figures = []
    for (benchmark, level, noise), entry, run in sorted(found, key=lambda f: (f[0][0], f[0][2] or "", f[1].method)):
        if (int(level[2:]) if level else -1) == top:
            title = f"{entry.method}: ω on {benchmark} {level} {noise} (training pairs, {run.name})"
            figures.append(
                Figure(
                    title,
                    f"{_slug('omega', entry.method, benchmark, level, noise or '')}.png",
                    score_histogram_png(read_sample_scores(run, OMEGA)),
                )
            )
    return figures


def build_study(tables: list[BenchmarkTable]) -> Study:
    """The study of a leaderboard: measured tables per track, variants, figures; the paper's rows in tables apart."""
    entries = [e for table in tables for e in table.entries]
    measured = [e for e in entries if not e.reference]
    tracks = sorted({e.track or "" for e in measured})
    return Study(
        measured=[
            t
            for track in tracks
            for t in study_tables([e for e in measured if (e.track or "") == track], f"measured, {track or 'no'} track")
        ],
        variants=variant_tables(measured),
        figures=noise_figures(measured) + gamma_figures(measured) + omega_figures(measured),
        paper=study_tables([e for e in entries if e.reference], f"{PAPER} (published, not measured here)"),
    )


def _cell(entry: Entry | None) -> str:
    return " / ".join(format_cell(entry, m) for m in METRICS) if entry else ""


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _md_study(table: StudyTable) -> str:
    head = _md_row(["noise", "method", *(f"{c} ({' / '.join(METRICS)})" for c in table.columns)])
    rule = "|---|---|" + "---:|" * len(table.columns)
    rows = [_md_row([f"{rate:g}%", method, *map(_cell, cells)]) for rate, method, cells in table.rows]
    return "\n".join([f"### {table.title}", "", head, rule, *rows])


def _md_variant(table: VariantTable) -> str:
    rows = [_md_row([value, *(format_cell(e, m) for m in METRICS)]) for value, e in table.rows]
    return "\n".join([f"### {table.title}", "", _md_row(["variant", *METRICS]), "|---|---:|---:|---:|", *rows])


def to_study_markdown(study: Study, tables: list[BenchmarkTable], image_dir: str, notes: str = "") -> str:
    """The report as Markdown, with the author's `notes` (Markdown) after the introduction; figures are referenced
    as `image_dir/NAME.png` (written by `save_study`)."""
    parts = ["# Results", describe(tables), *([notes.strip()] if notes.strip() else [])]
    if study.measured:
        parts += ["## Label and correspondence noise (Tables I and II layout)", *map(_md_study, study.measured)]
    if study.variants:
        parts += ["## Variants (Table III layout)", *map(_md_variant, study.variants)]
    if study.figures:
        parts += ["## Figures", *(f"### {f.title}\n\n![{f.title}]({image_dir}/{f.name})" for f in study.figures)]
    if study.paper:
        parts += ["## The paper's numbers (UCF101-AV, mini-Kinetics), kept apart", *map(_md_study, study.paper)]
    if not (study.measured or study.variants or study.figures):
        parts.insert(2, "No measured results yet: run the sweeps in `sweeps/` and `avnb report` their results log.")
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
    rows = []
    for rate, method, cells in table.rows:
        values = "".join(
            f'<td class="num">{html.escape(format_cell(e, m)) if e else ""}</td>' for e in cells for m in METRICS
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
