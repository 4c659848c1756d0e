"""`avnb train` fails in the first second with one line and leaves nothing behind: every setting is checked before
anything is decoded (method, options, model against the decoding, budget, device, media, output folder, the
benchmark's files against its lock), a planted checkpoint runs no code, and a run that fails before its first epoch
removes its folder."""

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from harnesskit import Planted
from typer.testing import CliRunner

from avnoisebench.cli.main import app
from avnoisebench.evaluation.scoring import evaluate_run
from avnoisebench.runs.folder import CHECKPOINT, RunFolder

runner = CliRunner()
SMALL_RUN = ["--track", "cached", "--model", "small", "--init", "none", "--batch-size", "16", "--frames", "4"]
SMALL_RUN += ["--stride", "0.5", "--views", "3", "--short-side", "40", "--crop", "32"]


def train(bench: tuple[Path, Path], tmp_path: Path, *extra: str, config: str = "clean", method: str = "late-fusion"):
    folder, media = bench
    args = ["train", str(folder), "--config", config, "--method", method, "--out", str(tmp_path / "run")]
    args += ["--media-root", str(media), "--cache-dir", str(tmp_path / "cache"), "--quiet", *SMALL_RUN, *extra]
    return runner.invoke(app, args)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "smal"], "--model 'smal' is unknown; choose one of"),
        (["--model", "r2plus1d18-panns22"], "cannot take synthetic-av's decoding"),
        (["--epochs", "0"], "--epochs 0 must be a whole number of at least 1"),
        (["--epochs", "-1"], "--epochs -1 must be"),
        (["--batch-size", "0"], "--batch-size 0 must be"),
        (["--lr", "-1"], "--lr -1.0 must be a positive finite number"),
        (["--lr", "nan"], "--lr nan must be a positive finite number"),
        (["--views", "0"], "num_views = 0 must be a whole number of at least 1"),
        (["--frames", "0"], "num_frames = 0 must be"),
        (["--crop", "0"], "crop = 0 must be"),
        (["--stride", "-1"], "stride = -1.0 must be a positive number"),
        (["--workers", "-1"], "--workers -1 must be a whole number of at least 0"),
        (["--threads", "0"], "--threads 0 must be at least 1"),
        (["--device", "foo"], "--device 'foo' is not a device name"),
        (["--seed", "-2"], "--seed -2 must be a whole number of at least 0"),
        (["--option", "q=2"], "method 'late-fusion' has no option(s) q"),
        (["--option", "q"], "--option 'q' is not key=value"),
        (["--name", " "], "--name is empty"),
        (["--init", "missing.pt"], "--init missing.pt: no such weights file"),
    ],
)
def test_bad_settings_fail_in_the_first_second_and_leave_nothing(
    synthetic_bench: tuple[Path, Path], tmp_path: Path, extra: list[str], message: str
) -> None:
    began = time.monotonic()
    done = train(synthetic_bench, tmp_path, *extra)
    assert done.exit_code == 2 and message in done.stderr, done.output
    assert "Traceback" not in done.output and len(done.stderr.strip().splitlines()) <= 2
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()  # nothing decoded or written
    assert time.monotonic() - began < 10


def test_methods_options_are_checked_by_type_and_range(synthetic_bench: tuple[Path, Path], tmp_path: Path) -> None:
    done = train(synthetic_bench, tmp_path, "--option", "tau1=-1", method="ntl")
    assert done.exit_code == 2 and "ntl option tau1=" in done.stderr and "out of range" in done.stderr
    done = train(synthetic_bench, tmp_path, "--option", "k=many", method="ntl")
    assert done.exit_code == 2 and "give a whole number" in done.stderr
    assert not (tmp_path / "run").exists()


