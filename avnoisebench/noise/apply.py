"""The noise step of a build: a clean Benchmark plus label-noise configs (each crossed with every synthetic
correspondence level, if any) becomes a NoisyBenchmark, one training manifest and noise card per config."""

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from avnoisebench.dataset.benchmark import Benchmark, NoisyBenchmark, NoisyConfig
from avnoisebench.errors import AvnbError
from avnoisebench.noise.correspondence import CorrespondenceSpec, Mismatch, apply_correspondence_noise, combined_config
from avnoisebench.noise.labels import NoiseSpec, apply_label_noise


def _with_labels(table: pa.Table, labels: np.ndarray, is_noisy: np.ndarray) -> pa.Table:
    """A manifest with the observed `label` and `is_noisy` columns after `clean_label`."""
    at = table.schema.get_field_index("clean_label") + 1
    table = table.add_column(at, "label", pa.array(labels, type=pa.int64()))
    return table.add_column(at + 1, "is_noisy", pa.array(is_noisy, type=pa.bool_()))


def _with_pairs(table: pa.Table, audio_row: np.ndarray, nc_flag: np.ndarray) -> pa.Table:
    """A manifest whose `audio_clip_id` is taken from row `audio_row[i]`, with an `nc_flag` column after it."""
    at = table.schema.get_field_index("audio_clip_id")
    table = table.set_column(at, "audio_clip_id", table["audio_clip_id"].take(pa.array(audio_row)))
    return table.add_column(at + 1, "nc_flag", pa.array(nc_flag, type=pa.bool_()))


def _clean_test(benchmark: Benchmark, paired: bool) -> pa.Table:
    """The test manifest: clean labels, and (with correspondence noise) every row keeping its own audio."""
    n = benchmark.test.num_rows
    test = _with_labels(benchmark.test, benchmark.test["clean_label"].to_numpy(), np.zeros(n, dtype=bool))
    return _with_pairs(test, np.arange(n), np.zeros(n, dtype=bool)) if paired else test


def apply_noise(
    benchmark: Benchmark,
    labels: Sequence[NoiseSpec],
    correspondence: Sequence[CorrespondenceSpec] | None,
    seed: int,
) -> NoisyBenchmark:
    """Every label-noise config of `labels` (crossed with every correspondence level when `correspondence` is
    given, configs then named `ncNN-<label config>`) applied to the benchmark's training split, seeded by `seed`."""
    if not labels:
        raise AvnbError("no label-noise configs given; pass at least one (e.g. clean)")
    names = benchmark.class_names
    clean = benchmark.train["clean_label"].to_numpy()
    mismatches: list[Mismatch | None] = (
        [None]
        if correspondence is None
        else [apply_correspondence_noise(clean, len(names), level, seed) for level in correspondence]
    )
    labelled = [apply_label_noise(clean, len(names), spec, seed) for spec in labels]
    configs = []
    for mismatch in mismatches:
        for noisy in labelled:
            train = _with_labels(benchmark.train, noisy.labels, noisy.is_noisy)
            card = noisy.card(clean, names)
            if mismatch is not None:
                train = _with_pairs(train, mismatch.audio_row, mismatch.nc_flag)
                card = {
                    **card,
                    "config": combined_config(mismatch.spec, noisy.spec.name),
                    "label_config": noisy.spec.name,
                    "correspondence": mismatch.card(clean, names),
                }
            configs.append(NoisyConfig(card["config"], train, card))
    return NoisyBenchmark(benchmark, _clean_test(benchmark, correspondence is not None), tuple(configs), seed)
