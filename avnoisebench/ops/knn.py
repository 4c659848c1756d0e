"""Cosine k-nearest neighbours over a whole training set, in memory-bounded blocks, and k-NN label rectification."""

import torch
import torch.nn.functional as F


@torch.no_grad()
def top_k_neighbours(
    features: torch.Tensor, k: int, block_size: int = 4096, keys: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices and cosine similarities (N, k) of each row's k most similar rows of `keys` (default: `features`
    itself, the row excluded), computed block by block so memory stays O(block_size x N)."""
    query = F.normalize(features.float(), dim=1)
    base = query if keys is None else F.normalize(keys.float(), dim=1)
    if k < 1 or k > base.shape[0] - (keys is None):
        raise ValueError(f"k = {k} neighbours asked among {base.shape[0]} samples")
    indices, similarities = [], []
    for start in range(0, query.shape[0], block_size):
        block = query[start : start + block_size] @ base.t()
        if keys is None:
            rows = torch.arange(block.shape[0])
            block[rows, rows + start] = float("-inf")
        values, index = block.topk(k, dim=1)
        indices.append(index)
        similarities.append(values)
    return torch.cat(indices), torch.cat(similarities)


@torch.no_grad()
def knn_rectify(
    features: torch.Tensor, labels: torch.Tensor, k: int, num_classes: int, block_size: int = 4096
) -> torch.Tensor:
    """Majority vote of each sample's k nearest other samples' (noisy) labels; ties keep the sample's own label
    when it is among the tied classes, else go to the tied class with the highest summed similarity."""
    index, similarity = top_k_neighbours(features, k, block_size)
    neighbour_labels = labels[index]
    votes = F.one_hot(neighbour_labels, num_classes).sum(dim=1)
    weight = torch.zeros(len(labels), num_classes, dtype=similarity.dtype).scatter_add_(1, neighbour_labels, similarity)
    tied = votes == votes.max(dim=1, keepdim=True).values
    own_tied = tied.gather(1, labels[:, None]).squeeze(1)
    best_by_weight = torch.where(tied, weight, torch.full_like(weight, float("-inf"))).argmax(dim=1)
    return torch.where(own_tied, labels, best_by_weight)
