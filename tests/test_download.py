"""`avnb download` against a loopback HTTP server: outcomes by category, frame-accurate cuts, resume, shards, stops."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mediagen import make_video
from tinybench import requested_clips, serve_sources, source_handler, tiny_rows, write_tiny_benchmark
from typer.testing import CliRunner

from avnoisebench.cli.main import app
from avnoisebench.errors import AvnbError
from avnoisebench.media.coverage import available_clips
from avnoisebench.media.download import DownloadOptions, download
from avnoisebench.media.plan import load_clips, parse_shard, shard_clips
from avnoisebench.media.probe import verify_clip
from avnoisebench.media.status import latest_status, read_records, status_log_path
from avnoisebench.media.workers import RunInterrupted, RunStopped
from avnoisebench.progress import Task

runner = CliRunner()
ROWS = tiny_rows()
IDS = [row["clip_id"] for row in ROWS]
# Clips whose served source is broken, and the category each must end in.
BROKEN = {IDS[1]: "unavailable", IDS[2]: "corrupt", IDS[3]: "no_audio", IDS[4]: "too_short"}
PERMANENT = {IDS[1], IDS[3], IDS[4]}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_benchmark(tmp_path_factory.mktemp("tiny") / "bench", ROWS)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 s video per clip (the clip windows are 1-3 s)."""
    return serve_sources(tmp_path_factory.mktemp("sources"), ROWS)


