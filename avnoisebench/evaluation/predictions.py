"""Load a predictions file and validate it against a benchmark folder's test split (OGB-style strict checks)."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from avnoisebench.dataset.folder import BenchmarkFolder, open_folder
from avnoisebench.errors import AvnbError
from avnoisebench.runs.predictions import COLUMNS, DEFAULT_NUM_VIEWS, EXPECTED_FORMAT, METADATA_KEY

_EXAMPLES = 3


@dataclass(frozen=True)
class TestSplit:
    """The identity and ground truth of a benchmark folder's test split."""

    folder: Path
    benchmark: str
    lock_sha256: str
    clip_ids: pa.Array
    labels: np.ndarray
    num_classes: int


@dataclass(frozen=True)
class Predictions:
    """Validated predictions: scores (N, V, K) and clean labels (N,) in the test manifest's order."""

    path: Path
    benchmark: str
    lock_sha256: str
    clip_ids: list[str]
    scores: np.ndarray
    labels: np.ndarray
    unscored: np.ndarray
    warnings: tuple[str, ...] = ()

    @property
    def num_views(self) -> int:
        """V, the number of views per clip."""
        return self.scores.shape[1]


def read_test_split(folder: Path | BenchmarkFolder) -> TestSplit:
    """The test split of a benchmark folder, after checking data/test.parquet against the lock file."""
    bench = open_folder(folder)
    table = bench.manifest(bench.config_names[0], "test", ["clip_id", "clean_label"])
    return TestSplit(
        folder=bench.path,
        benchmark=bench.name,
        lock_sha256=bench.lock_sha256,
        clip_ids=table["clip_id"].combine_chunks(),
        labels=table["clean_label"].to_numpy(),
        num_classes=bench.num_classes,
    )


def _reject(path: Path, problem: str, fix: str) -> AvnbError:
    return AvnbError(f"predictions file {path}: {problem}; {fix}.\n{EXPECTED_FORMAT}")


def _examples(items: Sequence[object]) -> str:
    shown = ", ".join(str(item) for item in items[:_EXAMPLES])
    return f"{shown}, ..." if len(items) > _EXAMPLES else shown


def _read(path: Path) -> pa.Table:
    if not path.is_file():
        raise AvnbError(f"predictions file {path} not found; pass the path of a predictions.parquet")
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise _reject(path, f"not a readable Parquet file ({exc})", "write it again") from exc


def _metadata(path: Path, table: pa.Table, test: TestSplit) -> tuple[int | None, list[str], list[str]]:
    """num_views declared in the file's metadata (None if absent), the unscored clip ids, and warnings; rejects
    a foreign benchmark."""
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        return (
            None,
            [],
            [
                f"{path} has no b'avnoisebench' schema metadata, so it cannot be checked against the benchmark's lock "
                f"hash; write it with write_predictions to record which benchmark it was predicted on"
            ],
        )
    try:
        meta = json.loads(raw)
        found, split, views = meta["lock_sha256"], meta.get("split", "test"), meta.get("num_views")
        unscored = [str(clip) for clip in meta.get("unscored", [])]
    except (json.JSONDecodeError, TypeError, KeyError) as exc:
        raise _reject(path, f"its b'avnoisebench' metadata is not the expected JSON ({exc})", "write it again") from exc
    if found != test.lock_sha256:
        raise _reject(
            path,
            f"it was predicted on benchmark {meta.get('benchmark')!r} with lock hash {found}, but {test.folder} "
            f"({test.benchmark}) has lock hash {test.lock_sha256}",
            "evaluate it against the benchmark folder it was predicted on, or predict again on this one",
        )
    if split != "test":
        raise _reject(path, f"it holds predictions for split {split!r}", "predict the test split")
    if views is not None and (not isinstance(views, int) or views < 1):
        raise _reject(path, f"its metadata num_views {views!r} is not a positive integer", "write it again")
    return views, unscored, []


def _type_ok(name: str, type_: pa.DataType) -> bool:
    if name == "clip_id":
        return pa.types.is_string(type_) or pa.types.is_large_string(type_)
    if name == "view":
        return pa.types.is_integer(type_)
    is_list = pa.types.is_list(type_) or pa.types.is_large_list(type_) or pa.types.is_fixed_size_list(type_)
    return is_list and pa.types.is_floating(type_.value_type)


def _check_columns(path: Path, table: pa.Table) -> None:
    schema = table.schema
    missing = [name for name in COLUMNS if name not in schema.names]
    if missing:
        raise _reject(path, f"missing column(s) {', '.join(missing)} (found {', '.join(schema.names)})", "add them")
    wrong = [f"{name} is {schema.field(name).type}" for name in COLUMNS if not _type_ok(name, schema.field(name).type)]
    if wrong:
        raise _reject(path, f"wrong column type(s): {', '.join(wrong)}", "use string, integer and list<float>")
    nulls = [f"{name} ({table[name].null_count})" for name in COLUMNS if table[name].null_count]
    if nulls:
        raise _reject(path, f"null values in {', '.join(nulls)}", "fill every row")


def _row_names(table: pa.Table, rows: np.ndarray) -> list[str]:
    ids, views = table["clip_id"], table["view"]
    return [f"{ids[int(i)].as_py()} view {views[int(i)].as_py()}" for i in rows[:_EXAMPLES]]


