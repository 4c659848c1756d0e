"""Append-only JSON-lines logs shared by several writers (status log, results log): locked appends that always
start on a fresh line, and a reader that survives a record torn by a crash."""

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from avnoisebench.errors import AvnbError

TAIL_CHUNK = 65536


def _unterminated_tail(fd: int, size: int) -> tuple[int, bytes]:
    """Where the file's last line starts and its bytes, when the file does not end in a newline (else (size, b""))."""
    end = size
    tail = b""
    while end > 0:
        start = max(0, end - TAIL_CHUNK)
        chunk = os.pread(fd, end - start, start)
        if end == size and chunk.endswith(b"\n"):
            return size, b""
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1, chunk[cut + 1 :] + tail
        tail = chunk + tail
        end = start
    return 0, tail


def _record(line: bytes) -> dict[str, Any] | None:
    """The JSON object on a line, or None when the line is not one."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def append_line(path: Path, record: dict[str, Any]) -> None:
    """Append `record` as one JSON line under an exclusive lock, so parallel writers never interleave; the line
    always starts on a fresh line: a complete last record without its newline gets one, and the bytes of a record
    torn by a crashed writer (not valid JSON) are cut off first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        start, tail = _unterminated_tail(fd, os.fstat(fd).st_size)
        if tail and _record(tail) is not None:
            line = b"\n" + line
        elif tail:
            os.ftruncate(fd, start)
        os.write(fd, line)
    finally:
        os.close(fd)


def read_jsonl(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every record of a JSON-lines log, and warnings: a last line without its newline that is not valid JSON (a
    writer crashed, or is still writing) is skipped with a warning; any other line that is not a JSON object raises
    AvnbError naming the file, the line and the fix."""
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as exc:
        raise AvnbError(f"cannot read {path} ({exc.strerror}); check the path") from exc
    unterminated = lines.pop()
    records, warnings = [], []
    for number, line in enumerate(lines, start=1):
        record = _record(line)
        if record is not None:
            records.append(record)
        elif line.strip():
            raise AvnbError(
                f"{path} line {number} is not a JSON object: the log is damaged there; repair or delete that line"
            )
    if unterminated.strip():
        record = _record(unterminated)
        if record is not None:
            records.append(record)
        else:
            warnings.append(
                f"{path} line {len(lines) + 1} is an incomplete record (a write was interrupted or is in progress); "
                f"skipped it, the next append removes it"
            )
    return records, warnings
