"""The leaderboard: mean ± std over seeds, Markdown/CSV/HTML, the paper's reference rows, `avnb leaderboard`."""

import base64
import csv
import io
import re
from collections import defaultdict
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avnoisebench.cli.main import app
from avnoisebench.evaluation.results import ResultRecord, append_result
from avnoisebench.report.entries import aggregate, best_metrics, build_leaderboard
from avnoisebench.report.leaderboard import output_format, render, to_csv, to_html, to_markdown
from avnoisebench.report.plot import Series
from avnoisebench.report.reading import chance_text
from avnoisebench.report.reference import PAPER_RESULTS, paper_results
from avnoisebench.report.study import noise_series

PAPER_TEXT = Path(__file__).resolve().parents[1].parent / "shared" / "paper" / "000_b549174e87617e29.txt"
LOCK_A, LOCK_B = "a" * 64, "b" * 64
PAPER_BENCHMARKS = ["ucf101-av", "mini-kinetics-nc10", "mini-kinetics-nc20", "mini-kinetics-nc30", "mini-kinetics-nc40"]
PAPER_CONFIGS = ["sym20", "sym40", "sym60", "sym80", "asym20", "asym40"]
PAPER_METHODS = ["G-Blend", "MRL", "XDC*", "AV-R", "AdaMML", "Ours"]


def noise_fields(config: str | None) -> dict[str, object]:
    """The structured label-noise and correspondence fields an evaluation records for a config name."""
    match = re.fullmatch(r"(?:nc(\d+)-)?(clean|sym|asym)(\d*)", config or "")
    if match is None:
        return {}
    level, mode, rate = match.groups()
    fields: dict[str, object] = {"label_noise_mode": mode, "label_noise_rate": int(rate or 0) / 100}
    if level is not None:
        fields |= {"correspondence": float(level), "correspondence_kind": "synthetic"}
    return fields


def result(method: str, config: str, seed: int, c1: float, c5: float, v1: float, **changes: object) -> ResultRecord:
    fields = {
        **noise_fields(config),
        "benchmark": "ucf101-av",
        "benchmark_lock_sha256": LOCK_A,
        "config": config,
        "method": method,
        "seed": seed,
        "metrics": {"C@1": c1, "C@5": c5, "V@1": v1},
        "run": None,
        "predictions": f"/runs/{method}-{config}-{seed}/predictions.parquet",
        "date": "2026-01-01T00:00:00+00:00",
        "code_version": "0.1.0",
        "track": "cached",
    }
    return ResultRecord(**{**fields, **changes})


HANDMADE = [
    result("late-fusion", "sym20", 0, 1.0, 2.0, 10.0),  # replaced by the later evaluation of seed 0
    result("late-fusion", "sym20", 0, 60.0, 80.0, 70.0),
    result("late-fusion", "sym20", 1, 61.0, 80.0, 72.0),
    result("late-fusion", "sym20", 2, 62.0, 80.0, 74.0),
    result("late-fusion", "sym40", 0, 50.0, 75.0, 55.0),
    result("late-fusion", "asym20", 0, 52.0, 76.0, 58.0),
    result("mine", "sym20", 0, 70.0, 90.0, 80.0, track="raw"),
    result("mine", "sym20", 1, 72.0, 92.0, 82.0, track="raw"),
    result("late-fusion", "clean", 0, 40.0, 70.0, 45.0, benchmark="evalbench", benchmark_lock_sha256=LOCK_B),
]


def test_mean_and_sample_std_over_seeds() -> None:
    entries = {(e.benchmark, e.config, e.method): e for e in aggregate(HANDMADE)}
    three = entries["ucf101-av", "sym20", "late-fusion"]
    assert three.seeds == 3 and three.mean == {"C@1": 61.0, "C@5": 80.0, "V@1": 72.0}
    assert three.std == pytest.approx({"C@1": 1.0, "C@5": 0.0, "V@1": 2.0})
    assert entries["ucf101-av", "sym20", "mine"].std["V@1"] == pytest.approx(2**0.5)
    single = entries["ucf101-av", "sym40", "late-fusion"]
    assert single.seeds == 1 and single.std == {"C@1": None, "C@5": None, "V@1": None}


