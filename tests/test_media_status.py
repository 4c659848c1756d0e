"""`avnb status` and available_clips: per split and class, latest record wins, a gone file is missing."""

import json
from pathlib import Path

import pytest
from tinybench import tiny_rows, write_tiny_benchmark
from typer.testing import CliRunner

from avnoisebench.cli.main import app
from avnoisebench.media.coverage import available_clips, coverage
from avnoisebench.media.status import StatusRecord, append_record

runner = CliRunner()
ROWS = tiny_rows()  # train: rows 0-5, test: rows 6-9; classes alternate abseiling / zumba


def record(row: dict, category: str, action: str = "download") -> StatusRecord:
    return StatusRecord(row["clip_id"], row["path"], action, category)


@pytest.fixture
def scripted(tmp_path: Path) -> tuple[Path, Path]:
    """A media root where rows 0-2 and 6 are ok, 3 was ok but its file is gone, 4 is unavailable, 5 is unavailable
    then ok by link, 7 failed then was not found by link, 8 is private, 9 was never attempted."""
    folder = write_tiny_benchmark(tmp_path / "bench", ROWS)
    media = tmp_path / "media"
    for n in (0, 1, 2, 3, 5, 6):
        (media / ROWS[n]["path"]).parent.mkdir(parents=True, exist_ok=True)
        (media / ROWS[n]["path"]).write_bytes(b"clip")
    for n, category in [(0, "ok"), (1, "ok"), (2, "ok"), (3, "ok"), (4, "unavailable"), (5, "unavailable"),
                        (6, "rate_limited"), (6, "ok"), (7, "corrupt"), (8, "private")]:  # fmt: skip
        append_record(media, record(ROWS[n], category))
    append_record(media, record(ROWS[5], "ok", "link"))
    append_record(media, record(ROWS[7], "missing", "link"))
    (media / ROWS[3]["path"]).unlink()
    return folder, media


def test_available_clips(scripted: tuple[Path, Path]) -> None:
    folder, media = scripted
    assert available_clips(folder, media) == {ROWS[n]["clip_id"] for n in (0, 1, 2, 5, 6)}


def test_coverage_numbers(scripted: tuple[Path, Path]) -> None:
    report = coverage(*scripted).as_dict()
    assert report["overall"] == {"total": 10, "ok": 5, "missing": 3, "failed": {"private": 1, "unavailable": 1},
                                 "available": 0.5}  # fmt: skip
    assert report["splits"] == {
        "train": {"total": 6, "ok": 4, "missing": 1, "failed": {"unavailable": 1}, "available": 0.6667},
        "test": {"total": 4, "ok": 1, "missing": 2, "failed": {"private": 1}, "available": 0.25},
    }
    assert report["classes"] == {
        "abseiling": {"total": 5, "ok": 3, "missing": 0, "failed": {"private": 1, "unavailable": 1}, "available": 0.6},
        "zumba": {"total": 5, "ok": 2, "missing": 3, "failed": {}, "available": 0.4},
    }


def test_status_cli(scripted: tuple[Path, Path]) -> None:
    folder, media = scripted
    as_json = runner.invoke(app, ["status", str(folder), "--media-root", str(media), "--json"])
    assert as_json.exit_code == 0, as_json.output
    failed = {"private": [ROWS[8]["clip_id"]], "unavailable": [ROWS[4]["clip_id"]]}
    assert json.loads(as_json.output) == {**coverage(folder, media).as_dict(), "failed_clips": failed}
    table = runner.invoke(app, ["status", str(folder), "--media-root", str(media)])
    assert table.exit_code == 0, table.output
    lines = [" ".join(line.replace("│", " ").split()) for line in table.output.splitlines()]
    assert f"private (1): {ROWS[8]['clip_id']}" in lines and f"unavailable (1): {ROWS[4]['clip_id']}" in lines
    assert "train 6 4 66.7% 1 unavailable 1" in lines
    assert "test 4 1 25.0% 2 private 1" in lines
    assert "all 10 5 50.0% 3 unavailable 1, private 1" in lines
    assert "zumba 5 2 40.0% 3" in lines


def test_empty_media_root(scripted: tuple[Path, Path], tmp_path: Path) -> None:
    folder, _ = scripted
    report = coverage(folder, tmp_path / "nothing-yet")
    assert (report.overall.total, report.overall.ok, report.overall.missing) == (10, 0, 10)
    assert available_clips(folder, tmp_path / "nothing-yet") == set()
