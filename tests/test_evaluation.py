"""Predictions files, their validator, C@1/C@5/V@1, the results log and `avnb evaluate`."""

import json
import multiprocessing
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from evalbench import CLASSES, NUM_TEST, NUM_VIEWS, long_table, manifest_ids, save, write_eval_benchmark
from typer.testing import CliRunner

from avnoisebench import __version__
from avnoisebench.cli.main import app
from avnoisebench.errors import AvnbError
from avnoisebench.evaluation.metrics import clip_video_metrics
from avnoisebench.evaluation.predictions import load_predictions
from avnoisebench.evaluation.results import ResultRecord, append_result, read_results
from avnoisebench.evaluation.scoring import evaluate_predictions
from avnoisebench.runs.config import InitRecord, RunConfig
from avnoisebench.runs.predictions import EXPECTED_FORMAT, write_predictions

K = len(CLASSES)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_eval_benchmark(tmp_path_factory.mktemp("bench") / "evalbench")


@pytest.fixture(scope="module")
def scores() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(NUM_TEST, NUM_VIEWS, K)).astype(np.float32)


@pytest.fixture
def valid(folder: Path, scores: np.ndarray) -> pa.Table:
    """A correct long table (no metadata) for the folder's test split."""
    return long_table(manifest_ids(folder), scores)


# --- writing and loading -------------------------------------------------------------------------------------------


def test_write_then_load_aligns_to_the_manifest(tmp_path: Path, folder: Path, scores: np.ndarray) -> None:
    ids = manifest_ids(folder)
    order = [3, 0, 5, 1, 4, 2]
    path = write_predictions(tmp_path / "p.parquet", folder, [ids[i] for i in order], scores[order])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.parquet"]
    meta = json.loads(pq.read_schema(path).metadata[b"avnoisebench"])
    assert meta["benchmark"] == "evalbench" and meta["split"] == "test" and meta["num_views"] == NUM_VIEWS
    loaded = load_predictions(path, folder)
    assert loaded.clip_ids == ids and loaded.scores.shape == (NUM_TEST, NUM_VIEWS, K)
    np.testing.assert_array_equal(loaded.scores, scores)
    np.testing.assert_array_equal(loaded.labels, [n % K for n in range(NUM_TEST)])
    assert loaded.warnings == () and loaded.num_views == NUM_VIEWS


def test_write_rejects_a_wrong_shape(tmp_path: Path, folder: Path, scores: np.ndarray) -> None:
    with pytest.raises(AvnbError, match=r"shape \(N, V, K\) with N = 5"):
        write_predictions(tmp_path / "p.parquet", folder, manifest_ids(folder)[:5], scores)


def _drop_clip(t: pa.Table) -> pa.Table:
    return t.filter(pc.not_equal(t["clip_id"], "test03"))


def _extra_clip(t: pa.Table) -> pa.Table:
    return pa.concat_tables([t, t.slice(0, NUM_VIEWS).set_column(0, "clip_id", pa.array(["intruder"] * NUM_VIEWS))])


def _duplicate_row(t: pa.Table) -> pa.Table:
    return pa.concat_tables([t, t.slice(12, 1)])


def _drop_view(t: pa.Table) -> pa.Table:
    return t.filter(pc.invert(pc.and_(pc.equal(t["clip_id"], "test02"), pc.equal(t["view"], 9))))


def _view_out_of_range(t: pa.Table) -> pa.Table:
    views = t["view"].to_pylist()
    views[19] = 10
    return t.set_column(1, "view", pa.array(views, pa.int64()))


def _replace_scores(t: pa.Table, rows: dict[int, list[float]]) -> pa.Table:
    values = t["scores"].to_pylist()
    for row, new in rows.items():
        values[row] = new
    return t.set_column(2, "scores", pa.array(values, pa.list_(pa.float64())))


def _column(t: pa.Table, name: str, array: pa.Array) -> pa.Table:
    return t.set_column(t.schema.get_field_index(name), name, array)


