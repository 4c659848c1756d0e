"""The harness: method registry, what a method sees, a learning late-fusion run, resume, raw track, DDP."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from harnesskit import run_settings

from avnoisebench.errors import AvnbError
from avnoisebench.evaluation.scoring import evaluate_run
from avnoisebench.harness.registry import load_method, registered_methods
from avnoisebench.harness.settings import TrainSettings
from avnoisebench.harness.training import run_training
from avnoisebench.plugin import Method, ModelPredictor, cross_entropy_loss, train_epochs
from avnoisebench.runs.checkpoint import load_checkpoint
from avnoisebench.runs.folder import CHECKPOINT, PREDICTIONS, RunFolder


def settings(synthetic_bench: tuple[Path, Path], out: Path, **overrides) -> TrainSettings:
    return run_settings(synthetic_bench, out, **{"cache_dir": out.parent / "cache", **overrides})


def metrics(run: Path) -> list[dict]:
    return RunFolder(run).metrics()


def v_at_1(run: Path) -> float:
    return evaluate_run(run).record.metrics["V@1"]


def test_late_fusion_is_registered_and_unknown_names_are_refused() -> None:
    assert "late-fusion" in registered_methods()
    assert issubclass(load_method("late-fusion"), Method)
    with pytest.raises(AvnbError, match="no method named 'magic'; registered methods: .*late-fusion"):
        load_method("magic")


def test_unknown_method_option_is_refused() -> None:
    with pytest.raises(AvnbError, match="'late-fusion' has no option\\(s\\) temperature"):
        load_method("late-fusion")(temperature=2)


def test_a_method_sees_noisy_labels_and_never_clean_ones(synthetic_bench, tmp_path: Path) -> None:
    seen = {}

    class Spy(Method):
        name = "spy"

        def fit(self, model, data, budget, log):
            seen["labels"] = data.labels.clone()
            seen["attributes"] = sorted(vars(data))
            seen["batch"] = next(data.batches(0))
            seen["features"] = data.extract_features(model)
            return ModelPredictor(model)

    folder, _ = synthetic_bench
    run_training(settings(synthetic_bench, tmp_path / "run", config="sym60", method=Spy()))
    table = pq.read_table(folder / "data" / "sym60" / "train.parquet")
    assert torch.equal(seen["labels"], torch.tensor(table["label"].to_pylist()))
    assert not torch.equal(seen["labels"], torch.tensor(table["clean_label"].to_pylist()))
    assert not any("clean" in name for name in seen["attributes"])
    batch = seen["batch"]
    assert torch.equal(batch.label, seen["labels"][batch.index])
    f_v, f_a = seen["features"]
    assert f_v.shape[0] == f_a.shape[0] == table.num_rows


def test_late_fusion_learns_on_synthetic_av(synthetic_bench, tmp_path: Path) -> None:
    folder, _ = synthetic_bench
    run = run_training(settings(synthetic_bench, tmp_path / "run"))
    log = metrics(run)
    epochs = [r for r in log if "epoch" in r]
    assert [r["epoch"] for r in epochs] == list(range(10)) and epochs[-1]["loss"] < epochs[0]["loss"] / 2
    assert log[-1]["event"] == "predict" and log[-1]["without_media"] == 0
    assert v_at_1(run) > 60.0
    config = json.loads((run / "config.json").read_text())
    assert config["benchmark_lock_sha256"] and config["method"] == "late-fusion" and config["seed"] == 0


def test_same_seed_same_run_and_resume_after_interruption(synthetic_bench, tmp_path: Path) -> None:
    reference = run_training(settings(synthetic_bench, tmp_path / "a", epochs=3))

    class Interrupted(load_method("late-fusion")):
        def fit(self, model, data, budget, log):
            def stop_after_one(model, batch, epoch):
                if epoch == 1:
                    raise KeyboardInterrupt
                return cross_entropy_loss(model, batch, epoch)

            train_epochs(model, data, budget, log, stop_after_one)

    with pytest.raises(KeyboardInterrupt):
        run_training(settings(synthetic_bench, tmp_path / "b", epochs=3, method=Interrupted()))
    assert [r["epoch"] for r in metrics(tmp_path / "b")] == [0]
    with pytest.raises(AvnbError, match="not empty"):
        run_training(settings(synthetic_bench, tmp_path / "b", epochs=3))
    resumed = run_training(settings(synthetic_bench, tmp_path / "b", epochs=3), resume=True)
    assert [r["loss"] for r in metrics(resumed) if "epoch" in r] == [
        r["loss"] for r in metrics(reference) if "epoch" in r
    ]
    a, b = (load_checkpoint(r / CHECKPOINT)["modules"]["model"] for r in (reference, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert pq.read_table(reference / PREDICTIONS).equals(pq.read_table(resumed / PREDICTIONS))


def test_raw_track_trains_and_predicts(synthetic_bench, tmp_path: Path) -> None:
    run = run_training(settings(synthetic_bench, tmp_path / "run", track="raw", epochs=1))
    assert [r["epoch"] for r in metrics(run) if "epoch" in r] == [0]
    assert (
        pq.read_metadata(run / PREDICTIONS).num_rows
        == 3 * pq.read_metadata(synthetic_bench[0] / "data" / "test.parquet").num_rows
    )


def test_distributed_data_parallel_on_two_cpu_processes(synthetic_bench, tmp_path: Path) -> None:
    folder, media = synthetic_bench
    run = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "avnoisebench",
        "train",
        str(folder),
        "--config",
        "clean",
        "--method",
        "late-fusion",
        "--out",
        str(run),
        "--media-root",
        str(media),
        "--track",
        "cached",
        "--model",
        "small",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--lr",
        "0.003",
        "--frames",
        "4",
        "--stride",
        "0.5",
        "--views",
        "3",
        "--short-side",
        "40",
        "--crop",
        "32",
        "--init",
        "none",
        "--quiet",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    log = metrics(run)
    assert [(r["epoch"], r["samples"]) for r in log if "epoch" in r] == [(0, 80), (1, 80)]
    assert (run / PREDICTIONS).is_file() and (run / CHECKPOINT).is_file()
