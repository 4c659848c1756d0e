"""JSON-lines logs after a crash mid-append: the next append starts a fresh line, readers skip a torn last line with
a warning and keep every valid record, damage elsewhere is one clear error."""

import json
from pathlib import Path

import pytest

from avnoisebench.errors import AvnbError
from avnoisebench.jsonl import append_line, read_jsonl
from avnoisebench.media.status import StatusRecord, append_record, latest_status, read_records, status_log_path

RECORDS = [{"run": n, "metrics": {"c1": 0.5 + n / 100, "v1": 0.6}, "method": f"m{n}"} for n in range(4)]


def cut_last_line(path: Path, size: int = 40) -> None:
    """Simulate a writer killed mid-append: `size` bytes (and the newline) cut off the end."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - size])


def test_torn_last_line_is_skipped_and_the_next_append_starts_fresh(tmp_path: Path) -> None:
    log = tmp_path / "results.jsonl"
    for record in RECORDS[:3]:
        append_line(log, record)
    cut_last_line(log)
    records, warnings = read_jsonl(log)
    assert records == RECORDS[:2]
    assert len(warnings) == 1 and "line 3 is an incomplete record" in warnings[0]
    append_line(log, RECORDS[3])
    assert read_jsonl(log) == ([*RECORDS[:2], RECORDS[3]], [])
    assert log.read_bytes().endswith(b"\n") and log.read_text().count("\n") == 3


def test_a_complete_last_record_without_its_newline_is_kept(tmp_path: Path) -> None:
    log = tmp_path / "results.jsonl"
    log.write_text(json.dumps(RECORDS[0]) + "\n" + json.dumps(RECORDS[1]))
    assert read_jsonl(log) == (RECORDS[:2], [])
    append_line(log, RECORDS[2])
    assert read_jsonl(log) == (RECORDS[:3], [])


def test_a_file_that_is_one_torn_line(tmp_path: Path) -> None:
    log = tmp_path / "results.jsonl"
    log.write_text(json.dumps(RECORDS[0])[:30])
    assert read_jsonl(log)[0] == []
    append_line(log, RECORDS[1])
    assert read_jsonl(log) == ([RECORDS[1]], [])


@pytest.mark.parametrize("bad", ["not json", "[1, 2]", '{"run": 1'])
def test_damage_before_the_last_line_is_an_error_naming_file_line_and_fix(tmp_path: Path, bad: str) -> None:
    log = tmp_path / "results.jsonl"
    log.write_text("\n".join([json.dumps(RECORDS[0]), bad, json.dumps(RECORDS[1])]) + "\n")
    with pytest.raises(AvnbError, match=rf"{log} line 2 is not a JSON object: .*repair or delete that line"):
        read_jsonl(log)


def test_status_log_survives_a_torn_record(tmp_path: Path) -> None:
    for n in range(3):
        append_record(tmp_path, StatusRecord(f"clip{n}", f"a/clip{n}.mp4", "link", "ok"))
    cut_last_line(status_log_path(tmp_path))
    with pytest.warns(UserWarning, match="incomplete record"):
        assert [r.clip_id for r in read_records(tmp_path)] == ["clip0", "clip1"]
    append_record(tmp_path, StatusRecord("clip2", "a/clip2.mp4", "link", "ok"))
    assert set(latest_status(tmp_path)) == {"clip0", "clip1", "clip2"}