REJECTIONS: list[tuple[str, Callable[[pa.Table], pa.Table], str]] = [
    ("missing clip", _drop_clip, r"1 of the 6 test clips of .* are missing \(e\.g\. test03\)"),
    ("extra clip", _extra_clip, r"1 clip id\(s\) are not in the test split of .* \(e\.g\. intruder\)"),
    ("duplicate", _duplicate_row, r"1 \(clip_id, view\) pair\(s\) appear more than once \(e\.g\. test01 view 2\)"),
    ("short clip", _drop_view, r"1 clip\(s\) do not have the 10 views of the others \(e\.g\. test02 has 9\)"),
    ("view range", _view_out_of_range, r"1 row\(s\) have a view outside 0\.\.9 \(e\.g\. test01 view 10\)"),
    ("wrong K", lambda t: _replace_scores(t, {5: [0.0] * (K - 1)}), r"1 row\(s\) have 6 scores but .* 7 classes"),
    ("NaN", lambda t: _replace_scores(t, {0: [float("nan")] * K, 7: [float("inf")] * K}), r"2 row\(s\) have NaN"),
    ("null score", lambda t: _replace_scores(t, {3: [None] * K}), r"1 row\(s\) have NaN, infinite or null"),
    ("missing column", lambda t: t.drop_columns(["view"]), r"missing column\(s\) view"),
    (
        "view type",
        lambda t: _column(t, "view", pc.cast(t["view"], pa.string())),
        r"wrong column type\(s\): view is string",
    ),
    (
        "score type",
        lambda t: _column(t, "scores", pa.array([[1] * K] * t.num_rows, pa.list_(pa.int64()))),
        r"wrong column type\(s\): scores is list<element: int64>",
    ),
    (
        "clip type",
        lambda t: _column(t, "clip_id", pa.array(range(t.num_rows), pa.int64())),
        r"clip_id is int64",
    ),
    (
        "null clip id",
        lambda t: _column(t, "clip_id", pa.array([None] + t["clip_id"].to_pylist()[1:], pa.string())),
        r"null values in clip_id \(1\)",
    ),
]


@pytest.mark.parametrize(("mutate", "message"), [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS])
def test_validator_rejects(tmp_path: Path, folder: Path, valid: pa.Table, mutate: Callable, message: str) -> None:
    path = save(mutate(valid), tmp_path / "bad.parquet", folder)
    with pytest.raises(AvnbError, match=message) as caught:
        load_predictions(path, folder)
    text = str(caught.value)
    assert text.startswith(f"predictions file {path}: ") and text.endswith(EXPECTED_FORMAT)