def test_markdown_tables() -> None:
    text = to_markdown(build_leaderboard(HANDMADE))
    headings = re.findall(r"^## (.+)$", text, flags=re.M)  # the logged builds first, then the paper's others
    assert headings == ["ucf101-av (lock aaaaaaaaaaaa)", "evalbench (lock bbbbbbbbbbbb)", *PAPER_BENCHMARKS[1:]]
    assert "| config | method | setup | track | seeds | C@1 | C@5 | V@1 |" in text
    ucf = text.split("## ")[1]
    rows = [line for line in ucf.splitlines() if line.startswith("| sym20 |")]
    assert rows[:3] == [  # the best measured entry of each column in bold, never a paper row
        "| sym20 | mine |  | raw | 2 | **71.00 ± 1.41** | **91.00 ± 1.41** | **81.00 ± 1.41** |",
        "| sym20 | late-fusion |  | cached | 3 | 61.00 ± 1.00 | 80.00 ± 0.00 | 72.00 ± 2.00 |",
        "| sym20 | G-Blend (paper) |  |  |  | 76.90 | 91.46 | 81.52 |",
    ]
    assert [r.split(" | ")[1] for r in rows[2:]] == [f"{m} (paper)" for m in PAPER_METHODS]
    assert "| sym40 | late-fusion |  | cached | 1 | 50.00 ± — | 75.00 ± — | 55.00 ± — |" in ucf
    configs = [line.split(" | ")[0].lstrip("| ") for line in ucf.splitlines()[5:] if line.startswith("| ")]
    assert list(dict.fromkeys(configs)) == PAPER_CONFIGS
    assert "| clean | late-fusion |  | cached | 1 | 40.00 ± — | 70.00 ± — | 45.00 ± — |" in text.split("## ")[2]


def test_only_logged_shows_the_paper_rows_of_the_logged_benchmarks() -> None:
    text = to_markdown(build_leaderboard(HANDMADE, only_logged=True))
    assert re.findall(r"^## (.+)$", text, flags=re.M) == [
        "ucf101-av (lock aaaaaaaaaaaa)",
        "evalbench (lock bbbbbbbbbbbb)",
    ]
    assert text.count("(paper) |") == 36 and "mini-kinetics" not in text  # ucf101-av's 6 configs x 6 methods


def test_best_entry_per_column_among_measured_rows_of_a_config() -> None:
    rows = [
        result("a", "sym20", 0, 50.0, 90.0, 60.0),
        result("b", "sym20", 0, 50.004, 95.0, 59.0),  # C@1 shown as 50.00 as well: a tie, both bold
        result("c", "sym40", 0, 10.0, 20.0, 30.0),  # alone in its config: nothing to compare, not bold
    ]
    [table] = build_leaderboard(rows, reference=False)
    best = dict(zip([e.label for e in table.entries], best_metrics(table.entries), strict=True))
    assert best == {"a": {"C@1", "V@1"}, "b": {"C@1", "C@5"}, "c": set()}
    text = to_markdown([table])
    assert "| sym20 | a |  | cached | 1 | **50.00 ± —** | 90.00 ± — | **60.00 ± —** |" in text
    assert "| sym40 | c |  | cached | 1 | 10.00 ± — | 20.00 ± — | 30.00 ± — |" in text
    page = to_html([table])
    assert page.count('<td class="num best">') == 2 * 4 and "td.best { font-weight: bold; }" in page  # study, row table


