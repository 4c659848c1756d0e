"""The feature k-NN rectification votes in and the hybrid CE on noisy and rectified labels (eq. 18 of Han et al.)."""

import math

import torch
import torch.nn.functional as F


def rectification_features(f_v: torch.Tensor, f_a: torch.Tensor) -> torch.Tensor:
    """[z_v; z_a] / sqrt(2) with z the L2-normalised features: its cosine is the mean of the two modalities' cosines."""
    return torch.cat([F.normalize(f_v, dim=1), F.normalize(f_a, dim=1)], dim=1) / math.sqrt(2)


def hybrid_loss(logits: torch.Tensor, noisy: torch.Tensor, rectified: torch.Tensor, gamma: float) -> torch.Tensor:
    """(1 - gamma) CE(logits, noisy) + gamma CE(logits, rectified) (eq. 18; gamma 1 is CE on the rectified labels)."""
    if gamma == 1.0:
        return F.cross_entropy(logits, rectified)
    return (1 - gamma) * F.cross_entropy(logits, noisy) + gamma * F.cross_entropy(logits, rectified)
