"""The frozen-backbone track and learning-rate selection on the training split: features computed once and reused,
methods unaware of the track, the held-out slice stratified and disjoint from what is trained on, no test clip read."""

from pathlib import Path

import numpy as np
from harnesskit import run_settings
from typer.testing import CliRunner

import avnoisebench.harness.training as training
from avnoisebench.cli.main import app
from avnoisebench.evaluation.scoring import evaluate_run
from avnoisebench.harness.cache import list_caches
from avnoisebench.harness.selection import heldout_slice, select_lr
from avnoisebench.harness.training import run_training


def test_the_features_track_trains_heads_on_cached_features(synthetic_bench: tuple[Path, Path], tmp_path: Path) -> None:
    first = run_training(run_settings(synthetic_bench, tmp_path / "a", track="features", cache_dir=tmp_path / "c"))
    kinds = sorted(e.kind for e in list_caches(tmp_path / "c"))
    assert kinds == ["clips", "clips", "features", "features"]  # train and test, decoded once, encoded once
    second = run_training(run_settings(synthetic_bench, tmp_path / "b", track="features", cache_dir=tmp_path / "c"))
    assert len(list_caches(tmp_path / "c")) == 4  # the second run reuses both
    assert evaluate_run(first).record.metrics == evaluate_run(second).record.metrics  # seeded
    record = evaluate_run(first).record
    assert record.track == "features" and record.model == "small" and record.metrics["V@1"] > 25.0


def test_the_heldout_slice_is_stratified_and_seeded() -> None:
    labels = np.repeat(np.arange(4), 25)
    valid = np.ones(100, dtype=bool)
    valid[:5] = False
    mask = heldout_slice(labels, valid, 0.2, seed=0)
    assert not (mask & ~valid).any() and [int(mask[labels == c].sum()) for c in range(4)] == [4, 5, 5, 5]
    assert np.array_equal(mask, heldout_slice(labels, valid, 0.2, seed=0))
    assert not np.array_equal(mask, heldout_slice(labels, valid, 0.2, seed=1))


def test_lr_selection_reads_no_test_clip(synthetic_bench: tuple[Path, Path], tmp_path: Path, monkeypatch) -> None:
    splits = []
    real = training.cached
    monkeypatch.setattr(training, "cached", lambda s, split, p=None: splits.append(split) or real(s, split))
    settings = run_settings(synthetic_bench, None, config="sym40", track="features", epochs=3, cache_dir=tmp_path)
    choice = select_lr(settings, [1e-3, 3e-3])
    assert [s.lr for s in choice.scores] == [1e-3, 3e-3] and choice.chosen in (1e-3, 3e-3)
    assert choice.heldout == 8 and choice.trained_on == 72 and set(splits) == {"train"}


def test_select_lr_command(synthetic_bench: tuple[Path, Path], tmp_path: Path) -> None:
    folder, media = synthetic_bench
    args = ["select-lr", str(folder), "--config", "sym40", "--method", "late-fusion", "--lr", "1e-3", "--lr", "1e-2"]
    args += ["--media-root", str(media), "--track", "features", "--model", "small", "--init", "none", "--epochs", "2"]
    done = CliRunner().invoke(app, [*args, "--batch-size", "16", "--cache-dir", str(tmp_path), "--quiet"])
    assert done.exit_code == 0, done.output
    assert "chosen lr" in done.stdout and "8 held out" in done.stdout
    bad = CliRunner().invoke(app, [*args, "--holdout", "1.5", "--cache-dir", str(tmp_path), "--quiet"])
    assert bad.exit_code == 2 and "--holdout 1.5 must lie between 0 and 1" in bad.stderr