@pytest.fixture(scope="module")
def broken_sources(tmp_path_factory: pytest.TempPathFactory, sources: Path) -> Path:
    """The sources with the BROKEN ones missing (404), truncated, silent and too short."""
    out = tmp_path_factory.mktemp("broken")
    for clip_id in set(IDS) - set(BROKEN):
        os.link(sources / f"{clip_id}.mp4", out / f"{clip_id}.mp4")
    data = (sources / f"{IDS[2]}.mp4").read_bytes()
    (out / f"{IDS[2]}.mp4").write_bytes(data[: len(data) // 3])
    make_video(out / f"{IDS[3]}.mp4", seconds=4, audio=False)
    make_video(out / f"{IDS[4]}.mp4", seconds=2.2)
    return out


def options(base: str, **changes: object) -> DownloadOptions:
    return DownloadOptions(**{"jobs": 1, "source_url": f"{base}/{{clip_id}}.mp4", "backoff": 0.0, **changes})


def avnb(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def leftovers(media_root: Path) -> list[Path]:
    """Temporary files or folders a run must not leave behind."""
    hidden = [p for p in media_root.rglob(".*") if p.name != ".avnb"]
    return hidden + list((media_root / ".avnb" / "tmp").glob("*"))


def states(media_root: Path) -> dict[str, str]:
    return {clip_id: record.category for clip_id, record in latest_status(media_root).items()}


def media_files(media_root: Path) -> list[str]:
    return sorted(str(p.relative_to(media_root)) for p in media_root.rglob("*.mp4"))


def gray_frame(path: Path, at: float) -> np.ndarray:
    """The frame shown at `at` seconds, as gray pixels."""
    command = ["ffmpeg", "-v", "error", "-i", str(path), "-ss", str(at), "-frames:v", "1"]
    data = subprocess.run([*command, "-f", "rawvideo", "-pix_fmt", "gray", "-"], capture_output=True, check=True)
    return np.frombuffer(data.stdout, dtype=np.uint8).astype(np.float64)


def test_outcomes_by_category(folder: Path, broken_sources: Path, sources: Path, serve, tmp_path: Path) -> None:
    handler = source_handler()
    base = serve(broken_sources, handler)
    summary = download(folder, tmp_path, options(base, jobs=2))
    expected = {clip_id: BROKEN.get(clip_id, "ok") for clip_id in IDS}
    assert states(tmp_path) == expected
    assert dict(summary.categories) == {"ok": 6, "unavailable": 1, "corrupt": 1, "no_audio": 1, "too_short": 1}
    assert (summary.clips, summary.done_before, summary.failed_before) == (10, 0, 0)
    assert "10 attempted, 6 ok, 4 failed" in summary.text()
    records = read_records(tmp_path)
    assert len(records) == 10 and {r.action for r in records} == {"download"}
    assert all(set(r.tools) == {"yt-dlp", "ffmpeg"} and r.seconds > 0 and r.host for r in records)
    assert "HTTP Error 404" in next(r.message for r in records if r.clip_id == IDS[1])
    ok = [row for row in ROWS if row["clip_id"] not in BROKEN]
    assert media_files(tmp_path) == sorted(row["path"] for row in ok)
    assert available_clips(folder, tmp_path) == {row["clip_id"] for row in ok}
    assert leftovers(tmp_path) == []
    for record in records:
        if record.ok:
            clip = tmp_path / record.path
            info = verify_clip(clip, window=2.0)
            assert record.bytes == clip.stat().st_size
            assert info.duration == pytest.approx(2.0, abs=0.05)
            assert (info.video.codec, info.audio.codec) == ("h264", "aac")
            head = clip.read_bytes()
            assert head.index(b"moov") < head.index(b"mdat"), "faststart puts the index first"
    # Frame-accurate: the clip's first frame is the source's frame at exactly time_start (1 s), not a neighbour.
    first = gray_frame(tmp_path / ROWS[0]["path"], 0.0)
    source = sources / f"{IDS[0]}.mp4"
    distances = {at: np.abs(gray_frame(source, at) - first).mean() for at in (0.88, 0.92, 0.96, 1.0, 1.04, 1.08)}
    assert min(distances, key=distances.get) == 1.0, distances


def test_rerun_resumes_and_retries(folder: Path, broken_sources: Path, sources: Path, serve, tmp_path: Path) -> None:
    download(folder, tmp_path, options(serve(broken_sources), jobs=2))
    first = media_files(tmp_path)
    mtimes = {p: (tmp_path / p).stat().st_mtime_ns for p in first}
    again = source_handler()
    summary = download(folder, tmp_path, options(serve(broken_sources, again)))
    assert requested_clips(again) == {IDS[2]}, "only the transient failure (corrupt) is tried again"
    assert (summary.done_before, summary.failed_before, summary.attempted) == (6, 3, 1)
    assert {p: (tmp_path / p).stat().st_mtime_ns for p in first} == mtimes
    fixed = source_handler()
    summary = download(folder, tmp_path, options(serve(sources, fixed), retry_failed=True))
    assert requested_clips(fixed) == set(BROKEN)
    assert summary.categories["ok"] == 4 and set(states(tmp_path).values()) == {"ok"}
    (tmp_path / ROWS[0]["path"]).unlink()
    gone = source_handler()
    download(folder, tmp_path, options(serve(sources, gone)))
    assert requested_clips(gone) == {IDS[0]}, "an ok clip whose file is gone is fetched again"


def test_jobs_2_equals_jobs_1(folder: Path, broken_sources: Path, serve, tmp_path: Path) -> None:
    base = serve(broken_sources)
    one, two = tmp_path / "one", tmp_path / "two"
    download(folder, one, options(base, jobs=1, shard="1/2"))
    download(folder, two, options(base, jobs=2, shard="1/2"))
    assert set(states(one).values()) == {"ok", "corrupt", "too_short"}
    assert states(one) == states(two)
    assert media_files(one) == media_files(two)
    for path in media_files(one):
        assert verify_clip(one / path, 2.0).duration == verify_clip(two / path, 2.0).duration


class _StopAfter:
    """A Progress (and its Task) that presses Ctrl-C after `n` finished clips."""

    def __init__(self, n: int) -> None:
        self.n = n

    def task(self, name: str, total: int | None, unit: str = "steps") -> Task:
        return self

    def note(self, text: str) -> None:
        pass

    def advance(self, steps: int = 1, *, failed: bool = False, **status: object) -> None:
        self.n -= steps
        if self.n == 0:
            raise KeyboardInterrupt

    def close(self) -> None:
        pass


def test_interrupted_run_resumes_without_refetching(folder: Path, sources: Path, serve, tmp_path: Path) -> None:
    first = source_handler()
    with pytest.raises(RunInterrupted, match="download interrupted: .* kept.*run the same command again"):
        download(folder, tmp_path, options(serve(sources, first), jobs=2), _StopAfter(3))
    done = {clip_id for clip_id, category in states(tmp_path).items() if category == "ok"}
    assert 3 <= len(done) < len(IDS)
    assert all((tmp_path / row["path"]).is_file() == (row["clip_id"] in done) for row in ROWS)
    assert leftovers(tmp_path) == []
    second = source_handler()
    summary = download(folder, tmp_path, options(serve(sources, second), jobs=2))
    assert requested_clips(second) == set(IDS) - done
    assert summary.done_before == len(done) and set(states(tmp_path).values()) == {"ok"}


def check_interruption(folder: Path, sources: Path, serve, tmp_path: Path, send, code: int) -> None:
    """Start `avnb download` in its own session, `send` it a signal after two records: exit `code` with one line
    saying what was kept, finished clips kept, nothing half-written left, the rerun completes without refetching."""
    base = serve(sources, source_handler(delay=1.0))
    args = ["download", folder, "--media-root", tmp_path, "--jobs", "2", "--source-url", f"{base}/{{clip_id}}.mp4"]
    process = subprocess.Popen(
        [sys.executable, "-c", "from avnoisebench.cli.main import app; app()", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    log = status_log_path(tmp_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not log.is_file() or len(log.read_text().splitlines()) < 2):
        time.sleep(0.05)
    send(process.pid)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == code and "Traceback" not in stderr, stderr
    [line] = stderr.strip().splitlines()
    assert line.startswith("download interrupted: ") and "kept" in line and "run the same command again" in line
    assert leftovers(tmp_path) == []
    records = latest_status(tmp_path)
    assert 2 <= len(records) < len(IDS)
    assert all((tmp_path / r.path).is_file() for r in records.values() if r.ok)
    again = source_handler()
    download(folder, tmp_path, options(serve(sources, again), jobs=2))
    assert not requested_clips(again) & {r.clip_id for r in records.values() if r.ok}
    assert set(states(tmp_path).values()) == {"ok"}


def test_ctrl_c_in_a_terminal(folder: Path, sources: Path, serve, tmp_path: Path) -> None:
    """SIGINT to the whole process group, as Ctrl-C sends it: exit 130 after one line."""
    check_interruption(folder, sources, serve, tmp_path, lambda pid: os.killpg(pid, signal.SIGINT), 130)


def test_sigterm_stops_cleanly(folder: Path, sources: Path, serve, tmp_path: Path) -> None:
    """SIGTERM to the process alone, as a job scheduler sends it: the same clean stop, exit 143."""
    check_interruption(folder, sources, serve, tmp_path, lambda pid: os.kill(pid, signal.SIGTERM), 143)


def test_shards_partition_the_clips(folder: Path, tmp_path: Path) -> None:
    clips = load_clips(folder, tmp_path)
    for n in (1, 2, 3, 4, 11):
        shards = [[c.clip_id for c in shard_clips(clips, f"{i}/{n}")] for i in range(1, n + 1)]
        flat = [clip_id for shard in shards for clip_id in shard]
        assert sorted(flat) == sorted(IDS) and len(flat) == len(set(flat))
        assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert [c.clip_id for c in shard_clips(clips[::-1], "2/3")] == IDS[1::3], "by clip_id, whatever the input order"
    for bad in ("0/3", "4/3", "a/b", "3", "1/0"):
        with pytest.raises(AvnbError, match="is not i/n"):
            parse_shard(bad)


def test_shard_and_split_options(folder: Path, sources: Path, serve, tmp_path: Path) -> None:
    handler = source_handler()
    base = serve(sources, handler)
    result = avnb("download", folder, "--media-root", tmp_path, "--shard", "2/3", "--split", "train",
                  "--source-url", f"{base}/{{clip_id}}.mp4")  # fmt: skip
    assert result.exit_code == 0, result.output
    train = sorted(row["clip_id"] for row in ROWS if row["split"] == "train")
    assert requested_clips(handler) == set(train[1::3]) == set(states(tmp_path))
    assert "2 attempted, 2 ok, 0 failed" in result.output


def test_rate_limit_backs_off_then_stops(folder: Path, sources: Path, serve, tmp_path: Path) -> None:
    handler = source_handler(status=429)
    base = serve(sources, handler)
    result = avnb("download", folder, "--media-root", tmp_path, "--jobs", "1", "--max-throttled", "3",
                  "--backoff", "0.3", "--source-url", f"{base}/{{clip_id}}.mp4")  # fmt: skip
    gaps = np.diff([record.time for record in read_records(tmp_path)])
    assert 0.3 <= gaps[0] and 0.6 <= gaps[1], "waits 0.3 s, then 0.6 s before the next clip"
    assert gaps[1] - gaps[0] >= 0.25, "the wait doubles (the rest of each gap is the same request's time)"
    assert result.exit_code == 2
    assert "stopped after 3 rate-limit/bot-check failures in a row" in result.output
    assert "HTTP Error 429" in result.output and "Traceback" not in result.output
    assert list(states(tmp_path).values()) == ["rate_limited"] * 3
    assert requested_clips(handler) == set(IDS[:3])
    again = source_handler(status=429)
    with pytest.raises(RunStopped):
        download(folder, tmp_path, options(serve(sources, again), max_throttled=3))
    assert requested_clips(again) == set(IDS[:3]), "rate-limited clips are tried again on the next run"


def test_path_escaping_the_media_root_is_refused(sources: Path, serve, tmp_path: Path) -> None:
    rows = tiny_rows(train=2, test=1)
    rows[1]["path"] = "../../outside.mp4"
    folder = write_tiny_benchmark(tmp_path / "bench", rows)
    handler = source_handler()
    result = avnb("download", folder, "--media-root", tmp_path / "media", "--source-url",
                  f"{serve(sources, handler)}/{{clip_id}}.mp4")  # fmt: skip
    assert result.exit_code == 2 and "'../../outside.mp4' is not a plain relative path" in result.output
    assert not handler.requests and not (tmp_path / "media").exists()
    assert list(tmp_path.rglob("outside.mp4")) == []


def test_missing_tools_fail_before_any_work(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yt_dlp", None)
    with pytest.raises(AvnbError, match=r"yt-dlp Python package is not installed; .*pip install yt-dlp"):
        download(folder, tmp_path / "media")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = avnb("download", folder, "--media-root", tmp_path / "media")
    assert result.exit_code == 2 and "ffmpeg and ffprobe not found on PATH" in result.output
    assert not (tmp_path / "media").exists()


def test_ucf101_folder_points_to_link(ucf101_av: Path, tmp_path: Path) -> None:
    result = avnb("download", ucf101_av, "--media-root", tmp_path)
    assert result.exit_code == 2
    assert "UCF101 videos are not on YouTube" in result.output and "avnb link" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cookies", "nowhere.txt"], "--cookies nowhere.txt is not a file"),
        (["--source-url", "http://127.0.0.1/{id}.mp4"], "has an unknown field {id}; the fields are {youtube_id}, "),
        (["--source-url", "http://127.0.0.1/{clip_id"], "is not a valid template"),
        (["--split", "val"], "--split 'val' is not a split"),
        (["--jobs", "0"], "--jobs 0 must be at least 1"),
    ],
)
def test_bad_options(folder: Path, tmp_path: Path, args: list[str], message: str) -> None:
    result = avnb("download", folder, "--media-root", tmp_path, *args)
    assert result.exit_code == 2 and message in result.output


def test_cookies_reach_the_server(folder: Path, sources: Path, serve, tmp_path: Path) -> None:
    handler = source_handler()
    base = serve(sources, handler)
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tsecret42\n")
    download(folder, tmp_path / "media", options(base, cookies=cookies, split="test", shard="1/4"))
    assert handler.cookies and all("session=secret42" in c for c in handler.cookies)