def test_two_budgets_are_two_rows_in_every_format() -> None:
    rows = [
        result("late-fusion", "sym20", 0, 50.0, 90.0, 12.2, model="small", epochs=20, lr=1e-3),
        result("late-fusion", "sym20", 0, 55.0, 90.0, 14.0, model="small", epochs=40, lr=1e-3),
    ]
    tables = build_leaderboard(rows, reference=False)
    assert [(e.setup, e.seeds, e.mean["V@1"]) for e in tables[0].entries] == [
        ("small, scratch, 40 ep, lr 0.001", 1, 14.0),
        ("small, scratch, 20 ep, lr 0.001", 1, 12.2),
    ]
    assert "| sym20 | late-fusion | small, scratch, 20 ep, lr 0.001 | cached | 1 | 50.00 ± — |" in to_markdown(tables)
    csv_rows = list(csv.DictReader(io.StringIO(to_csv(tables))))
    assert [(r["setup"], r["V@1"]) for r in csv_rows] == [
        ("small, scratch, 40 ep, lr 0.001", "14.0"),
        ("small, scratch, 20 ep, lr 0.001", "12.2"),
    ]
    page = to_html(tables)
    assert "<td>small, scratch, 20 ep, lr 0.001</td>" in page and "<td>small, scratch, 40 ep, lr 0.001</td>" in page
    named = build_leaderboard([*rows, result("late-fusion", "sym20", 0, 1.0, 2.0, 3.0, name="mine-v2")], False)
    assert [e.label for e in named[0].entries] == ["late-fusion", "late-fusion", "mine-v2"]  # a tag is its own row


@pytest.mark.parametrize(
    ("classes", "text"),
    [
        (4, "K = 4 classes: chance is 25.00 for C@1 and V@1; C@5 is trivial here (100 for any model"),
        (10, "K = 10 classes: chance is 10.00 for C@1 and V@1, 50.00 for C@5"),
        (None, "K, the number of classes, is not known from these records"),
    ],
)
def test_chance_levels(classes: int | None, text: str) -> None:
    assert text in chance_text(classes)


def test_the_page_says_how_to_read_it_and_how_the_runs_were_trained(tmp_path: Path) -> None:
    rows = [
        result("late-fusion", "sym20", 0, 50.0, 90.0, 60.0, model="small", epochs=20, lr=1e-3, batch_size=64),
        result("late-fusion", "sym20", 1, 52.0, 90.0, 62.0, model="small", epochs=20, lr=1e-3, batch_size=64),
    ]
    page = to_html(build_leaderboard(rows, only_logged=True), notes="## Reading\n\n*mine* wins <b>x</b>.\n")
    for name in ("C@1", "C@5", "V@1"):
        assert f"<dt>{name}</dt>" in page
    assert "K = 51 classes: chance is 1.96 for C@1 and V@1, 9.80 for C@5." in page
    assert "<h2>Reading</h2>" in page and "<em>mine</em> wins &lt;b&gt;x&lt;/b&gt;." in page  # Markdown, no raw HTML
    protocol = page.split("<h2>Protocol of the runs shown</h2>")[1].split("</table>")[0]
    cells = ["ucf101-av (lock aaaaaaaaaaaa)", "small", "scratch", "20", "0.001", "64", "cached", "1"]
    assert "".join(f"<td>{c}</td>" for c in cells) in protocol
    assert page.index("How to read") < page.index("<h2>Reading</h2>") < page.index("Protocol of the runs shown")


def test_no_reference_leaves_only_measured_rows() -> None:
    text = to_markdown(build_leaderboard(HANDMADE, reference=False))
    assert "(paper)" not in text and "mini-kinetics" not in text
    assert re.findall(r"^## (.+)$", text, flags=re.M) == [
        "ucf101-av (lock aaaaaaaaaaaa)",
        "evalbench (lock bbbbbbbbbbbb)",
    ]


def test_csv_keeps_references_apart() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(build_leaderboard(HANDMADE)))))
    measured = [r for r in rows if r["reference"] == "false"]
    references = [r for r in rows if r["reference"] == "true"]
    assert len(measured) == 5 and len(references) == 180
    assert all(r["method"].endswith(" (paper)") and r["seeds"] == r["V@1_std"] == "" for r in references)
    [late] = [r for r in measured if (r["config"], r["method"]) == ("sym20", "late-fusion")]
    assert (late["benchmark_lock_sha256"], late["seeds"], late["V@1"], late["V@1_std"]) == (LOCK_A, "3", "72.0", "2.0")
    [single] = [r for r in measured if r["config"] == "sym40"]
    assert single["C@1"] == "50.0" and single["C@1_std"] == ""


