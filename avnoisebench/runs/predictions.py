"""The predictions file of a run: Parquet rows (clip_id, view, scores) with the benchmark's identity in its schema
metadata. The harness writes it; evaluation validates it (`avnoisebench.evaluation.predictions`)."""

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from avnoisebench.dataset.folder import BenchmarkFolder, open_folder
from avnoisebench.dataset.layout import LOCK, TEST_FILE
from avnoisebench.errors import AvnbError
from avnoisebench.files import write_atomically

METADATA_KEY = b"avnoisebench"
DEFAULT_NUM_VIEWS = 10
COLUMNS = ("clip_id", "view", "scores")

EXPECTED_FORMAT = f"""\
Expected predictions file: Parquet, one row per (test clip, view), columns
  clip_id  string       a clip_id of the benchmark's {TEST_FILE}: every test clip, no other
  view     integer      0 .. V-1, each exactly once per clip (V = {DEFAULT_NUM_VIEWS} uniformly spaced clips by default)
  scores   list<float>  K finite class scores in class-index order (logits or log-probabilities: the evaluator
                        applies softmax); K = the benchmark's number of classes
and schema metadata key b"avnoisebench" = JSON {{"benchmark": name, "lock_sha256": sha256 of the folder's {LOCK},
"split": "test", "num_views": V, "unscored": [clip ids whose media could not be decoded; they count as errors]}}.
avnoisebench.runs.predictions.write_predictions writes exactly this."""


def write_predictions(
    path: Path,
    folder: Path | BenchmarkFolder,
    clip_ids: Sequence[str],
    scores: np.ndarray,
    unscored: Sequence[str] = (),
) -> Path:
    """Write scores (N, V, K) of the test clips `clip_ids` as a predictions file for `folder`, atomically;
    `unscored` names clips whose media could not be decoded (their rows are placeholders that count as errors)."""
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim != 3 or scores.shape[0] != len(clip_ids):
        raise AvnbError(
            f"predictions for {path}: scores must have shape (N, V, K) with N = {len(clip_ids)} clip ids; "
            f"got {scores.shape}"
        )
    num_clips, num_views, num_classes = scores.shape
    bench = open_folder(folder)
    name, digest = bench.name, bench.lock_sha256
    values = pa.FixedSizeListArray.from_arrays(pa.array(scores.reshape(-1)), num_classes)
    table = pa.table(
        {
            "clip_id": pa.array(np.repeat(np.asarray(clip_ids, dtype=object), num_views), pa.string()),
            "view": pa.array(np.tile(np.arange(num_views, dtype=np.int32), num_clips)),
            "scores": values.cast(pa.list_(pa.float32())),
        }
    )
    meta = {
        "benchmark": name,
        "lock_sha256": digest,
        "split": "test",
        "num_views": num_views,
        "unscored": sorted(unscored),
    }
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})
    return write_atomically(path, lambda tmp: pq.write_table(table, tmp))