def test_cuda_on_a_machine_without_it_is_refused(synthetic_bench: tuple[Path, Path], tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    done = train(synthetic_bench, tmp_path, "--device", "cuda")
    assert done.exit_code == 2 and "needs a CUDA GPU, and torch sees none here" in done.stderr


def test_an_empty_media_root_is_refused_before_decoding(synthetic_bench: tuple[Path, Path], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = train((synthetic_bench[0], tmp_path / "empty"), tmp_path)
    assert done.exit_code == 2 and "no train clip of" in done.stderr and "avnb download" in done.stderr
    assert not (tmp_path / "run").exists()


def test_tampered_benchmark_files_are_refused(synthetic_bench: tuple[Path, Path], tmp_path: Path) -> None:
    folder = tmp_path / "bench"
    shutil.copytree(synthetic_bench[0], folder)
    manifest = folder / "data" / "sym40" / "train.parquet"
    manifest.write_bytes(manifest.read_bytes()[:-1] + b"\0")
    done = train((folder, synthetic_bench[1]), tmp_path, config="sym40")
    assert done.exit_code == 2 and "differs from the folder's lock" in done.stderr
    assert f"avnb verify {folder}" in done.stderr and not (tmp_path / "run").exists()


def test_a_used_run_folder_is_refused_then_overwritten(synthetic_bench: tuple[Path, Path], tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    done = train(synthetic_bench, tmp_path, "--epochs", "1")
    assert done.exit_code == 2 and "is not empty" in done.stderr
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"  # never deleted
    (tmp_path / "run" / "notes.txt").unlink()
    assert train(synthetic_bench, tmp_path, "--epochs", "1").exit_code == 0
    again = train(synthetic_bench, tmp_path, "--epochs", "2")
    assert again.exit_code == 2 and "--overwrite to start it over" in again.stderr
    resumed = train(synthetic_bench, tmp_path, "--epochs", "2", "--resume")
    assert resumed.exit_code == 2 and "different settings (epochs)" in resumed.stderr
    done = train(synthetic_bench, tmp_path, "--epochs", "2", "--overwrite")
    assert done.exit_code == 0, done.output


def test_a_planted_checkpoint_is_refused_on_resume(synthetic_bench: tuple[Path, Path], tmp_path: Path) -> None:
    assert train(synthetic_bench, tmp_path, "--epochs", "1").exit_code == 0
    marker = tmp_path / "pwned"
    torch.save({"epoch": 0, "code": Planted(marker)}, tmp_path / "run" / CHECKPOINT)
    done = train(synthetic_bench, tmp_path, "--epochs", "1", "--resume")
    assert done.exit_code == 2 and "cannot be loaded safely" in done.stderr and not marker.exists()


def test_a_run_that_fails_before_its_first_epoch_leaves_nothing(
    synthetic_bench: tuple[Path, Path], tmp_path: Path
) -> None:
    done = train(synthetic_bench, tmp_path, "--batch-size", "128", "--epochs", "3", method="ntl")
    assert done.exit_code == 2 and "full batches of 128" in done.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("sent", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_says_what_it_kept(
    synthetic_bench: tuple[Path, Path], tmp_path: Path, sent: int, code: int
) -> None:
    folder, media = synthetic_bench
    args = [sys.executable, "-m", "avnoisebench", "train", str(folder), "--config", "clean", "--method", "late-fusion"]
    args += ["--out", str(tmp_path / "run"), "--media-root", str(media), "--cache-dir", str(tmp_path / "cache")]
    run = subprocess.Popen([*args, *SMALL_RUN, "--epochs", "400", "--quiet"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "run" / CHECKPOINT).is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    run.send_signal(sent)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == code and "interrupted: " in stderr and "Traceback" not in stderr
    assert "keeps its checkpoint after epoch" in stderr and "--resume" in stderr


@pytest.fixture
def torch_threads() -> Iterator[None]:
    """Torch's thread count as it was before the test (`--threads` sets it for this process)."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_a_run_and_its_record_carry_its_torch_threads_and_it_resumes_only_with_them(
    synthetic_bench: tuple[Path, Path], tmp_path: Path, torch_threads: None
) -> None:
    assert train(synthetic_bench, tmp_path, "--epochs", "1", "--threads", "1").exit_code == 0
    assert RunFolder(tmp_path / "run").config.threads == 1
    assert evaluate_run(tmp_path / "run", synthetic_bench[0]).record.threads == 1
    done = train(synthetic_bench, tmp_path, "--epochs", "1", "--threads", "2", "--resume")
    assert done.exit_code == 2
    assert "was trained with 1 torch threads and this process has 2" in " ".join(done.output.split())
