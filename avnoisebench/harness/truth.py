"""What the harness knows about the training split and a method must not see, and the diagnostics computed from it."""

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score


@dataclass(frozen=True)
class HiddenTruth:
    """Per training sample, in TrainData index order: observed labels, clean labels, whether the pair's audio comes
    from a clip of another class (None when the benchmark records no `nc_flag`), and whether its media decodes."""

    observed: np.ndarray
    clean: np.ndarray
    nc_flags: np.ndarray | None
    valid: np.ndarray

    @classmethod
    def from_lists(
        cls, observed: list[int], clean: list[int], nc_flags: list[bool] | None, valid: np.ndarray
    ) -> "HiddenTruth":
        """The truth from a loader's or cache's lists (checked to be one value per sample)."""
        arrays = [np.asarray(observed, dtype=np.int64), np.asarray(clean, dtype=np.int64)]
        flags = None if nc_flags is None else np.asarray(nc_flags, dtype=bool)
        valid = np.asarray(valid, dtype=bool)
        sizes = {len(a) for a in [*arrays, valid, *([] if flags is None else [flags])]}
        if len(sizes) != 1:
            raise ValueError(f"hidden truth needs one value per sample, got lengths {sorted(sizes)}")
        return cls(arrays[0], arrays[1], flags, valid)

    def label_diagnostics(self, labels: np.ndarray) -> dict[str, float]:
        """Over the valid samples: accuracy of `labels` and of the observed labels against the clean labels, and the
        fraction of `labels` that differ from the observed ones."""
        labels, keep = np.asarray(labels), self.valid
        return {
            "accuracy": float(np.mean(labels[keep] == self.clean[keep])),
            "observed_accuracy": float(np.mean(self.observed[keep] == self.clean[keep])),
            "changed": float(np.mean(labels[keep] != self.observed[keep])),
        }

    def matched_pairs(self) -> np.ndarray | None:
        """True where a valid sample's audio belongs to its own clip's class (None without nc flags)."""
        return None if self.nc_flags is None else ~self.nc_flags


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC-AUC of `scores` separating `positive` from the other samples (scikit-learn's); NaN when a group is empty."""
    positive = np.asarray(positive, dtype=bool)
    if positive.all() or not positive.any():
        return float("nan")
    return float(roc_auc_score(positive, np.asarray(scores, dtype=np.float64)))
