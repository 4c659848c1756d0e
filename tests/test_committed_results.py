"""The committed AV-MNIST-NC results: they cover the three sweep files and render as the committed leaderboard."""

import re
from collections import Counter
from pathlib import Path

from avnoisebench.evaluation.leaderboard import build_leaderboard, to_html
from avnoisebench.evaluation.results import read_results
from avnoisebench.sweep import grid_points, load_sweep

REPO = Path(__file__).resolve().parents[1]
LOG = REPO / "results" / "avmnist.jsonl"
SWEEPS = [REPO / "sweeps" / f"{name}-avmnist.toml" for name in ("paper", "ablation", "gamma")]
SWEEP_METHODS = ("late-fusion", "gblend", "xdc", "mrl", "avr", "adamml", "ntl")
PAPER_SECTION = "<h2>The paper's numbers (UCF101-AV, mini-Kinetics), kept apart</h2>"


def tables(page: str) -> list[str]:
    """The HTML tables of a page, in order (its figures need the run folders, which are not committed)."""
    return re.findall(r"<table>.*?</table>", page, flags=re.DOTALL)


def test_the_committed_log_covers_every_cell_of_the_avmnist_sweeps() -> None:
    records = read_results(LOG)
    assert {(r.benchmark, r.track) for r in records} == {("av-mnist", "cached")}
    assert len({r.benchmark_lock_sha256 for r in records}) == 1  # one build of the benchmark
    have = Counter((r.config, r.method, r.seed) for r in records)
    assert max(have.values()) == 1  # each cell once: a rerun appends, it does not duplicate here
    planned = [(p.config, p.label, p.seed) for sweep in SWEEPS for p in grid_points(load_sweep(sweep))]
    assert len(planned) == 378 + 12 + 24
    missing = sorted(set(planned) - set(have))
    assert not missing, f"{len(missing)} cells have no record, e.g. {missing[:3]}; run the sweeps in sweeps/"


def test_the_committed_results_log_renders_as_the_committed_leaderboard() -> None:
    records = read_results(LOG)
    page = to_html(build_leaderboard(records))
    measured, paper = page.split(PAPER_SECTION)
    assert "(paper)</td>" not in measured and "<td>Ours (paper)</td>" in paper
    for method in SWEEP_METHODS:
        assert f"<td>{method}</td>" in measured
    seeds = [r.metrics["V@1"] for r in records if (r.method, r.config) == ("late-fusion", "nc40-sym60")]
    assert len(seeds) == 3 and f"{sum(seeds) / len(seeds):.2f}" in measured  # a mean over seeds, as shown
    committed = (REPO / "docs" / "leaderboard.html").read_text(encoding="utf-8")
    fix = "rerun: avnb leaderboard results/avmnist.jsonl --format html --out docs/leaderboard.html"
    assert tables(committed) == tables(page), fix
