"""The worked plug-in example (examples/my-method): pip-installed into a temporary target, found through its entry
point, trained through the harness and evaluated."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from harnesskit import build_bench, run_settings
from typer.testing import CliRunner

from avnoisebench.cli.main import app
from avnoisebench.errors import AvnbError
from avnoisebench.evaluation.evaluate import evaluate_run
from avnoisebench.harness.registry import registered_methods
from avnoisebench.harness.train import run_training

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "my-method"


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


def test_it_trains_and_evaluates_through_the_harness(on_path: None, tmp_path: Path) -> None:
    from my_method import generalized_cross_entropy

    logits, labels = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])
    ce = torch.nn.functional.cross_entropy(logits, labels)
    assert generalized_cross_entropy(logits, labels, 1e-4) == pytest.approx(float(ce), rel=1e-3)
    bench = build_bench(tmp_path)
    run = run_training(run_settings(bench, tmp_path / "run", method="my-method", method_options={"q": 0.7}))
    record = evaluate_run(run).record
    assert record.method == "my-method" and record.options == {"q": 0.7}
    assert record.metrics["V@1"] > 50.0  # chance is 25 % on the 4-class bench
    with pytest.raises(AvnbError, match="q=2 must be a number in"):
        run_training(run_settings(bench, tmp_path / "bad", method="my-method", method_options={"q": 2}))
