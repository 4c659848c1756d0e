"""What verification and decoding catch that a header hides: a file scrambled mid-way, a file cut to 55 %, a 2x2
video; tiny videos decode through PyAV; a WebM without a duration is measured; names that start with "-"; decode
failures logged for `avnb status`; the media fingerprint of cache keys."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from mediagen import damaged_copy, make_headerless_webm, make_video
from tinybench import tiny_rows, write_tiny_benchmark
from typer.testing import CliRunner

from avnoisebench.cli.main import app
from avnoisebench.dataset.decoding import ClipSampling
from avnoisebench.media.audio import load_waveform
from avnoisebench.media.check import check_media, verify_media
from avnoisebench.media.coverage import available_clips
from avnoisebench.media.decode import decode_eval_views, decode_train_clip, open_video
from avnoisebench.media.link import link
from avnoisebench.media.paths import media_fingerprint, resolved_path
from avnoisebench.media.probe import MediaError, probe
from avnoisebench.media.status import latest_status, record_decode_failure

runner = CliRunner()
SMALL = ClipSampling(num_frames=4, stride=0.25, num_views=5, short_side=48, crop=40)
ROWS = tiny_rows(train=3, test=1)
IDS = [row["clip_id"] for row in ROWS]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A good 2 s clip with its index first (as downloads are), its damaged copies, and tiny videos."""
    out = tmp_path_factory.mktemp("media")
    good = make_video(out / "good.mp4", seconds=2.0, size="64x48", faststart=True)
    return {
        "good": good,
        "cut": damaged_copy(good, out / "cut.mp4", "cut"),
        "scrambled": damaged_copy(good, out / "scrambled.mp4", "scrambled"),
        "2x2": make_video(out / "2x2.mp4", seconds=2.0, size="2x2", pix_fmt="yuv444p"),
        "1x1": make_video(out / "1x1.mp4", seconds=2.0, size="1x1", pix_fmt="yuv444p"),
    }


def category(run) -> str:
    """The MediaError category a call raises."""
    with pytest.raises(MediaError) as info:
        run()
    return info.value.category


def test_link_and_status_catch_damage_that_headers_hide(media: dict[str, Path], tmp_path: Path) -> None:
    folder = write_tiny_benchmark(tmp_path / "bench", ROWS)
    source = tmp_path / "copies"
    source.mkdir()
    for clip_id, name in zip(IDS, ["good", "cut", "scrambled", "2x2"], strict=True):
        os.link(media[name], source / f"{clip_id}.mp4")
    link(folder, source, tmp_path / "media")
    states = {clip_id: record.category for clip_id, record in latest_status(tmp_path / "media").items()}
    assert states == dict(zip(IDS, ["ok", "truncated", "corrupt", "too_small"], strict=True))
    done = runner.invoke(app, ["status", str(folder), "--media-root", str(tmp_path / "media"), "--json"])
    assert done.exit_code == 0, done.output
    failed = {"corrupt": [IDS[2]], "too_small": [IDS[3]], "truncated": [IDS[1]]}
    assert json.loads(done.output)["failed_clips"] == failed


@pytest.mark.parametrize("backend", ["auto", "pyav"])
def test_a_cut_file_is_truncated_not_its_last_frame_repeated(media: dict[str, Path], backend: str) -> None:
    assert category(lambda: decode_eval_views(media["cut"], SMALL, backend)) == "truncated"
    assert category(lambda: load_waveform(media["cut"], 16_000)) in ("truncated", "corrupt"), "never padded silence"
    assert category(lambda: verify_media(media["scrambled"], window=2.0)) == "corrupt"
    assert verify_media(media["good"], window=2.0).duration == pytest.approx(2.0, abs=0.05)


@pytest.mark.parametrize("size", ["1x1", "2x2"])
def test_tiny_videos_decode_through_pyav_but_are_no_clips(media: dict[str, Path], size: str) -> None:
    views, _ = decode_eval_views(media[size], SMALL)
    assert views.shape == (5, 3, 4, 40, 40) and views.float().std() > 0
    clip, _ = decode_train_clip(media[size], SMALL, np.random.default_rng(0))
    assert clip.shape == (3, 4, 40, 40)
    assert check_media(media[size]).category == "too_small"
    assert category(lambda: verify_media(media[size], window=2.0)) == "too_small"


