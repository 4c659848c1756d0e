"""External programs (ffmpeg, ffprobe): preflight checks, versions, and running them through ffmpeg-python without a
shell, with paths that cannot be read as options and child processes that never outlive an interruption."""

import shutil
import subprocess
import threading
from functools import cache
from pathlib import Path
from typing import Any

import ffmpeg

from avnoisebench.errors import AvnbError

INSTALL_HINT = (
    "install it (Debian/Ubuntu: apt-get install ffmpeg; conda: conda install ffmpeg; macOS: brew install ffmpeg)"
)
POLL_S = 0.2


class Stopped(Exception):
    """A run is stopping (Ctrl-C, or a stop rule): raised inside a job, which then leaves no record and no files;
    any external program it ran has been killed."""


class ToolFailed(Exception):
    """An external program exited non-zero; the message is its last line of error output."""


def require_tools(*names: str) -> None:
    """Fail with one clear message, before any work starts, if a program is not on PATH."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        raise AvnbError(f"{' and '.join(missing)} not found on PATH; {INSTALL_HINT}")


@cache
def tool_version(name: str) -> str:
    """First line of `name -version` (ffmpeg, ffprobe), or 'missing'."""
    if shutil.which(name) is None:
        return "missing"
    done = subprocess.run([name, "-version"], capture_output=True, text=True, check=False)
    return done.stdout.splitlines()[0] if done.stdout else "unknown"


def tool_path(path: Path) -> str:
    """`path` as an argument for ffmpeg, ffprobe, PyAV or decord: absolute, so a name such as `-h` or `a:b.mp4` is
    read as a file, never as an option or a protocol."""
    return str(Path(path).absolute())


def probe_json(path: Path) -> dict[str, Any]:
    """ffprobe's JSON description (format and streams) of a file, from ffmpeg.probe; ToolFailed with ffprobe's last
    error line when it fails. ffprobe reads only the header and stays in our process group, so Ctrl-C stops it too."""
    try:
        return ffmpeg.probe(tool_path(path), v="error")
    except ffmpeg.Error as exc:
        raise ToolFailed(_last_line(exc.stderr)) from exc


def _last_line(stderr: bytes | str | None) -> str:
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else (stderr or "")
    return text.strip().splitlines()[-1] if text.strip() else "no error output"


def run_ffmpeg(stream: Any, stop: threading.Event | None = None) -> None:
    """Run an ffmpeg-python output stream quietly (no stdin, errors only, overwrite) in its own process group, so a
    terminal's Ctrl-C reaches only us; the child is killed when `stop` is set (raising Stopped) or when anything
    interrupts the caller. A non-zero exit raises ToolFailed."""
    command = stream.global_args("-nostdin", "-v", "error").overwrite_output().compile()
    with subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, process_group=0
    ) as process:
        try:
            while True:
                try:
                    _, stderr = process.communicate(timeout=POLL_S)
                    break
                except subprocess.TimeoutExpired:
                    if stop is not None and stop.is_set():
                        raise Stopped from None
        except BaseException:
            process.kill()
            process.communicate()
            raise
    if process.returncode != 0:
        raise ToolFailed(_last_line(stderr))
