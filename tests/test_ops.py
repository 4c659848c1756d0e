"""Shared ops: Sinkhorn codes and k-NN rectification, with the sanity checks of methods.md 2.12."""

import numpy as np
import pytest
import torch

from avnoisebench.noise.labels import NoiseSpec, apply_label_noise
from avnoisebench.ops import knn_rectify, sinkhorn, top_k_neighbours
from avnoisebench.ops.knn import GROUP, block_size_for, faiss_available, neighbour_vote


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


def brute_force(x: torch.Tensor, k: int, keys: torch.Tensor | None = None) -> torch.return_types.topk:
    """The k largest cosines of each row from the whole similarity matrix (the row itself excluded without keys)."""
    unit = torch.nn.functional.normalize(x, dim=1)
    cos = unit @ (unit if keys is None else torch.nn.functional.normalize(keys, dim=1)).t()
    if keys is None:
        cos.fill_diagonal_(-2)
    return cos.topk(k, dim=1)


def assert_same_neighbours(found: tuple[torch.Tensor, torch.Tensor], expected: torch.return_types.topk) -> None:
    """Same neighbour set in every row and the same similarities, most similar first."""
    index, similarity = found
    assert torch.equal(index.sort(dim=1).values, expected.indices.sort(dim=1).values)
    assert torch.allclose(similarity, expected.values, atol=1e-6)


@pytest.mark.parametrize(
    ("block_size", "memory_bytes"), [(None, 256 * 2**20), (None, 2**20), (16, 0), (48, 0), (100, 0), (1024, 0)]
)
def test_neighbours_do_not_depend_on_the_tiles(block_size: int | None, memory_bytes: int) -> None:
    x = torch.randn(1500, 16, generator=torch.Generator().manual_seed(4))
    found = top_k_neighbours(x, 10, block_size, memory_bytes=memory_bytes, backend="torch")
    assert_same_neighbours(found, brute_force(x, 10))
    assert not (found[0] == torch.arange(1500)[:, None]).any()


@pytest.mark.parametrize("threads", [2, 3])
def test_worker_threads_find_the_same_neighbours(threads: int) -> None:
    x = torch.randn(1400, 16, generator=torch.Generator().manual_seed(10))
    y = torch.randn(900, 16, generator=torch.Generator().manual_seed(11))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        found = top_k_neighbours(x, 8, 208, backend="torch"), top_k_neighbours(x, 8, 208, keys=y, backend="torch")
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)
    assert_same_neighbours(found[0], brute_force(x, 8))
    assert_same_neighbours(found[1], brute_force(x, 8, y))


@pytest.mark.parametrize(("queries", "keys", "block_size"), [(700, 1300, None), (1300, 700, 64), (5, 40, 16)])
def test_neighbours_among_other_keys_match_brute_force(queries: int, keys: int, block_size: int | None) -> None:
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(queries, 12, generator=g), torch.randn(keys, 12, generator=g)
    found = top_k_neighbours(x, 7, block_size, keys=y, backend="torch")
    assert_same_neighbours(found, brute_force(x, 7, y))


def test_every_other_sample_can_be_a_neighbour() -> None:
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(6))
    assert_same_neighbours(top_k_neighbours(x, 49, backend="torch"), brute_force(x, 49))


def test_duplicates_exclude_only_the_row_itself() -> None:
    x = torch.randn(100, 4, generator=torch.Generator().manual_seed(7)).repeat(5, 1)
    index, similarity = top_k_neighbours(x, 4, block_size=64, backend="torch")
    rows = torch.arange(500)[:, None]
    assert not (index == rows).any()
    assert torch.equal(index % 100, (rows % 100).expand(-1, 4))
    assert torch.allclose(similarity, torch.ones(500, 4))


@pytest.mark.parametrize(("memory_bytes", "rows"), [(256 * 2**20, 20000), (2**20, 1000), (2**20, 5), (0, 100)])
def test_tile_side_fits_the_memory_budget(memory_bytes: int, rows: int) -> None:
    side = block_size_for(memory_bytes, rows)
    tiles = -(-rows // side)
    assert side % GROUP == 0 and side >= GROUP
    assert side == GROUP or side * side * 4 <= memory_bytes
    assert tiles * side - rows < tiles * GROUP


def test_bad_k_and_backend_are_refused() -> None:
    x = torch.randn(10, 3)
    for k in (0, 10):
        with pytest.raises(ValueError, match="neighbours asked among 10"):
            top_k_neighbours(x, k)
    with pytest.raises(ValueError, match="neighbours asked among 3"):
        top_k_neighbours(x, 4, keys=x[:3])
    with pytest.raises(ValueError, match="backend 'annoy'"):
        top_k_neighbours(x, 2, backend="annoy")


def test_asking_for_faiss_without_it_says_how_to_install_it() -> None:
    if faiss_available():
        pytest.skip("faiss is installed")
    with pytest.raises(ValueError, match="pip install faiss-cpu"):
        top_k_neighbours(torch.randn(10, 3), 2, backend="faiss")


def test_faiss_finds_the_same_neighbours() -> None:
    pytest.importorskip("faiss")
    g = torch.Generator().manual_seed(8)
    x, y = torch.randn(900, 10, generator=g), torch.randn(300, 10, generator=g)
    assert_same_neighbours(top_k_neighbours(x, 6, backend="faiss"), brute_force(x, 6))
    assert_same_neighbours(top_k_neighbours(x, 6, keys=y, backend="faiss"), brute_force(x, 6, y))


def test_rectification_is_the_vote_of_the_neighbours_whatever_the_tiles() -> None:
    g = torch.Generator().manual_seed(9)
    x, labels = torch.randn(1200, 8, generator=g), torch.randint(0, 5, (1200,), generator=g)
    expected = brute_force(x, 9)
    voted = neighbour_vote(expected.indices, expected.values, labels, 5)
    for block_size in (None, 32, 400):
        assert torch.equal(knn_rectify(x, labels, 9, 5, block_size, backend="torch"), voted)


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
