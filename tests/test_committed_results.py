"""The committed AV-MNIST-NC results: each log covers its three sweep files, its records say how they were trained,
and the logs render as the committed leaderboard."""

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from avnoisebench.evaluation.results import read_results
from avnoisebench.report.entries import build_leaderboard
from avnoisebench.report.leaderboard import to_html
from avnoisebench.sweep import grid_points, load_sweep

REPO = Path(__file__).resolve().parents[1]
SCRATCH = (REPO / "results" / "avmnist-scratch-6ep.jsonl", REPO / "sweeps" / "scratch-6ep")
REGIMES = [SCRATCH]
SWEEP_METHODS = ("late-fusion", "gblend", "xdc", "mrl", "avr", "adamml", "ntl")
PAPER_SECTION = "<h2>The paper's numbers (UCF101-AV, mini-Kinetics), kept apart</h2>"


def tables(page: str) -> list[str]:
    """The HTML tables of a page, in order (its figures need the run folders, which are not committed)."""
    return re.findall(r"<table>.*?</table>", page, flags=re.DOTALL)


@pytest.mark.parametrize(("log", "sweeps"), REGIMES, ids=lambda value: value.name)
def test_each_committed_log_covers_every_cell_of_its_sweeps(log: Path, sweeps: Path) -> None:
    records = read_results(log)
    assert {r.benchmark for r in records} == {"av-mnist"}
    assert len({r.benchmark_lock_sha256 for r in records}) == 1  # one build of the benchmark
    assert len({(r.model, r.init_sha256, r.epochs, r.lr, r.track) for r in records}) == 1  # one regime per log
    stored = [json.loads(line)["run"] for line in log.read_text().splitlines()]
    assert all(run and not Path(run).is_absolute() for run in stored)  # paths relative to the log
    have = Counter((r.config, r.label, r.seed) for r in records)
    assert max(have.values()) == 1  # each cell once: a rerun appends, it does not duplicate here
    planned = [
        (p.config, p.label, p.seed)
        for sweep in sorted(sweeps.glob("*-avmnist.toml"))
        for p in grid_points(load_sweep(sweep))
    ]
    assert len(planned) == 378 + 12 + 24
    missing = sorted(set(planned) - set(have))
    assert not missing, f"{len(missing)} cells have no record, e.g. {missing[:3]}; run the sweeps in {sweeps}"


def test_the_committed_results_logs_render_as_the_committed_leaderboard() -> None:
    records = [r for log, _ in REGIMES for r in read_results(log)]
    page = to_html(build_leaderboard(records, only_logged=False))
    measured, paper = page.split(PAPER_SECTION)
    assert "(paper)</td>" not in measured and "<td>Ours (paper)</td>" in paper
    for method in SWEEP_METHODS:
        assert f"<td>{method}</td>" in measured
    scratch = read_results(SCRATCH[0])
    seeds = [r.metrics["V@1"] for r in scratch if (r.label, r.config) == ("late-fusion", "nc40-sym60")]
    assert len(seeds) == 3 and f"{sum(seeds) / len(seeds):.2f}" in measured  # a mean over seeds, as shown
    committed = (REPO / "docs" / "leaderboard.html").read_text(encoding="utf-8")
    logs = " ".join(str(log.relative_to(REPO)) for log, _ in REGIMES)
    fix = f"rerun: avnb leaderboard {logs} --all-reference --format html --out docs/leaderboard.html"
    assert tables(committed) == tables(page), fix
