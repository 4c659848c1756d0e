"""The committed AV-MNIST-NC results: each log covers its three sweep files, its records say how they were trained,
and the logs render as the committed leaderboard."""

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from avnoisebench.evaluation.results import read_results
from avnoisebench.report.entries import build_leaderboard
from avnoisebench.report.leaderboard import to_html
from avnoisebench.sweep import grid_points, load_sweep

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Regime:
    """A committed log, the folder of the sweep files it covers, their cell count, and whether it starts from
    pretrained weights (whose digest every record then carries)."""

    log: Path
    sweeps: Path
    cells: int
    pretrained: bool


SCRATCH = Regime(REPO / "results" / "avmnist-scratch-6ep.jsonl", REPO / "sweeps" / "scratch-6ep", 378 + 12 + 24, False)
PAPER = Regime(REPO / "results" / "avmnist.jsonl", REPO / "sweeps", 381 + 15 + 72, True)
REGIMES = [PAPER, SCRATCH]
SWEEP_METHODS = ("late-fusion", "gblend", "xdc", "mrl", "avr", "adamml", "ntl")
PAPER_SECTION = "<h2>The paper's numbers (UCF101-AV, mini-Kinetics), kept apart</h2>"


def tables(page: str) -> list[str]:
    """The HTML tables of a page, in order (its figures need the run folders, which are not committed)."""
    return re.findall(r"<table>.*?</table>", page, flags=re.DOTALL)


@pytest.mark.parametrize("regime", REGIMES, ids=lambda regime: regime.log.name)
def test_each_committed_log_covers_every_cell_of_its_sweeps(regime: Regime) -> None:
    records = read_results(regime.log)
    assert {r.benchmark for r in records} == {"av-mnist"}
    assert len({r.benchmark_lock_sha256 for r in records}) == 1  # one build of the benchmark
    assert len({(r.model, r.init_sha256, r.epochs, r.track) for r in records}) == 1  # one regime per log
    assert all(len({r.lr for r in records if r.method == m}) == 1 for m in {r.method for r in records})
    if regime.pretrained:
        assert all(r.init_source and r.init_sha256 and len(r.init_sha256) == 64 for r in records)
    stored = [json.loads(line)["run"] for line in regime.log.read_text().splitlines()]
    assert all(run and not Path(run).is_absolute() for run in stored)  # paths relative to the log
    have = Counter((r.config, r.label, r.seed) for r in records)
    assert max(have.values()) == 1  # each cell once: a rerun appends, it does not duplicate here
    planned = {
        sweep.name: [(p.config, p.label, p.seed) for p in grid_points(load_sweep(sweep))]
        for sweep in sorted(regime.sweeps.glob("*-avmnist.toml"))
    }
    assert sum(map(len, planned.values())) == regime.cells
    strays = set(have) - {cell for cells in planned.values() for cell in cells}
    assert not strays, f"{len(strays)} records are no cell of {regime.sweeps}'s sweep files, e.g. {sorted(strays)[:3]}"
    for name, cells in planned.items():
        missing = sorted(set(cells) - set(have))
        assert not missing, f"{len(missing)} cells of {name} have no record, e.g. {missing[:3]}; run that sweep"


def test_the_committed_results_logs_render_as_the_committed_leaderboard() -> None:
    records = [r for regime in REGIMES for r in read_results(regime.log)]
    page = to_html(build_leaderboard(records, only_logged=False))
    measured, paper = page.split(PAPER_SECTION)
    assert "(paper)</td>" not in measured and "<td>Ours (paper)</td>" in paper
    for method in SWEEP_METHODS:
        assert f"<td>{method}</td>" in measured
    scratch = read_results(SCRATCH.log)
    seeds = [r.metrics["V@1"] for r in scratch if (r.label, r.config) == ("late-fusion", "nc40-sym60")]
    assert len(seeds) == 3 and f"{sum(seeds) / len(seeds):.2f}" in measured  # a mean over seeds, as shown
    committed = (REPO / "docs" / "leaderboard.html").read_text(encoding="utf-8")
    logs = " ".join(str(regime.log.relative_to(REPO)) for regime in REGIMES)
    fix = f"rerun: avnb leaderboard {logs} --all-reference --format html --out docs/leaderboard.html"
    assert tables(committed) == tables(page), fix
