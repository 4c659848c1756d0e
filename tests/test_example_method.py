"""The public plug-in API: the worked example (examples/my-method) pip-installed into a temporary target, found
through its entry point, trained through the harness and evaluated; and every module of baselines/ and method/ (and
the example) importing nothing of avnoisebench but avnoisebench.plugin, as a third-party method would."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from harnesskit import run_settings
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


def avnoisebench_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a source file, at any depth (inside functions and classes too), with the
    names a `from avnoisebench import ...` takes counted as modules; string arguments of importlib.import_module and
    __import__ as well."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            found += [(node.lineno, module)]
            if module == "avnoisebench":
                found += [(node.lineno, f"avnoisebench.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            found += [(node.lineno, arg.value) for arg in node.args[:1] if isinstance(arg, ast.Constant)]
    return found


@pytest.mark.parametrize("package", ["baselines", "method", "examples/my-method/my_method"])
def test_methods_import_nothing_of_avnoisebench_but_the_plugin_api(package: str) -> None:
    sources = sorted((ROOT / package).rglob("*.py"))
    assert sources
    other = {"baselines": "method", "method": "baselines"}.get(package)
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sources
        for line, module in avnoisebench_imports(path)
        if module.startswith(".")
        or (module.split(".")[0] == "avnoisebench" and module not in ("avnoisebench", "avnoisebench.plugin"))
        or (other is not None and module.split(".")[0] == other)
    ]
    assert not wrong, "\n".join(wrong)


def test_the_import_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from avnoisebench.plugin import Method\n"
        "def f():\n    from avnoisebench.harness.loop import train_pass\n"
        "class C:\n    def g(self):\n        import avnoisebench.ops.knn\n"
        "from avnoisebench import plugin, models\n"
        "import importlib\nimportlib.import_module('avnoisebench.models')\n"
    )
    assert sorted(module for _, module in avnoisebench_imports(source)) == [
        "avnoisebench",
        "avnoisebench.harness.loop",
        "avnoisebench.models",
        "avnoisebench.models",
        "avnoisebench.ops.knn",
        "avnoisebench.plugin",
        "avnoisebench.plugin",
        "importlib",
    ]
