"""Results as data: `avnoisebench.load_results` (one row per record in force, from a log, several or a folder),
several logs merged (a cell in two logs: the later one, with a warning), and the analysis example of
docs/evaluation.md run as written."""

import contextlib
import io
import re
import warnings
from pathlib import Path

import pytest
from test_leaderboard import result

import avnoisebench
from avnoisebench.errors import AvnbError
from avnoisebench.evaluation.results import SETUP_FIELDS, append_result, read_logs
from avnoisebench.noise.correspondence import CorrespondenceSpec
from avnoisebench.noise.labels import NoiseSpec
from avnoisebench.recipes.synthetic_av import SyntheticAvOptions, build_synthetic_av
from avnoisebench.report.entries import aggregate

DOCS = Path(__file__).resolve().parents[1] / "docs" / "evaluation.md"


def write_log(path: Path, records: list) -> Path:
    for record in records:
        append_result(path, record)
    return path


def test_one_row_per_record_in_force(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "results.jsonl",
        [
            result("late-fusion", "sym20", 0, 1.0, 2.0, 3.0, epochs=6),  # superseded by the next line
            result("late-fusion", "sym20", 0, 60.0, 80.0, 70.0, epochs=6, run=str(tmp_path / "runs" / "a")),
            result("ntl", "sym20", 0, 65.0, 85.0, 75.0, variant={"gamma": 0.5}),
        ],
    )
    frame = avnoisebench.load_results(log)
    assert len(frame) == 2 and list(frame["label"]) == ["late-fusion", "ntl[gamma=0.5]"]
    assert {*SETUP_FIELDS, "seed", "C@1", "C@5", "V@1", "date", "log", "run"} <= set(frame.columns)
    assert "metrics" not in frame.columns and frame["V@1"].tolist() == [70.0, 75.0]
    assert frame["date"].dt.tz is not None and frame["log"].tolist() == [str(log)] * 2
    assert frame.loc[0, "run"] == str(tmp_path / "runs" / "a")  # stored relative to the log, read back absolute
    assert frame.loc[1, "variant"] == {"gamma": 0.5} and frame.loc[0, "epochs"] == 6
    assert avnoisebench.load_results([log]).equals(frame) and avnoisebench.load_results(str(tmp_path)).equals(frame)


def test_logs_are_merged_and_a_cell_in_two_keeps_the_later(tmp_path: Path) -> None:
    first = write_log(
        tmp_path / "r.shard-1-of-2.jsonl",
        [result("a", "sym20", 0, 1.0, 2.0, 3.0, date="2026-01-02T00:00:00+00:00"), result("a", "sym20", 1, 4, 5, 6)],
    )
    second = write_log(
        tmp_path / "r.shard-2-of-2.jsonl",
        [result("a", "sym20", 0, 7.0, 8.0, 9.0, date="2026-01-01T00:00:00+00:00"), result("a", "sym40", 0, 1, 1, 1)],
    )
    with pytest.warns(UserWarning, match=r"1 record\(s\) of identical settings and seed are in more than one") as w:
        records = read_logs(tmp_path)
    assert str(first) in str(w[0].message) and str(second) in str(w[0].message)
    assert [(r.config, r.seed, r.metrics["V@1"]) for r in records] == [
        ("sym20", 0, 3.0),
        ("sym20", 1, 6.0),
        ("sym40", 0, 1.0),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one log alone: a rerun supersedes silently (evaluate reported it)
        assert len(read_logs(first)) == 2
    (tmp_path / "runs").mkdir()
    with pytest.raises(AvnbError, match="holds no results log"):
        read_logs(tmp_path / "runs")


def test_the_leaderboard_aggregation_is_a_groupby_of_the_frame(tmp_path: Path) -> None:
    records = [
        result("late-fusion", "sym20", seed, 60.0 + seed, 80.0, 70.0 + 2 * seed, epochs=epochs)
        for epochs in (6, 12)
        for seed in (0, 1, 2)
    ]
    frame = avnoisebench.load_results(write_log(tmp_path / "r.jsonl", records))
    by_hand = frame.groupby("epochs")["V@1"].agg(["mean", "std", "count"])
    entries = {e.setup: e for e in aggregate(records)}
    for epochs, row in by_hand.iterrows():
        entry = entries[f"{epochs} ep"]
        assert (entry.mean["V@1"], entry.std["V@1"], entry.seeds) == pytest.approx(
            (row["mean"], row["std"], row["count"])
        )


def python_block(after: str) -> str:
    """The first ```python block after a heading of docs/evaluation.md."""
    text = DOCS.read_text(encoding="utf-8").split(after, 1)[1]
    return re.search(r"```python\n(.*?)```", text, flags=re.DOTALL).group(1)


def test_the_analysis_example_of_the_docs_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = python_block("## Results as a pandas DataFrame")
    assert len([line for line in code.splitlines() if line.strip()]) == 5
    demo = tmp_path / "avnb-data" / "demo"  # what `avnb demo` leaves, made small
    build_synthetic_av(
        SyntheticAvOptions(
            out=demo / "synthetic-av",
            media_root=demo / "media",
            classes=2,
            train_per_class=5,
            test_per_class=1,
            noise=(NoiseSpec.parse("sym60"),),
            nc_synthetic=(CorrespondenceSpec(0.3),),
        )
    )
    write_log(
        demo / "results.jsonl",
        [result(m, "nc30-sym60", 0, c1, 100.0, c1 + 5, epochs=12) for m, c1 in (("late-fusion", 40.0), ("ntl", 45.0))],
    )
    monkeypatch.chdir(tmp_path)
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        exec(compile(code, str(DOCS), "exec"), {})
    text = shown.getvalue()
    assert re.search(r"nc30-sym60\s+late-fusion\s+12\s+40\.0", text) and "ntl" in text
    assert "is_noisy" in text and "nc_flag" in text
