"""`avnb demo` end to end with a smaller plan: builds offline, trains both methods, evaluates, ranks."""

from pathlib import Path

import pytest
from harnesskit import Notes
from typer.testing import CliRunner

from avnoisebench.cli.main import app
from avnoisebench.demo import DemoPlan, robust_method, run_demo
from avnoisebench.errors import AvnbError
from avnoisebench.evaluation.results import read_results


def test_demo_trains_and_ranks_both_methods(tmp_path: Path) -> None:
    plan = DemoPlan(classes=3, train_per_class=8, test_per_class=2, epochs=3, batch_size=8)
    notes = Notes()
    results = run_demo(tmp_path / "demo", plan, progress=notes)
    records = read_results(results)
    assert [r.method for r in records] == ["late-fusion", robust_method()] and robust_method() == "ntl"
    assert all(r.config == "nc30-sym60" and r.benchmark == "synthetic-av" for r in records)
    assert all(0 <= r.metrics["V@1"] <= 100 for r in records)
    assert any("training ntl" in line for line in notes.notes)
    png = tmp_path / "omega.png"
    shown = CliRunner().invoke(app, ["scores", str(tmp_path / "demo" / "runs" / "ntl"), "--out", str(png)])
    assert shown.exit_code == 0, shown.output
    assert "ROC-AUC matched vs mismatched pairs" in shown.output and png.read_bytes()[:4] == b"\x89PNG"
    missing = CliRunner().invoke(app, ["scores", str(tmp_path / "demo" / "runs" / "late-fusion")])
    assert missing.exit_code == 2 and "has no per-sample scores named 'omega' (it kept: none)" in missing.output
    with pytest.raises(AvnbError, match="not empty"):
        run_demo(tmp_path / "demo", plan)


def test_demo_command_refuses_a_used_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "not empty" in result.output
    assert (tmp_path / "keep.txt").read_text() == "mine"