def test_webm_without_a_duration_is_measured(tmp_path: Path) -> None:
    webm = make_headerless_webm(tmp_path / "stream.webm", seconds=4.9)
    assert probe(webm).duration == pytest.approx(4.9, abs=0.1)
    with open_video(webm) as video:
        assert video.duration == pytest.approx(4.9, abs=0.1)
    views, _ = decode_eval_views(webm, SMALL)
    means = views.float().mean(dim=(1, 2, 3, 4))
    assert len(set(means.tolist())) == len(means), "each view shows its own part of the video"
    rows = tiny_rows(train=1, test=1, start=0, end=5)
    source = tmp_path / "copies"
    source.mkdir()
    os.link(webm, source / f"{rows[0]['clip_id']}.webm")
    link(write_tiny_benchmark(tmp_path / "bench", rows), source, tmp_path / "media")
    record = latest_status(tmp_path / "media")[rows[0]["clip_id"]]
    assert record.ok, record.message


def test_names_starting_with_a_dash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = tiny_rows(train=1, test=1, start=251, end=261)
    youtube_id = "-W06q2S-RG0"
    clip_id = f"{youtube_id}_000251_000261"
    rows[0].update(youtube_id=youtube_id, clip_id=clip_id, audio_clip_id=clip_id, path=f"k400/{clip_id}.mp4")
    source = tmp_path / "copies"
    make_video(source / f"{clip_id}.mp4", seconds=10.0, size="64x48")
    link(write_tiny_benchmark(tmp_path / "bench", rows), source, tmp_path / "media")
    assert latest_status(tmp_path / "media")[clip_id].ok
    monkeypatch.chdir(source)
    os.link(f"{clip_id}.mp4", "-h")
    done = runner.invoke(app, ["probe", "./-h", "--", f"{clip_id}.mp4"])
    assert done.exit_code == 0, done.output
    assert [line.split(" | ")[-1] for line in done.output.strip().splitlines()] == ["OK", "OK"]


def test_decode_failures_are_logged_listed_and_retried(media: dict[str, Path], tmp_path: Path) -> None:
    folder = write_tiny_benchmark(tmp_path / "bench", ROWS)
    source = tmp_path / "copies"
    source.mkdir()
    for clip_id in IDS:
        os.link(media["good"], source / f"{clip_id}.mp4")
    link(folder, source, tmp_path / "media")
    record = record_decode_failure(tmp_path / "media", IDS[0], "truncated", "the video ends at 1.10 s", ROWS[0]["path"])
    assert (record.action, record.category) == ("decode", "truncated")
    assert available_clips(folder, tmp_path / "media") == set(IDS[1:])
    done = runner.invoke(app, ["status", str(folder), "--media-root", str(tmp_path / "media")])
    assert f"truncated (1): {IDS[0]}" in done.output
    with pytest.raises(ValueError, match="unknown failure category 'exploded'"):
        record_decode_failure(tmp_path / "media", IDS[0], "exploded", "")
    again = link(folder, source, tmp_path / "media")
    assert again.attempted == 1 and available_clips(folder, tmp_path / "media") == set(IDS)


def test_media_fingerprint_follows_each_file(media: dict[str, Path], tmp_path: Path) -> None:
    files = [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    for path in files:
        path.write_bytes(media["good"].read_bytes())
    first = media_fingerprint(files)
    assert media_fingerprint(files) == first and media_fingerprint(files[::-1]) != first
    os.utime(files[1], ns=(0, files[1].stat().st_mtime_ns + 1))
    touched = media_fingerprint(files)
    assert touched != first
    files[0].write_bytes(media["cut"].read_bytes())
    assert media_fingerprint(files) not in (first, touched)
    files[0].unlink()
    assert len(media_fingerprint(files)) == 64


def test_resolved_path_matches_pathlib_through_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    (real / "sub" / "clip.mp4").write_bytes(b"x")
    (tmp_path / "elsewhere.mp4").write_bytes(b"y")
    (tmp_path / "linked").symlink_to(real)
    (real / "sub" / "file-link.mp4").symlink_to(tmp_path / "elsewhere.mp4")
    (real / "sub" / "chain.mp4").symlink_to(real / "sub" / "file-link.mp4")
    (real / "sub" / "dangling.mp4").symlink_to(tmp_path / "gone.mp4")
    monkeypatch.chdir(tmp_path)
    names = ["clip.mp4", "file-link.mp4", "chain.mp4", "dangling.mp4", "missing.mp4"]
    paths = [Path(top, "sub", name) for top in ("real", "linked", tmp_path / "linked") for name in names]
    paths += [Path("linked/missing-folder/clip.mp4"), Path("elsewhere.mp4")]
    folders: dict[str, str] = {}
    assert [resolved_path(str(path), folders) for path in paths] == [str(path.resolve()) for path in paths]
    assert resolved_path("linked/sub/chain.mp4", folders) == str(tmp_path / "elsewhere.mp4")
