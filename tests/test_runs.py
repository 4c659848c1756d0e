"""Run folders: checkpoints that load without running code, every random state, one owner at a time, and the rules
for creating, resuming and overwriting a run folder."""

import random
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from harnesskit import Planted

from avnoisebench.errors import AvnbError
from avnoisebench.runs.checkpoint import check_plain, random_states, restore_random_states
from avnoisebench.runs.config import SCRATCH, InitRecord, RunConfig
from avnoisebench.runs.folder import CHECKPOINT, RunFolder


def config(**changes: object) -> RunConfig:
    values = {
        "benchmark": "b",
        "benchmark_family": "b",
        "benchmark_variant": None,
        "benchmark_lock_sha256": "0" * 64,
        "config": "clean",
        "label_noise_mode": "clean",
        "label_noise_rate": 0.0,
        "correspondence": None,
        "correspondence_kind": None,
        "method": "late-fusion",
        "method_options": {},
        "model": "small",
        "init": SCRATCH,
        "track": "cached",
        "seed": 0,
        "epochs": 2,
        "batch_size": 8,
        "lr": 1e-3,
        "decoding": {},
    }
    return RunConfig(**{**values, **changes})


def test_a_crafted_checkpoint_runs_no_code(tmp_path: Path) -> None:
    run = RunFolder.create(tmp_path / "run", config())
    marker = tmp_path / "pwned"
    torch.save({"epoch": 0, "payload": Planted(marker)}, run.path / CHECKPOINT)
    with pytest.raises(AvnbError, match="cannot be loaded safely .*delete it"):
        run.load_checkpoint()
    assert not marker.exists()


def test_checkpoints_hold_only_plain_values() -> None:
    @dataclass
    class Weights:
        video: float

    check_plain({"epoch": 3, "state": {0: torch.ones(2)}, "names": ("a", None), "rates": [0.5, True]})
    with pytest.raises(TypeError, match=r"checkpoint\['weights'\] is a Weights"):
        check_plain({"weights": Weights(0.4)})


def test_every_random_state_is_saved_and_restored(tmp_path: Path) -> None:
    run = RunFolder.create(tmp_path / "run", config())
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    run.save_checkpoint({"random": random_states()})
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_random_states(run.load_checkpoint()["random"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def hold(path: Path) -> subprocess.Popen:
    """Another process that owns the run folder until it is killed."""
    code = textwrap.dedent(
        f"""
        import time
        from avnoisebench.runs.folder import RunFolder
        RunFolder({str(path)!r}).own()
        print("owned", flush=True)
        time.sleep(60)
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "owned"
    return holder


def test_a_run_folder_has_one_owner_and_a_dead_owner_releases_it(tmp_path: Path) -> None:
    run = RunFolder.create(tmp_path / "run", config())
    run.release()
    holder = hold(run.path)
    try:
        with pytest.raises(AvnbError, match=f"in use by process {holder.pid}"):
            RunFolder.create(run.path, config(), resume=True)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    time.sleep(0.1)
    RunFolder.create(run.path, config(), resume=True).release()  # the kernel released the dead owner's lock


def test_the_same_weights_made_on_another_machine_are_the_same_run(tmp_path: Path) -> None:
    path = tmp_path / "run"
    RunFolder.create(path, config(init=InitRecord("a" * 64, "simclr", {"cpu_seconds": 200.6}))).release()
    RunFolder.create(path, config(init=InitRecord("a" * 64, "simclr", {"cpu_seconds": 144.3})), resume=True).release()
    with pytest.raises(AvnbError, match=r"--resume with different settings \(init\)"):
        RunFolder.create(path, config(init=InitRecord("b" * 64, "simclr", {"cpu_seconds": 200.6})), resume=True)


def test_a_run_resumes_only_with_the_torch_threads_it_trained_with(tmp_path: Path) -> None:
    path = tmp_path / "run"
    RunFolder.create(path, config(threads=1)).release()
    with pytest.raises(AvnbError, match=r"trained with 1 torch threads and this process has 2; .* --threads 1, or"):
        RunFolder.create(path, config(threads=2), resume=True)
    RunFolder.create(path, config(threads=1, workers=2), resume=True).release()
    RunFolder.create(path, config(threads=2), overwrite=True).release()
    assert RunFolder(path).config.threads == 2
    RunFolder.create(tmp_path / "older", config(threads=None)).release()  # written before threads were recorded
    RunFolder.create(tmp_path / "older", config(threads=4), resume=True).release()


def test_create_resume_and_overwrite_rules(tmp_path: Path) -> None:
    path = tmp_path / "run"
    RunFolder.create(path, config()).release()
    with pytest.raises(AvnbError, match="not empty; choose another --out, pass --resume .* or --overwrite"):
        RunFolder.create(path, config())
    with pytest.raises(AvnbError, match=r"--resume with different settings \(epochs\)"):
        RunFolder.create(path, config(epochs=3), resume=True)
    RunFolder.create(path, config(device="cuda", workers=2), resume=True).release()  # where it runs may change
    (path / "stale.txt").write_text("old")
    RunFolder.create(path, config(epochs=3), overwrite=True).release()
    assert not (path / "stale.txt").exists() and RunFolder(path).config.epochs == 3
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_text("meow")
    with pytest.raises(AvnbError, match="is not a run folder avnb wrote .* left untouched even with --overwrite"):
        RunFolder.create(foreign, config(), overwrite=True)
    assert (foreign / "cat.jpg").read_text() == "meow"