def test_html_is_self_contained_with_inline_plots() -> None:
    page = to_html(build_leaderboard(HANDMADE))
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 6  # the study's ucf101-av plot, then ucf101-av and the four mini-Kinetics levels
    assert all(base64.b64decode(image).startswith(b"\x89PNG\r\n\x1a\n") for image in images)
    assert not re.search(r"https?://|<script|<link|@import|url\(", page)
    # 180 rows by benchmark, then the paper's Tables I and II laid out as in the paper: 36 (rate, method) rows
    assert page.count('<tr class="reference">') == 180 + 36 and "<td>G-Blend (paper)</td>" in page
    assert "<td>late-fusion</td><td></td><td>cached</td>" in page


def test_noise_series_put_clean_at_rate_zero_of_both_families() -> None:
    entries = aggregate(
        [*HANDMADE[1:6], result("late-fusion", "clean", 0, 1.0, 2.0, 90.0), result("x", "odd", 0, 1, 2, 3)]
    )
    series = {(s.label, s.family): s for s in noise_series(entries)}
    assert set(series) == {("late-fusion [cached]", "sym"), ("late-fusion [cached]", "asym")}
    assert series["late-fusion [cached]", "sym"] == Series(
        "late-fusion [cached]", "sym", False, [(0.0, 90.0, None), (20.0, 72.0, 2.0), (40.0, 55.0, None)]
    )
    assert series["late-fusion [cached]", "asym"].points == [(0.0, 90.0, None), (20.0, 58.0, None)]


def test_output_format() -> None:
    assert output_format(None, None) == "md" and output_format(None, Path("board.html")) == "html"
    assert output_format(None, Path("board.txt")) == "md" and output_format("csv", Path("board.html")) == "csv"
    assert render(build_leaderboard([]), "md").startswith("# avnoisebench leaderboard")


# --- the paper's numbers -----------------------------------------------------------------------------------------


def test_paper_results_cover_tables_one_and_two() -> None:
    assert resources.files("avnoisebench.annotations").joinpath(PAPER_RESULTS).is_file()
    rows = paper_results()
    cells = {(r.benchmark, r.config, r.method) for r in rows}
    assert len(rows) == len(cells) == 180
    assert cells == {(b, c, m) for b in PAPER_BENCHMARKS for c in PAPER_CONFIGS for m in PAPER_METHODS}
    assert {r.table for r in rows if r.config.startswith("sym")} == {"I"}
    assert {r.table for r in rows if r.config.startswith("asym")} == {"II"}
    by_cell = {(r.benchmark, r.config, r.method): r.metrics for r in rows}
    # read off the paper by hand
    assert by_cell["ucf101-av", "sym20", "Ours"]["V@1"] == 87.69
    assert by_cell["mini-kinetics-nc40", "asym40", "G-Blend"]["C@1"] == 34.85
    assert by_cell["mini-kinetics-nc20", "sym60", "XDC*"]["C@5"] == 78.26
    assert by_cell["mini-kinetics-nc30", "sym80", "MRL"]["V@1"] == 42.90
    assert by_cell["ucf101-av", "asym40", "AdaMML"]["C@5"] == 89.92


