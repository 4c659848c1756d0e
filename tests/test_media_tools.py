"""External programs through ffmpeg-python: a stopped run kills its ffmpeg, a failure is one line, and a path that
starts with "-" is read as a file."""

import os
import threading
import time
from pathlib import Path

import ffmpeg
import pytest
from mediagen import make_video

from avnoisebench.media.tools import Stopped, ToolFailed, probe_json, run_ffmpeg, tool_path


def ffmpeg_children() -> list[str]:
    """ffmpeg processes among the children of this test's thread (other children, such as the resource tracker an
    earlier test's process pool started, live as long as the test process and are not this test's business)."""
    found = []
    for pid in Path(f"/proc/{os.getpid()}/task/{threading.get_native_id()}/children").read_text().split():
        try:
            program = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except FileNotFoundError:  # it exited meanwhile
            continue
        if b"ffmpeg" in program:
            found.append(pid)
    return found


def test_a_stopped_run_kills_ffmpeg(tmp_path: Path) -> None:
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    long_encode = ffmpeg.input("testsrc2=size=320x240:rate=25:duration=600", f="lavfi").output(
        tool_path(tmp_path / "long.mp4")
    )
    began = time.monotonic()
    with pytest.raises(Stopped):
        run_ffmpeg(long_encode, stop)
    timer.join()
    assert time.monotonic() - began < 5 and ffmpeg_children() == []


def test_failures_and_dash_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ToolFailed, match="No such file or directory"):
        run_ffmpeg(ffmpeg.input(tool_path(tmp_path / "absent.mp4")).output(tool_path(tmp_path / "out.mp4")))
    monkeypatch.chdir(tmp_path)
    make_video(tmp_path / "-i.mp4", seconds=1.0)
    assert tool_path(Path("-i.mp4")) == str(tmp_path / "-i.mp4")
    run_ffmpeg(ffmpeg.input(tool_path(Path("-i.mp4"))).output(tool_path(Path("-copy.mp4")), c="copy"))
    assert float(probe_json(Path("-copy.mp4"))["format"]["duration"]) == pytest.approx(1.0, abs=0.1)
