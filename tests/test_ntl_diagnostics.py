"""The harness's diagnostics hooks: hidden truth, corrected-label accuracy, per-sample scores with ROC-AUC against
the mismatch flags, their score files and the Fig. 8 style histogram."""

from pathlib import Path

import numpy as np
import pytest
import torch

from avnoisebench.harness.truth import HiddenTruth, roc_auc
from avnoisebench.plugin import AvnbError, RunLog
from avnoisebench.report.plot import score_histogram_png
from avnoisebench.runs.folder import RunFolder


def events(run: Path) -> list[dict]:
    """The event lines of a run's metrics log."""
    return [r for r in RunFolder(run).metrics() if "event" in r]


def pairwise_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """P(score of a positive > score of a negative) + half the ties, over all pairs."""
    diff = scores[positive][:, None] - scores[~positive][None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def test_roc_auc_is_the_pairwise_probability_with_ties_halved() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        scores = rng.integers(0, 6, 80).astype(float)
        positive = rng.random(80) < 0.3
        assert roc_auc(scores, positive) == pytest.approx(pairwise_auc(scores, positive))
    assert roc_auc(np.array([0.1, 0.5, 0.9]), np.array([False, True, True])) == 1.0
    assert roc_auc(np.array([0.9, 0.5, 0.1]), np.array([False, True, True])) == 0.0
    assert np.isnan(roc_auc(np.array([1.0, 2.0]), np.array([True, True])))


def truth() -> HiddenTruth:
    """Six samples, the last one without media: observed labels, two of them wrong, two mismatched pairs."""
    return HiddenTruth.from_lists(
        observed=[0, 1, 2, 0, 1, 2],
        clean=[0, 1, 1, 0, 2, 2],
        nc_flags=[False, False, True, False, True, False],
        valid=np.array([True, True, True, True, True, False]),
    )


def test_corrected_labels_are_scored_against_the_clean_labels_and_never_returned(tmp_path: Path) -> None:
    log = RunLog(tmp_path, truth=truth())
    assert log.corrected_labels(3, torch.tensor([0, 1, 1, 0, 1, 0])) is None
    [event] = events(tmp_path)
    assert event["event"] == "corrected_labels" and event["epoch"] == 3
    assert event["accuracy"] == pytest.approx(4 / 5) and event["observed_accuracy"] == pytest.approx(3 / 5)
    assert event["changed"] == pytest.approx(1 / 5)


def test_sample_scores_log_the_auc_for_matched_pairs_and_keep_the_last_epochs_file(tmp_path: Path) -> None:
    log = RunLog(tmp_path, truth=truth())
    log.sample_scores(0, "omega", torch.tensor([0.9, 0.8, 0.1, 0.7, 0.85, 0.0]))
    log.sample_scores(1, "omega", torch.tensor([0.9, 0.8, 0.1, 0.7, 0.2, 0.0]))
    first, second = events(tmp_path)
    assert first["auc_matched_vs_mismatched"] == pytest.approx(4 / 6) and second["auc_matched_vs_mismatched"] == 1.0
    assert second["mean"] == pytest.approx(np.mean([0.9, 0.8, 0.1, 0.7, 0.2]))
    saved = RunFolder(tmp_path).scores("omega")
    assert saved.epoch == 1 and saved.scores[4] == pytest.approx(0.2)
    assert saved.nc_flags.tolist() == [False, False, True, False, True, False]
    assert saved.label_noisy.tolist() == [False, False, True, False, True, False]
    assert saved.valid.tolist() == [True] * 5 + [False]
    assert score_histogram_png(saved).startswith(b"\x89PNG")
    with pytest.raises(AvnbError, match="no per-sample scores named 'weights' \\(it kept: omega\\)"):
        RunFolder(tmp_path).scores("weights")


def test_without_truth_or_on_other_ranks_the_hooks_still_work(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    plain = RunLog(tmp_path / "plain")
    plain.corrected_labels(0, torch.tensor([1, 0]))
    plain.sample_scores(0, "omega", torch.tensor([0.25, 0.75]))
    [event] = events(tmp_path / "plain")
    assert event == {**event, "score": "omega", "mean": 0.5} and "auc_matched_vs_mismatched" not in event
    saved = RunFolder(tmp_path / "plain").scores("omega")
    assert saved.nc_flags is None and saved.label_noisy is None
    assert score_histogram_png(saved).startswith(b"\x89PNG")
    (tmp_path / "rank1").mkdir()
    other = RunLog(tmp_path / "rank1", rank=1, truth=truth())
    other.corrected_labels(0, torch.zeros(6, dtype=torch.long))
    other.sample_scores(0, "omega", torch.zeros(6))
    assert list((tmp_path / "rank1").iterdir()) == []
    with pytest.raises(ValueError, match="score name"):
        plain.sample_scores(0, "../omega", torch.zeros(2))
    assert RunFolder(tmp_path / "plain").score_names() == ["omega"] and not (tmp_path / "plain" / "omega.npz").exists()


def test_truth_needs_one_value_per_sample() -> None:
    with pytest.raises(ValueError, match="lengths"):
        HiddenTruth.from_lists([0, 1], [0, 1, 2], None, np.ones(2, bool))
