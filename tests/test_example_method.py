"""The worked plug-in example (examples/my-method): pip-installed into a temporary target, found through its entry
point, its typed options listed and checked, trained through the harness and evaluated; like the baselines, it
imports nothing of avnoisebench but avnoisebench.plugin."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from harnesskit import run_settings
from test_architecture import imports
from typer.testing import CliRunner

from avnoisebench.cli.main import app
from avnoisebench.evaluation.scoring import evaluate_run
from avnoisebench.harness.registry import registered_methods
from avnoisebench.harness.training import run_training
from avnoisebench.plugin import AvnbError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "my-method"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/my-method installed (no dependencies, no build isolation: offline) into a temporary folder, from a
    copy so that the build leaves nothing in the source tree."""
    root = tmp_path_factory.mktemp("plugin")
    source = shutil.copytree(EXAMPLE, root / "source")
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target"]
    subprocess.run([*command, str(root / "target"), str(source)], check=True, capture_output=True)
    return root / "target"


@pytest.fixture
def on_path(installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(installed))


def test_the_entry_point_is_registered(on_path: None) -> None:
    assert registered_methods()["my-method"].value == "my_method:GeneralizedCE"
    listed = CliRunner().invoke(app, ["methods"])
    assert listed.exit_code == 0 and "my-method" in listed.stdout and "Generalized cross-entropy" in listed.stdout


def test_its_typed_options_are_listed_and_checked_before_training(
    on_path: None, synthetic_bench, tmp_path: Path
) -> None:
    listed = CliRunner().invoke(app, ["methods", "--options", "my-method"])
    assert listed.exit_code == 0 and "q" in listed.stdout and "(0, 1]" in listed.stdout
    with pytest.raises(AvnbError, match=r"my-method option q=2 is out of range; allowed: \(0, 1\]"):
        run_settings(synthetic_bench, tmp_path / "bad", method="my-method", options={"q": 2})
    assert not (tmp_path / "bad").exists()


def test_it_trains_and_evaluates_through_the_harness(on_path: None, synthetic_bench, tmp_path: Path) -> None:
    from my_method import generalized_cross_entropy

    logits, labels = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])
    ce = torch.nn.functional.cross_entropy(logits, labels)
    assert generalized_cross_entropy(logits, labels, 1e-4) == pytest.approx(float(ce), rel=1e-3)
    run = run_training(run_settings(synthetic_bench, tmp_path / "run", method="my-method", options={"q": "0.7"}))
    record = evaluate_run(run).record
    assert record.method == "my-method" and record.method_options == {"q": 0.7}
    assert record.metrics["V@1"] > 50.0  # chance is 25 % on the 4-class bench


def test_the_example_imports_nothing_of_avnoisebench_but_the_plugin_api() -> None:
    """As baselines/ and method/ (tests/test_architecture.py), with the same import reader (lazy imports included)."""
    names = {name for path in (EXAMPLE / "my_method").rglob("*.py") for name in imports(path)}
    assert "avnoisebench.plugin" in names
    public = {name for name in names if name == "avnoisebench.plugin" or name.startswith("avnoisebench.plugin.")}
    assert names - public == set()


def test_the_new_method_walk_of_the_docs(on_path: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/new-method.md section 2 as a newcomer runs it: mistakes stop before anything is made, the card's protocol
    runs with config/method/out alone, progress is shown, the shared cache is reused, two budgets are two rows."""
    data = ROOT.parent / "shared" / "data"
    if not (data / "mnist").is_dir():
        pytest.skip(f"reference data {data} is absent")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.stdout.startswith("avnb (avnoisebench) ")
    assert runner.invoke(app, ["build", "av-mnist", "--sources", str(data), "--limit", "60", "--quiet"]).exit_code == 0
    train = ["train", "avnb-data/av-mnist", "--config", "nc30-sym60", "--method", "my-method"]
    for mistake in (["--model", "smal"], ["--option", "q=2"]):
        failed = runner.invoke(app, [*train, *mistake, "--out", "runs/bad"])
        assert failed.exit_code == 2 and len(failed.stderr.strip().splitlines()) == 1, failed.output
        assert "Traceback" not in failed.output and not Path("runs").exists()
    pretrain = ["pretrain", "avnb-data/av-mnist", "--epochs", "1", "--jobs", "1", "--quiet"]
    assert runner.invoke(app, pretrain).exit_code == 0
    first = runner.invoke(app, [*train, "--out", "runs/gce"])
    assert first.exit_code == 0, first.output
    assert "features av-mnist train" in first.output and "train: epoch 60/60" in first.output
    second = runner.invoke(app, [*train, "--epochs", "5", "--out", "runs/gce-5ep"])
    assert second.exit_code == 0 and "train: epoch 5/5" in second.output
    assert "decode av-mnist" not in second.output and "features av-mnist" not in second.output  # the shared cache
    for run in ("runs/gce", "runs/gce-5ep"):
        assert runner.invoke(app, ["evaluate", run, "--results", "results.jsonl"]).exit_code == 0
    board = runner.invoke(app, ["leaderboard", "results.jsonl", "--no-reference"])
    rows = [line for line in board.stdout.splitlines() if line.startswith("| nc30-sym60 | my-method |")]
    assert board.exit_code == 0 and len(rows) == 2
    assert any("60 ep" in row for row in rows) and any("5 ep" in row for row in rows)
