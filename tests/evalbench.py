"""A small benchmark folder for evaluation tests (7 classes, 6 test clips) and predictions files built by hand."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from avnoisebench.dataset.benchmark import Benchmark, manifest_table
from avnoisebench.dataset.folder import BenchmarkFolder
from avnoisebench.dataset.write import write_benchmark
from avnoisebench.evaluation.predictions import METADATA_KEY
from avnoisebench.noise.apply import apply_noise
from avnoisebench.noise.labels import parse_noise_configs

CLASSES = ("clap", "drum", "flute", "guitar", "harp", "piano", "violin")
NUM_TEST = 6
NUM_VIEWS = 10


def _rows(split: str, count: int) -> dict[str, list]:
    ids = [f"{split}{n:02d}" for n in range(count)]
    labels = [n % len(CLASSES) for n in range(count)]
    return {
        "clip_id": ids,
        "youtube_id": ids,
        "time_start": [0] * count,
        "time_end": [10] * count,
        "class_name": [CLASSES[label] for label in labels],
        "clean_label": labels,
        "path": [f"eval/{clip}.mp4" for clip in ids],
        "audio_clip_id": ids,
        "source_split": ["train" if split == "train" else "val"] * count,
    }


def write_eval_benchmark(out: Path, seed: int = 0) -> Path:
    """A benchmark folder named `evalbench` with configs clean, sym20, sym40."""
    benchmark = Benchmark(
        name="evalbench",
        title="Evaluation test benchmark",
        description="Seven classes, six test clips.",
        class_names=list(CLASSES),
        train=manifest_table(_rows("train", 3 * len(CLASSES))),
        test=manifest_table(_rows("test", NUM_TEST)),
        sources=(),
        recipe={},
        homepage="",
        license="",
    )
    noise = parse_noise_configs(defaults=("clean", "sym20", "sym40"))
    return write_benchmark(apply_noise(benchmark, noise, None, seed), out)


def manifest_ids(folder: Path) -> list[str]:
    """The test clip ids of a folder, in manifest order."""
    return pq.read_table(folder / "data" / "test.parquet")["clip_id"].to_pylist()


def long_table(clip_ids: list[str], scores: np.ndarray) -> pa.Table:
    """Rows (clip_id, view, scores) for scores (N, V, K), without metadata."""
    n, v, _ = scores.shape
    return pa.table(
        {
            "clip_id": [clip for clip in clip_ids for _ in range(v)],
            "view": pa.array([view for _ in range(n) for view in range(v)], pa.int64()),
            "scores": pa.array([list(map(float, row)) for row in scores.reshape(n * v, -1)], pa.list_(pa.float64())),
        }
    )


def save(table: pa.Table, path: Path, folder: Path | None = None, **meta: object) -> Path:
    """Write `table` as Parquet; with `folder`, add the avnoisebench metadata of that folder (`meta` overrides)."""
    if folder is not None:
        bench = BenchmarkFolder(folder)
        fields = {
            "benchmark": bench.name,
            "lock_sha256": bench.lock_sha256,
            "split": "test",
            "num_views": NUM_VIEWS,
            **meta,
        }
        table = table.replace_schema_metadata({METADATA_KEY: json.dumps(fields).encode()})
    pq.write_table(table, path)
    return path
