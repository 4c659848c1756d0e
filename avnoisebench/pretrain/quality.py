"""How useful frozen encoder features are: k-NN test accuracy with the clean training labels as the bank, and the
hidden-truth accuracy of k-NN label correction on noisy training labels, per modality and fused."""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from avnoisebench.ops.knn import knn_rectify, top_k_neighbours
from avnoisebench.pretrain.encoders import MODALITIES, extract_features, load_encoders

FEATURES = (*MODALITIES, "fused")


@dataclass(frozen=True)
class Clips:
    """Decoded clips of one split with their clean labels (and observed, possibly noisy, labels where known): video
    uint8 (N, [V,] 3, T, H, W), log-mels (N, [V,] frames, mels), V views whose features are averaged."""

    video: np.ndarray
    logmel: np.ndarray
    clean_labels: np.ndarray
    observed_labels: np.ndarray | None = None


def clip_features(state: Mapping[str, torch.Tensor], model: str, clips: Clips) -> dict[str, torch.Tensor]:
    """L2-normalised video, audio and fused (both concatenated) features of frozen encoders over `clips`."""
    encoders = load_encoders(state, model)
    features = {m: extract_features(encoders[m], m, clips.video if m == "video" else clips.logmel) for m in MODALITIES}
    features["fused"] = F.normalize(torch.cat([features["video"], features["audio"]], dim=1), dim=1)
    return features


def knn_classify(query: torch.Tensor, bank: torch.Tensor, bank_labels: torch.Tensor, k: int) -> torch.Tensor:
    """Majority vote of each query's k most cosine-similar bank rows' labels; ties go to the highest summed
    similarity."""
    index, similarity = top_k_neighbours(query, k, keys=bank)
    neighbour_labels = bank_labels[index]
    num_classes = int(bank_labels.max()) + 1
    votes = F.one_hot(neighbour_labels, num_classes).sum(dim=1)
    weight = torch.zeros(len(query), num_classes).scatter_add_(1, neighbour_labels, similarity.float())
    tied = votes == votes.max(dim=1, keepdim=True).values
    return torch.where(tied, weight, torch.full_like(weight, float("-inf"))).argmax(dim=1)


def feature_quality(
    state: Mapping[str, torch.Tensor],
    model: str,
    train: Clips,
    test: Clips,
    noisy_train: Clips | None = None,
    k: int = 16,
) -> dict[str, dict[str, float]]:
    """`test_knn`: k-NN accuracy on `test` against `train` features with clean labels; with `noisy_train` (training
    clips as one config pairs and labels them), `correction`: accuracy against the clean labels of each sample's
    k nearest other samples' observed-label vote, beside the observed labels' own accuracy."""
    bank = clip_features(state, model, train)
    queries = clip_features(state, model, test)
    bank_labels = torch.as_tensor(np.asarray(train.clean_labels), dtype=torch.long)
    test_labels = torch.as_tensor(np.asarray(test.clean_labels), dtype=torch.long)
    report = {
        "test_knn": {
            name: _accuracy(knn_classify(queries[name], bank[name], bank_labels, k), test_labels) for name in FEATURES
        }
    }
    if noisy_train is not None:
        if noisy_train.observed_labels is None:
            raise ValueError("noisy_train needs observed_labels to measure label correction")
        features = clip_features(state, model, noisy_train)
        observed = torch.as_tensor(np.asarray(noisy_train.observed_labels), dtype=torch.long)
        clean = torch.as_tensor(np.asarray(noisy_train.clean_labels), dtype=torch.long)
        num_classes = int(max(observed.max(), clean.max())) + 1
        report["correction"] = {
            name: _accuracy(knn_rectify(features[name], observed, k, num_classes), clean) for name in FEATURES
        }
        report["correction"]["observed"] = _accuracy(observed, clean)
    return report


def _accuracy(predicted: torch.Tensor, truth: torch.Tensor) -> float:
    return round(float((predicted == truth).float().mean()), 4)
