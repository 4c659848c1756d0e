"""Shared ops: Sinkhorn codes and k-NN rectification, with the sanity checks of methods.md 2.12."""

import numpy as np
import pytest
import torch

from avnoisebench.noise.labels import NoiseSpec, apply_label_noise
from avnoisebench.ops import knn_rectify, sinkhorn, top_k_neighbours


def cosine_scores(batch: int, prototypes: int, dim: int = 128, seed: int = 0) -> torch.Tensor:
    """Scores as SwAV sees them: cosines of unit features to unit prototypes."""
    g = torch.Generator().manual_seed(seed)
    z = torch.nn.functional.normalize(torch.randn(batch, dim, generator=g), dim=1)
    c = torch.nn.functional.normalize(torch.randn(prototypes, dim, generator=g), dim=1)
    return z @ c.t()


def test_sinkhorn_rows_and_columns() -> None:
    scores = cosine_scores(64, 10)
    q = sinkhorn(scores)
    assert torch.allclose(q.sum(dim=1), torch.ones(64), atol=1e-5)
    assert torch.allclose(q.sum(dim=0), torch.full((10,), 6.4), rtol=0.05)
    exact = sinkhorn(scores, iterations=10)
    assert torch.allclose(exact.sum(dim=0), torch.full((10,), 6.4), rtol=1e-3)


def test_sinkhorn_permutes_with_the_batch_and_is_uniform_on_constant_scores() -> None:
    scores = torch.randn(32, 8, generator=torch.Generator().manual_seed(1))
    perm = torch.randperm(32, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(sinkhorn(scores)[perm], sinkhorn(scores[perm]), atol=1e-6)
    assert torch.allclose(sinkhorn(torch.zeros(16, 4)), torch.full((16, 4), 0.25))


def test_sinkhorn_passes_no_gradient() -> None:
    scores = torch.randn(8, 4, requires_grad=True)
    assert not sinkhorn(scores).requires_grad


def test_neighbours_exclude_self_and_match_brute_force() -> None:
    x = torch.randn(300, 5, generator=torch.Generator().manual_seed(3))
    index, sim = top_k_neighbours(x, 4, block_size=64)
    assert not (index == torch.arange(300)[:, None]).any()
    cos = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(x, dim=1).t()
    cos.fill_diagonal_(-2)
    expected = cos.topk(4, dim=1)
    assert torch.equal(index, expected.indices) and torch.allclose(sim, expected.values)


def test_k_of_one_returns_the_nearest_other_samples_label() -> None:
    x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = torch.tensor([0, 1, 2, 3])
    assert knn_rectify(x, labels, k=1, num_classes=4).tolist() == [1, 0, 3, 2]


def test_ties_keep_the_own_label_else_the_most_similar_class() -> None:
    x = torch.tensor([[1.0, 0.0], [0.99, 0.14], [0.95, 0.31], [0.0, 1.0]])
    labels = torch.tensor([2, 0, 1, 2])
    assert knn_rectify(x, labels, k=2, num_classes=3)[0] == 0
    assert knn_rectify(x, torch.tensor([0, 0, 1, 2]), k=2, num_classes=3)[2] == 0
    assert knn_rectify(x, torch.tensor([1, 0, 1, 2]), k=2, num_classes=3)[0] == 1


def test_rectification_repairs_symmetric_noise_on_blobs() -> None:
    rng = np.random.default_rng(0)
    k, n = 10, 200
    centres = rng.normal(size=(k, 16)) * 3
    clean = np.repeat(np.arange(k), n)
    x = torch.tensor(centres[clean] + rng.normal(size=(k * n, 16)), dtype=torch.float32)
    noisy = apply_label_noise(clean, k, NoiseSpec.parse("sym40"), seed=0).labels
    fixed = knn_rectify(x, torch.tensor(noisy), k=16, num_classes=k, block_size=512).numpy()
    assert (noisy == clean).mean() == pytest.approx(0.6)
    assert (fixed == clean).mean() > 0.9
