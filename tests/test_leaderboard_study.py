"""The paper's layout: Tables I/II with nc column groups, Table III variants, γ curve, ω histograms, `avnb report`."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from test_leaderboard import result
from typer.testing import CliRunner

from avnoisebench.cli.main import app
from avnoisebench.evaluation.mechanisms import run_diagnostics
from avnoisebench.evaluation.results import append_result
from avnoisebench.harness.runlog import RunLog
from avnoisebench.harness.truth import HiddenTruth
from avnoisebench.report.entries import build_leaderboard
from avnoisebench.report.leaderboard import to_html
from avnoisebench.report.plot import score_histogram_png
from avnoisebench.report.study import build_study, to_study_markdown
from avnoisebench.runs.folder import RunFolder

AVMNIST = {"benchmark": "av-mnist", "benchmark_lock_sha256": "c" * 64}


def records(run: Path | None = None) -> list:
    rows = []
    for seed in (0, 1):
        for nc in ("nc0", "nc40"):
            for noise, base in (("sym20", 80.0), ("sym60", 50.0), ("asym40", 60.0)):
                for method, bonus in (("ntl", 5.0), ("late-fusion", 0.0)):
                    v1 = base + bonus - (10.0 if nc == "nc40" else 0.0) + seed
                    rows.append(result(method, f"{nc}-{noise}", seed, v1 - 2, 99.0, v1, **AVMNIST))
        for value, v1 in (("none", 40.0), ("ins", 45.0), ("cat", 42.0), ("full", 47.0)):
            variant = {"ablation": value}
            rows.append(result("ntl", "nc40-sym60", seed, v1, 90.0, v1, variant=variant, **AVMNIST))
    for noise in ("sym20", "sym60"):
        for gamma in (0.0, 0.5, 1.0):
            variant = {"gamma": gamma}
            rows.append(result("ntl", f"nc40-{noise}", 0, 50 + 10 * gamma, 90.0, 50.0, variant=variant, **AVMNIST))
    if run is not None:
        rows.append(result("ntl", "nc40-sym80", 0, 30.0, 60.0, 31.0, run=str(run), **AVMNIST))
    return rows


def test_omega_comes_from_the_first_run_folder_that_kept_it(tmp_path: Path) -> None:
    run = tmp_path / "seed1"
    run.mkdir()
    RunLog(run).sample_scores(7, "omega", torch.linspace(0, 1, 50))
    rows = [
        result("ntl", "nc40-sym60", 0, 30.0, 60.0, 31.0, run=str(tmp_path / "removed"), **AVMNIST),
        result("ntl", "nc40-sym60", 1, 32.0, 60.0, 33.0, run=str(run), **AVMNIST),
    ]
    [figure] = [f for f in build_study(build_leaderboard(rows)).figures if f.name.startswith("omega")]
    assert figure.title == "ntl: ω of the training pairs on av-mnist nc40 sym60, epoch 7"  # method and config
    scores = RunFolder(run).scores("omega")
    assert figure.png == score_histogram_png(scores, title="ntl on av-mnist nc40 sym60: ω at epoch 7")
    assert figure.png != score_histogram_png(scores)  # the plot itself is titled by method and config too


def test_tables_one_two_and_three(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    RunLog(run).sample_scores(7, "omega", torch.linspace(0, 1, 50))
    tables = build_leaderboard(records(run))
    study = build_study(tables)
    [sym, asym] = study.measured
    assert sym.columns == asym.columns == ["av-mnist nc0", "av-mnist nc40"]
    assert [(rate, method) for rate, method, _ in sym.rows] == [
        (20.0, "late-fusion"),
        (20.0, "ntl"),
        (60.0, "late-fusion"),
        (60.0, "ntl"),
        (80.0, "ntl"),
    ]
    text = to_study_markdown(study, tables, "results")
    assert "| noise | method | av-mnist nc0 (C@1 / C@5 / V@1) | av-mnist nc40 (C@1 / C@5 / V@1) |" in text
    assert (  # the best measured entry of a column group and rate in bold (ties too: C@5 is 99 for both)
        "| 20% | ntl | **83.50 ± 0.71** / **99.00 ± 0.00** / **85.50 ± 0.71** | **73.50 ± 0.71** / **99.00 ± 0.00** / "
        "**75.50 ± 0.71** |" in text
    )
    assert "| 20% | late-fusion | 78.50 ± 0.71 / **99.00 ± 0.00** / 80.50 ± 0.71 |" in text
    assert "| 80% | ntl |  | 30.00 ± — / 60.00 ± — / 31.00 ± — |" in text  # alone at its rate: not marked
    reading = text.split("## How to read the numbers")[1].split("## Label and correspondence noise")[0]
    assert "- av-mnist (lock cccccccccccc): K = 10 classes: chance is 10.00 for C@1 and V@1, 50.00 for C@5." in reading
    assert "- **V@1**: top-1 accuracy (%) of each test video's mean softmax over its views." in reading
    assert "| av-mnist (lock cccccccccccc) |  | scratch |  |  |  | cached | 23 |" in reading  # the protocol
    [ablation] = study.variants
    assert ablation.title == "ntl: ablation on av-mnist nc40-sym60 (cached track)"
    assert [value for value, _ in ablation.rows] == ["none", "ins", "cat", "full"]
    assert "| full | 47.00 ± 0.00 | 90.00 ± 0.00 | 47.00 ± 0.00 |" in text
    names = [f.name for f in study.figures]
    assert names == [
        "noise-av-mnist-nc0-cccccccc.png",
        "noise-av-mnist-nc40-cccccccc.png",
        "gamma-ntl-cached.png",
        "omega-ntl-av-mnist-nc40-sym80.png",
    ]
    assert all(f.png.startswith(b"\x89PNG") for f in study.figures) and "](results/gamma-ntl-cached.png)" in text
    paper = text.split("## The paper's numbers")[1]
    assert "| ucf101-av (C@1 / C@5 / V@1) | mini-kinetics nc10 (C@1 / C@5 / V@1) |" in paper
    methods = [line.split(" | ")[1] for line in paper.splitlines() if line.startswith("| 20% |")][:6]
    assert methods == [f"{m} (paper)" for m in ("G-Blend", "MRL", "XDC*", "AV-R", "AdaMML", "Ours")]


def test_html_shows_the_study_and_keeps_the_paper_apart() -> None:
    page = to_html(build_leaderboard(records()))
    sections = re.findall(r"<h2>(.+?)</h2>", page)
    assert sections == [
        "How to read the numbers",
        "Protocol of the runs shown",
        "Label and correspondence noise (Tables I and II layout)",
        "Variants (Table III layout)",
        "Figures",
        "The paper's numbers (UCF101-AV, mini-Kinetics), kept apart",
        "Every row, by benchmark build",
    ]
    assert '<th colspan="3">av-mnist nc40</th>' in page and "<td>ntl[ablation=cat]</td>" in page
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 3 + 5  # 2 noise + γ; the paper's 5 benchmarks


def test_cli_report(tmp_path: Path) -> None:
    log = tmp_path / "results.jsonl"
    for record in records():
        append_result(log, record)
    done = CliRunner().invoke(app, ["report", str(log), "--out", str(tmp_path / "docs" / "results.md")])
    assert done.exit_code == 0 and "and 3 figure(s)" in done.stdout
    assert sorted(p.name for p in (tmp_path / "docs" / "results").iterdir())[0] == "gamma-ntl-cached.png"
    assert (
        "![ntl: C@1 against a constant γ (cached track)](results/gamma-ntl-cached.png)"
        in (tmp_path / "docs" / "results.md").read_text()
    )
    done = CliRunner().invoke(app, ["report", str(log), "--out", str(tmp_path / "results.html")])
    assert done.exit_code == 2 and "must be a .md file" in done.stderr
    notes = tmp_path / "reading.md"
    notes.write_text("## Reading\n\nntl leads at nc40.\n")
    done = CliRunner().invoke(app, ["report", str(log), "--notes", str(notes), "--out", str(tmp_path / "r.md")])
    text = (tmp_path / "r.md").read_text()
    assert done.exit_code == 0 and text.index("ntl leads at nc40.") < text.index("## Label and correspondence noise")
    done = CliRunner().invoke(app, ["report", str(log), "--notes", str(tmp_path / "none.md"), "--out", str(notes)])
    assert done.exit_code == 2 and "none.md" in done.stderr and "does not exist" in done.stderr


def test_the_mechanisms_diagnostics_come_from_the_records_evaluation_gave_them(tmp_path: Path) -> None:
    clean = np.arange(20) % 4
    observed = np.where(np.arange(20) < 10, (clean + 1) % 4, clean)  # half of the labels wrong
    truth = HiddenTruth(observed, clean, np.arange(20) % 5 == 0, np.ones(20, dtype=bool))
    rows = []
    for seed, wrong in ((0, 4), (1, 2)):
        run = tmp_path / f"ntl{seed}"
        log = RunLog(run, truth=truth)
        log.corrected_labels(3, torch.from_numpy(np.where(np.arange(20) < wrong, observed, clean)))
        log.sample_scores(3, "omega", torch.from_numpy((np.arange(20) % 5 != 0).astype(np.float32)))
        diagnostics = run_diagnostics(RunFolder(run))
        rows.append(result("ntl", "nc20-sym40", seed, 50.0, 90.0, 50.0, diagnostics=diagnostics, **AVMNIST))
    adamml = tmp_path / "adamml"
    RunLog(adamml).event("predict", test_clips=8, usage_video=0.25, usage_audio=1.0, all_off=0.0)
    diagnostics = run_diagnostics(RunFolder(adamml))
    rows.append(result("adamml", "nc20-sym40", 0, 40.0, 90.0, 40.0, diagnostics=diagnostics, **AVMNIST))
    rows.append(result("late-fusion", "nc20-sym40", 0, 45.0, 90.0, 45.0, run=str(tmp_path / "gone"), **AVMNIST))
    rows.append(result("ntl", "nc20-sym40", 2, 50.0, 90.0, 50.0, run=str(tmp_path / "ntl0"), **AVMNIST))  # none kept
    study = build_study(build_leaderboard(rows))
    assert {d.entry.label for d in study.diagnostics} == {"ntl", "adamml"}
    (ntl,) = [d for d in study.diagnostics if d.entry.label == "ntl"]
    assert ntl.values["observed"] == (50.0, 0.0, 2) and ntl.values["omega_auc"] == (1.0, 0.0, 2)
    assert ntl.values["corrected"] == (85.0, pytest.approx(np.std([80.0, 90.0], ddof=1)), 2)
    text = to_study_markdown(study, build_leaderboard(rows), "results")
    assert "| config | observed labels correct (%) | adamml: test clips using video (%) |" in text
    assert "| nc20-sym40 | 50.0 ± 0.0 | 25.0 | 100.0 | 0.0 | 85.0 ± 7.1 | 1.000 ± 0.000 |" in text


def test_the_tables_of_pretrained_runs_come_first() -> None:
    pretrained = {"track": "features", "model": "small", "init_source": "simclr", "init_sha256": "7" * 64}
    rows = [
        result("ntl", "nc0-sym20", 0, 20.0, 50.0, 20.0, model="tiny", **AVMNIST),  # scratch, cached track
        result("ntl", "nc0-sym20", 0, 90.0, 99.0, 90.0, **pretrained, **AVMNIST),
        result("ntl", "nc0-sym20", 0, 30.0, 60.0, 30.0, track="raw", model="tiny", **AVMNIST),
    ]
    titles = [t.title for t in build_study(build_leaderboard(rows)).measured]
    assert titles == [f"symmetric label noise: measured, {track} track" for track in ("features", "cached", "raw")]