def test_paper_results_match_the_paper_text() -> None:
    if not PAPER_TEXT.is_file():
        pytest.skip(f"paper text {PAPER_TEXT} is absent (expected ../shared/paper beside the project)")
    lines = [line.strip() for line in PAPER_TEXT.read_text(encoding="utf-8").splitlines()]
    bounds = {"I": (lines.index("TABLE I"), lines.index("TABLE II")), "II": (lines.index("TABLE II"), len(lines))}
    text = resources.files("avnoisebench.annotations").joinpath(PAPER_RESULTS).read_text(encoding="utf-8")
    printed: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for row in csv.DictReader(io.StringIO(text)):  # the numbers as printed, in the paper's column order
        printed[row["table"], row["config"], row["method"]] += [row["C@1"], row["C@5"], row["V@1"]]
    found = {}
    for (table, config, method), numbers in printed.items():
        start, end = bounds[table]
        hits = [i for i in range(start, end) if lines[i].endswith(f"{method} {' '.join(numbers)}")]
        assert len(hits) == 1, (table, config, method)
        found[table, config, method] = hits[0]
        if method == "AV-R":
            assert lines[hits[0]].startswith(f"{int(config.lstrip('asym')) / 100:.2f} AV-R")
    for table, configs in (("I", PAPER_CONFIGS[:4]), ("II", PAPER_CONFIGS[4:])):
        order = [found[table, config, method] for config in configs for method in PAPER_METHODS]
        assert order == sorted(order)


# --- avnb leaderboard --------------------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "results.jsonl"
    for record in HANDMADE:
        append_result(path, record)
    return path


def test_cli_leaderboard_formats(tmp_path: Path, log: Path) -> None:
    md = runner.invoke(app, ["leaderboard", str(log)])
    assert md.exit_code == 0 and md.stdout == to_markdown(build_leaderboard(HANDMADE, only_logged=True))
    every = runner.invoke(app, ["leaderboard", str(log), "--all-reference"])
    assert every.exit_code == 0 and every.stdout == to_markdown(build_leaderboard(HANDMADE))
    bare = runner.invoke(app, ["leaderboard", str(log), "--format", "csv", "--no-reference"])
    assert bare.exit_code == 0 and bare.stdout.startswith("benchmark,") and "true" not in bare.stdout
    page = runner.invoke(app, ["leaderboard", str(log), "--out", str(tmp_path / "site" / "board.html")])
    assert page.exit_code == 0 and "wrote" in page.stdout
    assert (tmp_path / "site" / "board.html").read_text().startswith("<!doctype html>")
    assert sorted(p.name for p in (tmp_path / "site").iterdir()) == ["board.html"]


def test_cli_leaderboard_notes(tmp_path: Path, log: Path) -> None:
    notes = tmp_path / "reading.md"
    notes.write_text("## Reading\n\nlate-fusion trails.\n")
    done = runner.invoke(app, ["leaderboard", str(log), "--notes", str(notes), "--out", str(tmp_path / "b.html")])
    assert done.exit_code == 0 and "<p>late-fusion trails.</p>" in (tmp_path / "b.html").read_text()
    done = runner.invoke(app, ["leaderboard", str(log), "--notes", str(notes)])
    assert done.exit_code == 0 and "\nlate-fusion trails.\n" in done.stdout
    done = runner.invoke(app, ["leaderboard", str(log), "--notes", str(notes), "--format", "csv"])
    assert done.exit_code == 2 and "--notes goes into a Markdown or HTML leaderboard" in done.stderr


def test_cli_leaderboard_errors(tmp_path: Path, log: Path) -> None:
    done = runner.invoke(app, ["leaderboard", str(log), "--format", "xml"])
    assert done.exit_code == 2 and "leaderboard format 'xml' is unknown; use one of md, csv, html" in done.stderr
    done = runner.invoke(app, ["leaderboard", str(tmp_path / "absent.jsonl")])
    assert done.exit_code == 2 and "results log" in done.stderr and "not found" in done.stderr
    done = runner.invoke(app, ["leaderboard", str(log), "--no-reference", "--all-reference"])
    assert done.exit_code == 2 and "exclude each other" in done.stderr
    (tmp_path / "empty").mkdir()
    done = runner.invoke(app, ["leaderboard", str(tmp_path / "empty")])
    assert done.exit_code == 2 and "holds no results log (*.jsonl)" in done.stderr
