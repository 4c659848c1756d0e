"""C@1, C@5 and V@1 cross-checked with scikit-learn's top_k_accuracy_score on continuous random scores (no ties, so
the project's lower-class-index tie rule never applies)."""

import numpy as np
import pytest
from sklearn.metrics import top_k_accuracy_score

from avnoisebench.evaluation.metrics import clip_video_metrics, softmax


@pytest.mark.parametrize(("clips", "views", "classes", "seed"), [(200, 10, 10, 0), (57, 3, 101, 1), (40, 1, 6, 2)])
def test_clip_and_video_accuracy_match_top_k_accuracy_score(clips: int, views: int, classes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((clips, views, classes))
    labels = rng.integers(0, classes, clips)
    labels[: min(classes, clips)] = np.arange(min(classes, clips))
    metrics = clip_video_metrics(scores, labels)
    every_class = np.arange(classes)
    flat_scores, flat_labels = scores.reshape(-1, classes), np.repeat(labels, views)
    for name, k in (("C@1", 1), ("C@5", 5)):
        expected = 100 * top_k_accuracy_score(flat_labels, flat_scores, k=k, labels=every_class)
        assert metrics[name] == pytest.approx(expected)
    video = softmax(scores).mean(axis=1)
    assert metrics["V@1"] == pytest.approx(100 * top_k_accuracy_score(labels, video, k=1, labels=every_class))
    assert 0 < metrics["C@1"] < metrics["C@5"] < 100
