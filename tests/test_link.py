"""`avnb link`: adopt local copies from flat and class-folder layouts by hard link, symlink or copy; verify; resume."""

import errno
import os
from pathlib import Path

import pytest
from mediagen import make_video
from tinybench import CLASSES, tiny_rows, write_tiny_benchmark
from typer.testing import CliRunner

from avnoisebench.cli.main import app
from avnoisebench.errors import AvnbError
from avnoisebench.media.coverage import available_clips
from avnoisebench.media.link import index_media, link
from avnoisebench.media.status import latest_status, read_records

runner = CliRunner()
ROWS = tiny_rows()
IDS = [row["clip_id"] for row in ROWS]
# The local copies: six good ones (one .mkv), one silent, one too short, two absent.
EXPECTED = {**dict.fromkeys(IDS[:6], "ok"), IDS[6]: "no_audio", IDS[7]: "too_short", IDS[8]: "missing"}
EXPECTED[IDS[9]] = "missing"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_benchmark(tmp_path_factory.mktemp("tiny") / "bench", ROWS)


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Local copies of the clips, by clip_id: 2 s videos (the clip window), one silent, one 1 s long."""
    out = tmp_path_factory.mktemp("copies")
    good = make_video(out / "good.mp4", seconds=2.0, size="64x48")
    return {
        **{clip_id: good for clip_id in IDS[:5]},
        IDS[5]: make_video(out / "good.mkv", seconds=2.0, size="64x48"),
        IDS[6]: make_video(out / "silent.mp4", seconds=2.0, size="64x48", audio=False),
        IDS[7]: make_video(out / "short.mp4", seconds=1.0, size="64x48"),
    }


def layout(root: Path, copies: dict[str, Path], class_folders: bool) -> Path:
    """The copies named {clip_id}{suffix}, flat or in class folders as CVDF and ActivityNet lay them out."""
    classes = {row["clip_id"]: row["class_name"] for row in ROWS}
    for clip_id, source in copies.items():
        target = root / (classes[clip_id] if class_folders else "") / f"{clip_id}{source.suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(source, target)
    (root / ".hidden").mkdir()
    os.link(copies[IDS[0]], root / ".hidden" / f"{IDS[8]}.mp4")
    return root


def states(media_root: Path) -> dict[str, str]:
    return {clip_id: record.category for clip_id, record in latest_status(media_root).items()}


def test_flat_layout_hard_links_and_resume(folder: Path, copies: dict[str, Path], tmp_path: Path) -> None:
    source = layout(tmp_path / "flat", copies, class_folders=False)
    media = tmp_path / "media"
    summary = link(folder, source, media)
    assert states(media) == EXPECTED, "hidden folders are not searched"
    assert summary.categories == {"ok": 6, "missing": 2, "no_audio": 1, "too_short": 1}
    for row in ROWS[:6]:
        target = media / row["path"]
        assert not target.is_symlink() and os.path.samefile(target, copies[row["clip_id"]])
    records = read_records(media)
    assert {r.action for r in records} == {"link"} and all("hard link from" in r.message for r in records if r.ok)
    assert all(set(r.tools) == {"ffprobe"} for r in records)
    assert available_clips(folder, media) == set(IDS[:6])
    assert [p.name for p in media.rglob(".*")] == [".avnb"]
    os.link(copies[IDS[0]], source / f"{IDS[8]}.mp4")
    again = link(folder, source, media)
    assert (again.done_before, again.attempted) == (6, 4), "clips in place are skipped, all others tried again"
    assert states(media)[IDS[8]] == "ok"


def test_class_folders_copy(folder: Path, copies: dict[str, Path], tmp_path: Path) -> None:
    source = layout(tmp_path / "classes", copies, class_folders=True)
    assert sorted(p.name for p in source.iterdir() if not p.name.startswith(".")) == sorted(CLASSES)
    media = tmp_path / "media"
    result = runner.invoke(app, ["link", str(folder), "--from", str(source), "--media-root", str(media), "--copy"])
    assert result.exit_code == 0, result.output
    assert "link: 10 attempted, 6 ok, 4 failed (missing 2, " in result.output
    assert states(media) == EXPECTED
    for row in ROWS[:6]:
        target = media / row["path"]
        assert not target.is_symlink() and not os.path.samefile(target, copies[row["clip_id"]])
        assert target.read_bytes() == copies[row["clip_id"]].read_bytes()


def test_symlink_across_filesystems(
    folder: Path, copies: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cross_device(source: Path, target: Path) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    source = layout(tmp_path / "flat", copies, class_folders=False)
    monkeypatch.setattr(os, "link", cross_device)
    media = tmp_path / "media"
    link(folder, source, media)
    for row in ROWS[:6]:
        target = media / row["path"]
        assert target.is_symlink() and target.readlink() == source / f"{row['clip_id']}{copies[row['clip_id']].suffix}"
    assert all("symlink from" in r.message for r in read_records(media) if r.ok)


def test_real_ucf101_video(ucf101_av: Path, tmp_path: Path) -> None:
    from conftest import shared

    video = shared("media") / "ucf_apply_eye_makeup.avi"
    extracted = tmp_path / "UCF-101" / "ApplyEyeMakeup"
    extracted.mkdir(parents=True)
    (extracted / "v_ApplyEyeMakeup_g01_c01.avi").symlink_to(video)
    media = tmp_path / "media"
    summary = link(ucf101_av, tmp_path / "UCF-101", media)
    assert summary.categories == {"ok": 1, "missing": summary.clips - 1}
    target = media / "ucf101" / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g01_c01.avi"
    assert os.path.samefile(target, video)
    assert available_clips(ucf101_av, media) == {"v_ApplyEyeMakeup_g01_c01"}


def test_bad_inputs(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = runner.invoke(app, ["link", str(folder), "--from", str(tmp_path / "nope"), "--media-root", str(tmp_path)])
    assert result.exit_code == 2 and "is not a folder" in result.output
    rows = tiny_rows(train=2, test=1)
    rows[0]["path"] = "/etc/passwd"
    with pytest.raises(AvnbError, match="'/etc/passwd' is not a plain relative path"):
        link(write_tiny_benchmark(tmp_path / "bad", rows), tmp_path, tmp_path / "media")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(AvnbError, match="ffprobe not found on PATH"):
        link(folder, tmp_path, tmp_path / "media")
    assert not (tmp_path / "media").exists()


def test_index_takes_media_files_by_stem(tmp_path: Path) -> None:
    for name in ("b/x_000001_000011.mp4", "a/x_000001_000011.webm", "v_A_g01_c01.avi", "notes.txt", ".y.mp4"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    assert index_media(tmp_path) == {
        "x_000001_000011": tmp_path / "a" / "x_000001_000011.webm",
        "v_A_g01_c01": tmp_path / "v_A_g01_c01.avi",
    }
