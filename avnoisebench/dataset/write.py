"""Write a benchmark folder atomically: noisy-label manifests, noise cards, dataset card, lock file."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from avnoisebench import __version__
from avnoisebench.dataset.benchmark import Benchmark
from avnoisebench.dataset.card import features_json, render_card
from avnoisebench.dataset.layout import CARD, LOCK, TEST_FILE, noise_card_file, train_file
from avnoisebench.errors import AvnbError
from avnoisebench.hashing import sha256_bytes
from avnoisebench.noise.correspondence import CorrespondenceSpec, Mismatch, apply_correspondence_noise, combined_config
from avnoisebench.noise.labels import NoiseSpec, apply_label_noise


def check_destination(out_dir: Path, overwrite: bool) -> None:
    """Refuse an existing destination unless `overwrite`, and never replace a folder this tool did not write."""
    if not out_dir.exists():
        return
    if not overwrite:
        raise AvnbError(f"{out_dir} already exists; pass --overwrite to replace it, or choose another output folder")
    if not out_dir.is_dir() or not (out_dir / LOCK).is_file() and any(out_dir.iterdir()):
        raise AvnbError(
            f"{out_dir} exists and is not an avnoisebench benchmark folder; it is left untouched even with "
            f"--overwrite: move it away or choose another output folder"
        )


def with_labels(table: pa.Table, labels: np.ndarray, is_noisy: np.ndarray) -> pa.Table:
    """A manifest with the observed `label` and `is_noisy` columns after `clean_label`."""
    at = table.schema.get_field_index("clean_label") + 1
    table = table.add_column(at, "label", pa.array(labels, type=pa.int64()))
    return table.add_column(at + 1, "is_noisy", pa.array(is_noisy, type=pa.bool_()))


def with_pairs(table: pa.Table, audio_row: np.ndarray, nc_flag: np.ndarray) -> pa.Table:
    """A manifest whose `audio_clip_id` is taken from row `audio_row[i]`, with an `nc_flag` column after it."""
    at = table.schema.get_field_index("audio_clip_id")
    table = table.set_column(at, "audio_clip_id", table["audio_clip_id"].take(pa.array(audio_row)))
    return table.add_column(at + 1, "nc_flag", pa.array(nc_flag, type=pa.bool_()))


def _unchanged(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The pairing of a split without correspondence noise: every row keeps its own audio."""
    return np.arange(n), np.zeros(n, dtype=bool)


class _FolderWriter:
    """Writes files under a temporary folder and keeps the SHA-256 of each."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.digests: dict[str, str] = {}

    def write(self, relative: str, data: bytes) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.digests[relative] = sha256_bytes(data)

    def parquet(self, relative: str, table: pa.Table) -> None:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        self.write(relative, sink.getvalue().to_pybytes())

    def json(self, relative: str, value: dict) -> None:
        """A JSON object with one top-level key per line (values compact, so large matrices encode fast)."""
        lines = ",\n".join(f" {json.dumps(key)}: {json.dumps(item)}" for key, item in value.items())
        self.write(relative, ("{\n" + lines + "\n}\n").encode())


def _publish(tmp: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.replace(tmp, out_dir)
        return
    old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
    os.replace(out_dir, old)
    try:
        os.replace(tmp, out_dir)
    except BaseException:
        os.replace(old, out_dir)
        raise
    shutil.rmtree(old)


def write_benchmark(
    benchmark: Benchmark,
    out_dir: Path,
    noise: list[NoiseSpec],
    seed: int,
    overwrite: bool = False,
    correspondence: list[CorrespondenceSpec] | None = None,
) -> Path:
    """Add each label-noise config (crossed with each synthetic correspondence level, if any) to `benchmark` and
    write the folder at `out_dir`, all or nothing."""
    if not noise:
        raise AvnbError("no label-noise configs given; pass at least one (e.g. clean)")
    check_destination(out_dir, overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        files = _FolderWriter(tmp)
        names = benchmark.class_names
        clean = benchmark.train["clean_label"].to_numpy()
        test_clean = benchmark.test["clean_label"].to_numpy()
        test = with_labels(benchmark.test, test_clean, np.zeros(len(test_clean), dtype=bool))
        if correspondence is not None:
            test = with_pairs(test, *_unchanged(len(test_clean)))
        meta = {b"huggingface": json.dumps({"info": {"features": features_json(test.schema, names)}}).encode()}
        test = test.replace_schema_metadata(meta)
        files.parquet(TEST_FILE, test)
        mismatches: list[Mismatch | None] = (
            [None]
            if correspondence is None
            else [apply_correspondence_noise(clean, len(names), level, seed) for level in correspondence]
        )
        labelled = [apply_label_noise(clean, len(names), spec, seed) for spec in noise]
        cards, stats = [], {}
        for mismatch in mismatches:
            for noisy in labelled:
                train = with_labels(benchmark.train, noisy.labels, noisy.is_noisy)
                card = noisy.card(clean, names)
                if mismatch is not None:
                    train = with_pairs(train, mismatch.audio_row, mismatch.nc_flag)
                    card = {
                        **card,
                        "config": combined_config(mismatch.spec, noisy.spec.name),
                        "label_config": noisy.spec.name,
                        "correspondence": mismatch.card(clean, names),
                    }
                name = card["config"]
                files.parquet(train_file(name), train.replace_schema_metadata(meta))
                files.json(noise_card_file(name), card)
                cards.append(card)
                stats[name] = {"train": (train.num_rows, train.nbytes), "test": (test.num_rows, test.nbytes)}
        files.write(CARD, render_card(benchmark, test.schema, stats, cards, seed).encode())
        lock = {
            "avnoisebench": __version__,
            "benchmark": benchmark.name,
            "inputs": [vars(s) for s in benchmark.sources],
            "files": dict(sorted(files.digests.items())),
        }
        files.json(LOCK, lock)
        _publish(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
