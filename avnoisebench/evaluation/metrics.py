"""Clip- and video-level accuracy of multi-view predictions, as in the paper: C@1, C@5 and V@1 in percent."""

import numpy as np

METRICS = ("C@1", "C@5", "V@1")
TOP_K = 5


def softmax(scores: np.ndarray) -> np.ndarray:
    """Softmax over the last axis."""
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def label_rank(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Position of the true class when classes are sorted by score, ties going to the lower class index (0 = top)."""
    true = np.take_along_axis(scores, labels[..., None], axis=-1)
    before = np.arange(scores.shape[-1]) < labels[..., None]
    return (scores > true).sum(axis=-1) + ((scores == true) & before).sum(axis=-1)


def clip_video_metrics(scores: np.ndarray, labels: np.ndarray, unscored: np.ndarray | None = None) -> dict[str, float]:
    """C@1 and C@5 over all (clip, view) predictions and V@1 of the mean softmax over views, in percent.

    Ties go to the lower class index (numpy's argmax rule); with fewer than 5 classes C@5 counts the top K.
    Clips flagged in `unscored` (no decodable media) count as wrong for every metric.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if scores.ndim != 3 or labels.shape != scores.shape[:1]:
        raise ValueError(f"scores must be (N, V, K) and labels (N,); got {scores.shape} and {labels.shape}")
    if labels.size and not 0 <= labels.min() <= labels.max() < scores.shape[2]:
        raise ValueError(f"labels must lie in 0..{scores.shape[2] - 1}")
    clip_rank = label_rank(scores, np.broadcast_to(labels[:, None], scores.shape[:2]))
    video_rank = label_rank(softmax(scores).mean(axis=1), labels)
    if unscored is not None:
        clip_rank = np.where(np.asarray(unscored, dtype=bool)[:, None], scores.shape[2], clip_rank)
        video_rank = np.where(unscored, scores.shape[2], video_rank)
    return {
        "C@1": 100.0 * float(np.mean(clip_rank < 1)),
        "C@5": 100.0 * float(np.mean(clip_rank < min(TOP_K, scores.shape[2]))),
        "V@1": 100.0 * float(np.mean(video_rank < 1)),
    }