def _check_scores(path: Path, table: pa.Table, num_classes: int) -> np.ndarray:
    """The scores as a (rows, K) float array, after checking their length and finiteness."""
    scores = table["scores"].combine_chunks()
    lengths = pc.list_value_length(scores).to_numpy(zero_copy_only=False)
    wrong = np.flatnonzero(lengths != num_classes)
    if wrong.size:
        raise _reject(
            path,
            f"{wrong.size} row(s) have {lengths[wrong[0]]} scores but the benchmark has {num_classes} classes "
            f"(e.g. {_examples(_row_names(table, wrong))})",
            f"write {num_classes} scores per row, one per class",
        )
    values = pc.list_flatten(scores).to_numpy(zero_copy_only=False).astype(np.float64).reshape(-1, num_classes)
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if bad.size:
        raise _reject(
            path,
            f"{bad.size} row(s) have NaN, infinite or null scores (e.g. {_examples(_row_names(table, bad))})",
            "write finite scores",
        )
    return values


def _clip_index(path: Path, table: pa.Table, test: TestSplit) -> np.ndarray:
    """The position in the test manifest of every row's clip, after checking the clip set is exact."""
    ids = table["clip_id"].combine_chunks().cast(pa.string())
    missing = pc.filter(test.clip_ids, pc.invert(pc.is_in(test.clip_ids, value_set=ids))).to_pylist()
    if missing:
        raise _reject(
            path,
            f"{len(missing)} of the {len(test.clip_ids)} test clips of {test.folder} are missing "
            f"(e.g. {_examples(missing)})",
            "predict every clip of the test split",
        )
    index = pc.index_in(ids, value_set=test.clip_ids)
    if index.null_count:
        extra = pc.unique(pc.filter(ids, pc.is_null(index))).to_pylist()
        raise _reject(
            path,
            f"{len(extra)} clip id(s) are not in the test split of {test.folder} (e.g. {_examples(extra)})",
            "keep only the benchmark's test clips",
        )
    return index.to_numpy().astype(np.int64)


def _check_views(path: Path, clip: np.ndarray, view: np.ndarray, declared: int | None, test: TestSplit) -> int:
    """V, after checking every clip has views 0..V-1 exactly once."""
    counts = np.bincount(clip, minlength=len(test.clip_ids))
    num_views = declared or int(np.bincount(counts).argmax())
    names = test.clip_ids
    outside = np.flatnonzero((view < 0) | (view >= num_views))
    if outside.size:
        shown = [f"{names[int(clip[i])].as_py()} view {view[i]}" for i in outside]
        raise _reject(
            path,
            f"{outside.size} row(s) have a view outside 0..{num_views - 1} (e.g. {_examples(shown)})",
            f"number the views of each clip 0..{num_views - 1}",
        )
    keys, key_counts = np.unique(clip * num_views + view, return_counts=True)
    duplicated = keys[key_counts > 1]
    if duplicated.size:
        shown = [f"{names[int(k // num_views)].as_py()} view {k % num_views}" for k in duplicated]
        raise _reject(
            path,
            f"{duplicated.size} (clip_id, view) pair(s) appear more than once (e.g. {_examples(shown)})",
            "write each view of each clip once",
        )
    odd = np.flatnonzero(counts != num_views)
    if odd.size:
        shown = [f"{names[int(i)].as_py()} has {counts[i]}" for i in odd]
        raise _reject(
            path,
            f"{odd.size} clip(s) do not have the {num_views} views of the others (e.g. {_examples(shown)})",
            f"predict views 0..{num_views - 1} of every clip",
        )
    return num_views


def load_predictions(path: Path, folder: Path | BenchmarkFolder) -> Predictions:
    """Read a predictions file and check it against the test split of `folder`; one AvnbError per problem."""
    test = read_test_split(folder)
    table = _read(path)
    declared, unscored_ids, warnings = _metadata(path, table, test)
    _check_columns(path, table)
    values = _check_scores(path, table, test.num_classes)
    clip = _clip_index(path, table, test)
    view = table["view"].to_numpy().astype(np.int64)
    num_views = _check_views(path, clip, view, declared, test)
    if num_views != DEFAULT_NUM_VIEWS:
        warnings.append(
            f"{path} has {num_views} views per clip; the benchmark protocol uses {DEFAULT_NUM_VIEWS}, so V@1 "
            f"is not comparable with the paper's"
        )
    scores = np.empty((len(test.clip_ids), num_views, test.num_classes))
    scores[clip, view] = values
    unscored = pc.is_in(test.clip_ids, value_set=pa.array(unscored_ids, pa.string())).to_numpy(zero_copy_only=False)
    if unscored_ids and int(unscored.sum()) != len(set(unscored_ids)):
        raise _reject(path, "its metadata lists unscored clip ids that are not test clips", "write it again")
    if METADATA_KEY not in (table.schema.metadata or {}):
        placeholders = (scores == 0).all(axis=(1, 2))
        if placeholders.any():
            unscored = unscored | placeholders
            warnings.append(
                f"{int(placeholders.sum())} clip(s) have all-zero scores in every view, the placeholders written for "
                f"clips without decodable media; without metadata to say otherwise they count as errors"
            )
    if unscored.any():
        warnings.append(
            f"{int(unscored.sum())} of {len(unscored)} test clips had no decodable media when predicted; "
            f"they count as errors"
        )
    return Predictions(
        path=path,
        benchmark=test.benchmark,
        lock_sha256=test.lock_sha256,
        clip_ids=test.clip_ids.to_pylist(),
        scores=scores,
        labels=test.labels,
        unscored=unscored,
        warnings=tuple(warnings),
    )
