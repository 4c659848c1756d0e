"""Label noise: exact per-class counts, seeding, asymmetric class maps, uniform symmetric flips."""

import numpy as np
import pytest
from scipy import stats

from avnoisebench.errors import AvnbError
from avnoisebench.noise.labels import NoiseSpec, apply_label_noise, flip_counts, parse_noise_configs


def labels_of(sizes: list[int]) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.permutation(np.repeat(np.arange(len(sizes)), sizes))


@pytest.mark.parametrize("config", ["sym20", "sym40", "sym60", "sym80", "asym20", "asym40", "sym35", "asym45"])
def test_realised_rate_is_exact_per_class(config: str) -> None:
    sizes = [400, 397, 51, 3, 250, 120]
    clean = labels_of(sizes)
    spec = NoiseSpec.parse(config)
    noisy = apply_label_noise(clean, len(sizes), spec, seed=0)
    per_class = np.bincount(clean[noisy.is_noisy], minlength=len(sizes))
    expected = [int(np.floor(spec.rate * n + 0.5)) for n in sizes]
    assert per_class.tolist() == expected
    assert np.array_equal(noisy.is_noisy, noisy.labels != clean)


def test_same_seed_same_labels_and_other_seed_differs() -> None:
    clean = labels_of([300] * 10)
    spec = NoiseSpec.parse("sym40")
    first = apply_label_noise(clean, 10, spec, seed=3).labels
    assert np.array_equal(first, apply_label_noise(clean, 10, spec, seed=3).labels)
    assert not np.array_equal(first, apply_label_noise(clean, 10, spec, seed=4).labels)


def test_asymmetric_flips_follow_a_derangement() -> None:
    k = 12
    clean = labels_of([200] * k)
    noisy = apply_label_noise(clean, k, NoiseSpec.parse("asym40"), seed=1)
    target = noisy.class_map
    assert target is not None
    assert sorted(target.tolist()) == list(range(k))
    assert np.all(target != np.arange(k))
    cycle, c = [0], int(target[0])
    while c != 0:
        cycle.append(c)
        c = int(target[c])
    assert len(cycle) == k
    flipped = noisy.is_noisy
    assert np.array_equal(noisy.labels[flipped], target[clean[flipped]])


def test_symmetric_flips_are_uniform_over_other_classes() -> None:
    k, n = 10, 3000
    clean = labels_of([n] * k)
    noisy = apply_label_noise(clean, k, NoiseSpec.parse("sym60"), seed=5)
    statistic, dof = 0.0, 0
    for c in range(k):
        targets = noisy.labels[noisy.is_noisy & (clean == c)]
        assert c not in targets
        counts = np.bincount(targets, minlength=k)[np.arange(k) != c]
        statistic += stats.chisquare(counts).statistic
        dof += k - 2
    assert stats.chi2.sf(statistic, dof) > 1e-3


def test_noise_card_has_a_row_stochastic_realised_matrix() -> None:
    k = 5
    clean = labels_of([100] * k)
    noisy = apply_label_noise(clean, k, NoiseSpec.parse("asym20"), seed=0)
    card = noisy.card(clean, [f"c{i}" for i in range(k)])
    matrix = np.array(card["transition_matrix"])
    assert np.allclose(matrix.sum(axis=1), 1)
    assert np.allclose(np.diag(matrix), 0.8)
    assert card["realised_rate"] == 0.2 and card["num_noisy"] == 100
    assert card["class_map"] == {f"c{c}": f"c{t}" for c, t in enumerate(noisy.class_map)}


def test_clean_config_changes_nothing() -> None:
    clean = labels_of([10, 20])
    noisy = apply_label_noise(clean, 2, NoiseSpec.parse("clean"), seed=0)
    assert np.array_equal(noisy.labels, clean) and not noisy.is_noisy.any()


def test_flip_counts_round_halves_up() -> None:
    assert flip_counts(np.repeat([0, 1, 2], [5, 15, 1]), 3, 0.5).tolist() == [3, 8, 1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sym0", "outside"),
        ("sym100", "outside"),
        ("asym50", "below 0.5"),
        ("asym60", "below 0.5"),
        ("sym0.4", "not understood"),
        ("pairflip20", "not understood"),
    ],
)
def test_bad_noise_configs_are_refused(text: str, message: str) -> None:
    with pytest.raises(AvnbError, match=message):
        NoiseSpec.parse(text)


def test_rates_outside_the_unit_interval_are_refused() -> None:
    with pytest.raises(AvnbError, match="outside"):
        NoiseSpec("sym", 1.5)
    with pytest.raises(AvnbError, match="unknown"):
        NoiseSpec("uniform", 0.2)


def test_configs_default_then_extra_without_repeats() -> None:
    names = [s.name for s in parse_noise_configs(["sym50", "sym40", "asym10"])]
    assert names == ["clean", "sym20", "sym40", "sym60", "sym80", "asym20", "asym40", "sym50", "asym10"]


def test_labels_out_of_range_are_refused() -> None:
    with pytest.raises(AvnbError, match=r"\[0, 3\)"):
        apply_label_noise(np.array([0, 3]), 3, NoiseSpec.parse("sym20"), seed=0)
