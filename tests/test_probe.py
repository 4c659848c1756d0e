"""`avnb probe` and check_media: one line per file, never a crash, non-zero exit when a file fails."""

import json
from pathlib import Path

from mediagen import make_video
from typer.testing import CliRunner

from avnoisebench.cli.main import app
from avnoisebench.media.check import check_media

runner = CliRunner()


def test_good_short_and_broken_files(tmp_path: Path) -> None:
    good = make_video(tmp_path / "good.mp4", seconds=3, vfr=True)
    short = make_video(tmp_path / "short.mp4", seconds=1.0)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(good.read_bytes()[:2000])
    result = runner.invoke(app, ["probe", str(good), str(short)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and all(line.endswith("OK") for line in lines)
    assert "10 views | audio window ok" in lines[0]
    result = runner.invoke(app, ["probe", str(good), str(broken), str(tmp_path / "absent.mp4")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert "FAILED corrupt" in lines[1] and "FAILED missing" in lines[2]


def test_json_output(tmp_path: Path) -> None:
    silent = make_video(tmp_path / "silent.mp4", seconds=3, audio=False)
    result = runner.invoke(app, ["probe", "--json", str(silent)])
    assert result.exit_code == 1
    record = json.loads(result.output)
    assert record["category"] == "no_audio" and record["views"] == 10 and record["info"]["video"]["width"] == 96


def test_real_files(tmp_path: Path) -> None:
    from conftest import shared

    media = shared("media")
    checks = {p.name: check_media(p) for p in sorted(media.iterdir()) if p.name != "SHA256SUMS"}
    assert {name for name, c in checks.items() if c.ok} == {
        "flipping_a_pancake.mkv",
        "ucf_apply_eye_makeup.avi",
        "v_GGSY1Qvo990.mp4",
        "v_ZNVhz7ctTq0.mp4",
    }
    assert checks["no_audio_demo.mp4"].category == "no_audio"
    assert checks["flipping_a_pancake.mkv"].frames == 310
