"""Worker processes die with their parent: a real `avnb build av-mnist --jobs 2` killed mid-render leaves no process
behind; worker_pool kills its workers when its block fails; SIGTERM becomes an exception inside sigterm_raises."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from avnoisebench.processes import Terminated, sigterm_raises, worker_pool


def session_processes(session: int) -> dict[int, str]:
    """Live (not zombie) processes of a session, by pid, with their command line, read from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == session and fields[0] != "Z":
            found[int(entry.name)] = command
    return found


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_build_workers_die_with_their_parent(tmp_path: Path, signum: int) -> None:
    from conftest import shared

    sources = shared("mnist").parent
    shared("fsdd")
    code = "from avnoisebench.cli.main import app; app()"
    args = ["build", "av-mnist", "--out", tmp_path / "bench", "--media-root", tmp_path / "media"]
    args += ["--sources", sources, "--limit", "3000", "--jobs", "2"]
    build = subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    log = tmp_path / "media" / ".avnb" / "status.jsonl"
    try:
        rendering = wait_for(lambda: log.is_file() and log.read_text().count("\n") >= 20, 120)
        assert rendering and build.poll() is None, "the build did not start rendering"
        assert len(session_processes(build.pid)) >= 3, "the parent and its 2 workers (and the resource tracker)"
        os.kill(build.pid, signum)
        build.wait(timeout=10)
        assert wait_for(lambda: not session_processes(build.pid), 5), session_processes(build.pid)
    finally:
        for pid in session_processes(build.pid):
            os.kill(pid, signal.SIGKILL)
        build.wait()


def worker_pid(_: object) -> int:
    """The pid of the worker that runs this (workers import this module by name)."""
    time.sleep(0.2)
    return os.getpid()


def set_flag(value: str) -> None:
    """A worker initializer."""
    os.environ["AVNB_WORKER_FLAG"] = value


def read_flag(_: object) -> str | None:
    """The flag set_flag set in this worker."""
    return os.environ.get("AVNB_WORKER_FLAG")


def test_failing_block_kills_running_workers() -> None:
    with pytest.raises(RuntimeError, match="stop here"):
        with worker_pool(2) as pool:
            pids = set(pool.map(worker_pid, range(4)))
            pool.submit(time.sleep, 60)
            raise RuntimeError("stop here")
    assert pids and all(not Path(f"/proc/{pid}").exists() for pid in pids)


def test_workers_run_the_callers_initializer_and_return_results() -> None:
    with worker_pool(2, initializer=set_flag, initargs=("set",)) as pool:
        flags = list(pool.map(read_flag, range(4)))
    assert flags == ["set"] * 4


def test_sigterm_raises_inside_the_block_only() -> None:
    before = signal.getsignal(signal.SIGTERM)
    cleaned = []
    with pytest.raises(Terminated):
        with sigterm_raises():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            finally:
                cleaned.append(True)
    assert cleaned == [True] and signal.getsignal(signal.SIGTERM) is before