def test_lock_hash_of_another_build_is_rejected(
    tmp_path: Path, folder: Path, scores: np.ndarray, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = write_eval_benchmark(tmp_path_factory.mktemp("other") / "evalbench", seed=1)
    path = write_predictions(tmp_path / "p.parquet", other, manifest_ids(other), scores)
    with pytest.raises(AvnbError, match=r"predicted on benchmark 'evalbench' with lock hash [0-9a-f]{64}, but"):
        load_predictions(path, folder)
    assert load_predictions(path, other).warnings == ()


def test_other_split_and_bad_metadata_are_rejected(tmp_path: Path, folder: Path, valid: pa.Table) -> None:
    with pytest.raises(AvnbError, match="predictions for split 'val'; predict the test split"):
        load_predictions(save(valid, tmp_path / "val.parquet", folder, split="val"), folder)
    broken = valid.replace_schema_metadata({b"avnoisebench": b"{not json"})
    with pytest.raises(AvnbError, match="metadata is not the expected JSON"):
        load_predictions(save(broken, tmp_path / "broken.parquet"), folder)


def test_declared_views_must_match(tmp_path: Path, folder: Path, valid: pa.Table) -> None:
    with pytest.raises(AvnbError, match=r"view outside 0\.\.7"):
        load_predictions(save(valid, tmp_path / "p.parquet", folder, num_views=8), folder)


def test_no_metadata_is_accepted_with_a_warning(tmp_path: Path, folder: Path, valid: pa.Table) -> None:
    loaded = load_predictions(save(valid, tmp_path / "bare.parquet"), folder)
    assert loaded.num_views == NUM_VIEWS
    [warning] = loaded.warnings
    assert "no b'avnoisebench' schema metadata" in warning and "lock hash" in warning


def test_views_are_inferred_without_metadata(tmp_path: Path, folder: Path, scores: np.ndarray) -> None:
    loaded = load_predictions(save(long_table(manifest_ids(folder), scores[:, :3]), tmp_path / "v3.parquet"), folder)
    assert loaded.scores.shape == (NUM_TEST, 3, K)
    assert any("3 views per clip; the benchmark protocol uses 10" in w for w in loaded.warnings)


def test_unreadable_files(tmp_path: Path, folder: Path) -> None:
    with pytest.raises(AvnbError, match="not found"):
        load_predictions(tmp_path / "absent.parquet", folder)
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet at all")
    with pytest.raises(AvnbError, match="not a readable Parquet file"):
        load_predictions(junk, folder)


def test_a_changed_test_manifest_is_refused(tmp_path: Path, scores: np.ndarray) -> None:
    folder = write_eval_benchmark(tmp_path / "evalbench")
    path = write_predictions(tmp_path / "p.parquet", folder, manifest_ids(folder), scores)
    table = pq.read_table(folder / "data" / "test.parquet")
    pq.write_table(
        table.set_column(5, "clean_label", pa.array([0] * NUM_TEST, pa.int64())), folder / "data/test.parquet"
    )
    with pytest.raises(AvnbError, match=r"differs from the folder.s lock \(avnb-lock.json\).*run `avnb verify"):
        load_predictions(path, folder)


# --- metrics -------------------------------------------------------------------------------------------------------


def test_metrics_by_hand() -> None:
    labels = np.array([0, 3, 5])
    scores = np.array(
        [
            # clip 0, label 0. view 0: class 0 on top (top-1, top-5). view 1: classes 1 and 2 above it, rank 2 (top-5).
            # Mean softmax: class 0 (0.967 + 0.000) / 2 = 0.484 > class 1 (0.007 + 0.881) / 2 = 0.442 -> right;
            # averaging logits instead would pick class 1 (15 > 2.5).
            [[5, 0, 0, 0, 0, 0], [0, 30, 28, 0, 0, 0]],
            # clip 1, label 3. view 0: 4 and 5 higher, rank 2. view 1: 0, 1, 2 higher, rank 3 (both top-5 only).
            # The mean softmax is symmetric, classes 0 and 5 tie on top -> class 0 -> wrong.
            [[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]],
            # clip 2, label 5. view 0: lowest score, rank 5 (outside top-5). view 1: top.
            # Mean softmax: class 5 (0.004 + 0.999) / 2 = 0.502 > class 0 (0.634 + 0.000) / 2 -> right.
            [[6, 5, 4, 3, 2, 1], [0, 0, 0, 0, 0, 9]],
        ],
        dtype=np.float64,
    )
    metrics = clip_video_metrics(scores, labels)
    # Top-1: clip 0 view 0, clip 2 view 1 = 2 of 6. Top-5: all but clip 2 view 0 = 5 of 6. Videos: clips 0 and 2.
    assert metrics == pytest.approx({"C@1": 100 * 2 / 6, "C@5": 100 * 5 / 6, "V@1": 100 * 2 / 3})


def test_ties_go_to_the_lower_class_index() -> None:
    flat = np.zeros((1, 1, 8))
    by_label = {label: clip_video_metrics(flat, np.array([label])) for label in (0, 1, 4, 5)}
    assert by_label[0] == {"C@1": 100.0, "C@5": 100.0, "V@1": 100.0}
    assert by_label[1] == {"C@1": 0.0, "C@5": 100.0, "V@1": 0.0}
    assert by_label[4]["C@5"] == 100.0 and by_label[5]["C@5"] == 0.0


def test_top5_with_fewer_than_five_classes_is_top_k() -> None:
    scores = np.array([[[3.0, 2.0, 1.0]], [[3.0, 2.0, 1.0]]])
    assert clip_video_metrics(scores, np.array([2, 1])) == {"C@1": 0.0, "C@5": 100.0, "V@1": 0.0}


def test_metrics_reject_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(N, V, K\)"):
        clip_video_metrics(np.zeros((2, 3)), np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        clip_video_metrics(np.zeros((1, 1, 3)), np.array([3]))


# --- results log ---------------------------------------------------------------------------------------------------


def _record(**changes: object) -> ResultRecord:
    fields = {
        "benchmark": "evalbench",
        "benchmark_lock_sha256": "a" * 64,
        "config": "sym20",
        "method": "m",
        "seed": 0,
        "metrics": {"C@1": 1.0, "C@5": 2.0, "V@1": 3.0},
        "run": None,
        "predictions": "/p.parquet",
        "date": "2026-01-01T00:00:00+00:00",
        "code_version": "0.1.0",
        "track": "cached",
    }
    return ResultRecord(**{**fields, **changes})


def test_results_round_trip(tmp_path: Path, folder: Path, scores: np.ndarray) -> None:
    path = write_predictions(tmp_path / "p.parquet", folder, manifest_ids(folder), scores)
    evaluated = evaluate_predictions(path, folder, "late-fusion", config="sym40", seed=3).record
    assert (evaluated.label_noise_mode, evaluated.label_noise_rate, evaluated.model) == ("sym", 0.4, None)
    log = tmp_path / "logs" / "results.jsonl"
    append_result(log, evaluated)
    append_result(log, _record(seed=1))
    assert read_results(log) == [evaluated, _record(seed=1)]
    stored = [json.loads(line)["predictions"] for line in log.read_text().splitlines()]
    assert stored[0] == "../p.parquet" and not any(Path(s).is_absolute() for s in stored)  # relative to the log
    assert evaluated.code_version.startswith(__version__) and evaluated.predictions == str(path.resolve())
    assert datetime.fromisoformat(evaluated.date).utcoffset().total_seconds() == 0
    with log.open("a") as handle:
        handle.write('{"benchmark": "torn')
    with pytest.warns(UserWarning, match="incomplete record"):
        assert len(read_results(log)) == 2
    append_result(log, _record(seed=2))
    assert [r.seed for r in read_results(log)] == [3, 1, 2]  # the torn line was cut before the append


def test_a_record_of_identical_settings_and_seed_supersedes_the_earlier_one(tmp_path: Path) -> None:
    log = tmp_path / "results.jsonl"
    assert append_result(log, _record(epochs=6)) == []
    assert append_result(log, _record(epochs=60)) == []  # another budget: another row
    assert append_result(log, _record(epochs=6, metrics={"C@1": 9.0, "C@5": 9.0, "V@1": 9.0})) == [_record(epochs=6)]


def test_format_1_records_are_migrated_to_structured_fields(tmp_path: Path) -> None:
    old = {k: v for k, v in vars(_record()).items() if k not in ("method_options", "variant", "format")}
    log = tmp_path / "results.jsonl"
    lines = [
        {**old, "benchmark": "mini-kinetics-nc30", "config": "sym40", "method": "ntl[ablation=ins, gamma=0.2]"},
        {**old, "benchmark": "av-mnist", "config": "nc20-asym40", "options": {"k": 8}, "run": "runs/x"},
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    kinetics, mnist = read_results(log)
    assert (kinetics.benchmark_family, kinetics.benchmark_variant, kinetics.correspondence) == (
        "mini-kinetics",
        "nc30",
        30,
    )
    assert (kinetics.correspondence_kind, kinetics.label_noise_mode, kinetics.label_noise_rate) == ("real", "sym", 0.4)
    assert (kinetics.method, kinetics.variant, kinetics.label) == (
        "ntl",
        {"ablation": "ins", "gamma": 0.2},
        lines[0]["method"],
    )
    assert (mnist.correspondence, mnist.correspondence_kind, mnist.label_noise_mode) == (20, "synthetic", "asym")
    assert mnist.method_options == {"k": 8} and mnist.run == str(tmp_path / "runs" / "x")


def test_results_log_errors(tmp_path: Path) -> None:
    log = tmp_path / "results.jsonl"
    with pytest.raises(AvnbError, match="not found"):
        read_results(log)
    with pytest.raises(AvnbError, match="is a folder"):
        read_results(tmp_path)
    log.write_text("{oops\n" + json.dumps(vars(_record())) + "\n")
    with pytest.raises(AvnbError, match="line 1 is not a JSON object"):
        read_results(log)
    log.write_text(json.dumps({"benchmark": "x", "format": 2}) + "\n")
    with pytest.raises(AvnbError, match="record 1 is not a result record .missing benchmark_lock_sha256"):
        read_results(log)
    log.write_text(json.dumps({**vars(_record()), "metrics": {"C@1": 1}}) + "\n")
    with pytest.raises(AvnbError, match="metrics must hold numbers C@1, C@5, V@1"):
        read_results(log)


def _append_many(log: Path, worker: int) -> None:
    for seed in range(50):
        append_result(log, _record(seed=seed, method=f"worker{worker}", predictions="x" * 5000))


def test_parallel_appends_keep_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "results.jsonl"
    workers = [multiprocessing.get_context("fork").Process(target=_append_many, args=(log, w)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    records = read_results(log)
    assert len(records) == 200 and len(log.read_text().splitlines()) == 200


# --- avnb evaluate ---------------------------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_evaluates_a_predictions_file(tmp_path: Path, folder: Path, scores: np.ndarray) -> None:
    path = write_predictions(tmp_path / "p.parquet", folder, manifest_ids(folder), scores)
    log = tmp_path / "results.jsonl"
    common = ["evaluate", str(path), "--benchmark", str(folder), "--method-name", "late-fusion", "--results", str(log)]
    done = runner.invoke(app, [*common, "--config", "sym20", "--seed", "0"])
    assert done.exit_code == 0, done.output
    expected = clip_video_metrics(load_predictions(path, folder).scores, [n % K for n in range(NUM_TEST)])
    line = "  ".join(f"{m} {v:.2f}" for m, v in expected.items())
    assert f"evalbench sym20 late-fusion seed 0: {line}" in done.stdout and f"appended to {log}" in done.stdout
    as_json = runner.invoke(app, [*common, "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == expected
    assert "no noise config given" in as_json.stderr
    assert [(r.config, r.seed) for r in read_results(log)] == [("sym20", 0), (None, None)]


def run_config(folder: Path, **changes: object) -> RunConfig:
    """A run config as the harness writes it, for a run folder made by hand."""
    values = {
        "benchmark": "evalbench",
        "benchmark_family": "evalbench",
        "benchmark_variant": None,
        "benchmark_lock_sha256": "x",
        "config": "sym40",
        "label_noise_mode": "sym",
        "label_noise_rate": 0.4,
        "correspondence": None,
        "correspondence_kind": None,
        "method": "late-fusion",
        "method_options": {},
        "model": "small",
        "init": InitRecord("b" * 64, "simclr-small", {"epochs": 3}),
        "track": "cached",
        "seed": 2,
        "epochs": 7,
        "batch_size": 16,
        "lr": 1e-3,
        "decoding": {},
        "benchmark_folder": str(folder),
        "code_version": "0.1.0+abc",
    }
    return RunConfig(**{**values, **changes})


def test_cli_evaluates_a_run_folder(tmp_path: Path, folder: Path, scores: np.ndarray) -> None:
    run = tmp_path / "run"
    run.mkdir()
    run_config(folder).write(run / "config.json")
    write_predictions(run / "predictions.parquet", folder, manifest_ids(folder), scores)
    done = runner.invoke(app, ["evaluate", str(run), "--results", str(tmp_path / "r.jsonl"), "--name", "mine"])
    assert done.exit_code == 0, done.output
    [record] = read_results(tmp_path / "r.jsonl")
    assert (record.config, record.seed, record.track, record.run_code_version) == ("sym40", 2, "cached", "0.1.0+abc")
    assert (record.model, record.epochs, record.lr, record.init_sha256) == ("small", 7, 1e-3, "b" * 64)
    assert record.init_card == {"epochs": 3} and record.label == "mine"
    assert record.run == str(run.resolve())
    again = runner.invoke(app, ["evaluate", str(run), "--results", str(tmp_path / "r.jsonl"), "--name", "mine"])
    assert "supersedes the earlier record of identical settings" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--benchmark", "{folder}"], "needs --benchmark FOLDER and --method-name NAME"),
        (["--benchmark", "{folder}", "--method-name", "m", "--config", "sym90"], "has no config 'sym90'; its configs"),
        (["--benchmark", "{folder}", "--method-name", " "], "the method name is empty"),
        (["--benchmark", "{tmp}", "--method-name", "m"], "is not an avnoisebench benchmark folder"),
    ],
)
def test_cli_evaluate_errors(tmp_path: Path, folder: Path, valid: pa.Table, args: list[str], message: str) -> None:
    path = save(valid, tmp_path / "p.parquet", folder)
    argv = ["evaluate", str(path), *(a.format(folder=folder, tmp=tmp_path) for a in args)]
    done = runner.invoke(app, [*argv, "--results", str(tmp_path / "r.jsonl")])
    assert done.exit_code == 2 and message in done.stderr and "Traceback" not in done.output
    assert not (tmp_path / "r.jsonl").exists()


def test_cli_rejects_bad_predictions_and_run_folders(tmp_path: Path, folder: Path, valid: pa.Table) -> None:
    bad = save(_drop_clip(valid), tmp_path / "bad.parquet", folder)
    done = runner.invoke(app, ["evaluate", str(bad), "--benchmark", str(folder), "--method-name", "m"])
    assert done.exit_code == 2 and "are missing" in done.stderr and "Expected predictions file" in done.stderr
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"benchmark_folder": str(tmp_path / "gone"), "config": "clean"}))
    done = runner.invoke(app, ["evaluate", str(run)])
    assert done.exit_code == 2 and "is not a run config of format 2" in done.stderr
    run_config(tmp_path / "gone").write(run / "config.json")
    done = runner.invoke(app, ["evaluate", str(run)])
    assert done.exit_code == 2 and "which does not exist here" in done.stderr and "--benchmark FOLDER" in done.stderr
    done = runner.invoke(app, ["evaluate", str(run), "--seed", "4"])
    assert done.exit_code == 2 and "--seed come(s) from" in done.stderr


def test_unscored_clips_count_as_errors(tmp_path: Path, folder: Path) -> None:
    ids = manifest_ids(folder)
    labels = load_predictions(
        write_predictions(tmp_path / "a.parquet", folder, ids, np.zeros((NUM_TEST, 2, K))), folder
    ).labels
    perfect = np.eye(K)[labels][:, None, :].repeat(2, axis=1) * 5.0
    full = evaluate_predictions(write_predictions(tmp_path / "b.parquet", folder, ids, perfect), folder, "m")
    assert full.record.metrics == {"C@1": 100.0, "C@5": 100.0, "V@1": 100.0}
    path = write_predictions(tmp_path / "c.parquet", folder, ids, perfect, unscored=ids[:2])
    loaded = load_predictions(path, folder)
    assert loaded.unscored.tolist() == [True, True] + [False] * (NUM_TEST - 2)
    assert any("2 of 6 test clips had no decodable media" in w for w in loaded.warnings)
    metrics = evaluate_predictions(path, folder, "m").record.metrics
    assert metrics == pytest.approx({"C@1": 400 / 6, "C@5": 400 / 6, "V@1": 400 / 6})
    with pytest.raises(AvnbError, match="unscored clip ids that are not test clips"):
        load_predictions(write_predictions(tmp_path / "d.parquet", folder, ids, perfect, unscored=["nope"]), folder)


def test_the_expected_format_in_an_error_is_shown_as_written(tmp_path: Path, folder: Path, valid: pa.Table) -> None:
    bad = save(_drop_clip(valid), tmp_path / "bad.parquet", folder)
    done = runner.invoke(app, ["evaluate", str(bad), "--benchmark", str(folder), "--method-name", "m"])
    assert done.exit_code == 2 and EXPECTED_FORMAT in done.stderr  # rich markup such as [clip ids ...] is escaped
    assert '"unscored": [clip ids whose media could not be decoded; they count as errors]}' in done.stderr
    assert '"unscored": }' not in done.stderr


def test_cli_warns_in_one_line_of_a_torn_results_log(tmp_path: Path, folder: Path, scores: np.ndarray) -> None:
    path = write_predictions(tmp_path / "p.parquet", folder, manifest_ids(folder), scores)
    log = tmp_path / "results.jsonl"
    log.write_text('{"benchmark": "torn')
    done = runner.invoke(
        app, ["evaluate", str(path), "--benchmark", str(folder), "--method-name", "m", "--results", str(log)]
    )
    assert done.exit_code == 0 and "UserWarning" not in done.stderr
    assert f"warning: {log} line 1 is an incomplete record" in done.stderr


def test_cli_scores_of_a_run_without_scores_says_so(tmp_path: Path, folder: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    run_config(folder).write(run / "config.json")
    done = runner.invoke(app, ["scores", str(run)])
    assert done.exit_code == 2 and "Traceback" not in done.output
    assert f"{run} has no per-sample scores named 'omega' (it kept: none); only methods that score samples" in (
        done.stderr
    )
    done = runner.invoke(app, ["scores", str(tmp_path)])
    assert done.exit_code == 2 and f"{tmp_path} is not a run folder (no config.json)" in done.stderr
