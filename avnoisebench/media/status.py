"""The append-only media status log: one JSON record per download, link, build or failed decode of a clip; the
latest record of a clip wins."""

import socket
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from avnoisebench.jsonl import append_line, read_jsonl

STATUS_DIR = ".avnb"
STATUS_FILE = "status.jsonl"

FAILURE_CATEGORIES = (
    "unavailable",
    "private",
    "removed",
    "geo_or_age",
    "rate_limited",
    "bot_check",
    "no_audio",
    "too_short",
    "too_small",
    "corrupt",
    "truncated",
    "ffmpeg_failed",
    "network",
    "missing",
)
CATEGORIES = ("ok", *FAILURE_CATEGORIES)
TRANSIENT = frozenset({"rate_limited", "bot_check", "network", "corrupt", "truncated", "ffmpeg_failed"})


@dataclass(frozen=True)
class StatusRecord:
    """One attempt at one clip."""

    clip_id: str
    path: str
    action: str
    category: str
    message: str = ""
    bytes: int = 0
    seconds: float = 0.0
    tools: dict[str, str] = field(default_factory=dict)
    time: float = 0.0
    host: str = ""

    @property
    def ok(self) -> bool:
        """Whether the clip is in place and verified."""
        return self.category == "ok"

    @property
    def transient(self) -> bool:
        """Whether a rerun should try this clip again."""
        return self.category in TRANSIENT


def status_log_path(media_root: Path) -> Path:
    """Where the status log of a media root lives."""
    return media_root / STATUS_DIR / STATUS_FILE


def append_record(media_root: Path, record: StatusRecord) -> None:
    """Append one record as one line of the media root's status log (locked against parallel writers)."""
    stamped = {**asdict(record), "time": record.time or time.time(), "host": record.host or socket.gethostname()}
    append_line(status_log_path(media_root), stamped)


def record_decode_failure(media_root: Path, clip_id: str, category: str, detail: str, path: str = "") -> StatusRecord:
    """Log that a clip's file failed to decode while training or caching (a MediaError's category and detail), so
    `avnb status` lists it and loaders leave it out until `avnb link` / `avnb download` puts a good file in place."""
    if category not in FAILURE_CATEGORIES:
        raise ValueError(f"unknown failure category {category!r}; use one of {', '.join(FAILURE_CATEGORIES)}")
    record = StatusRecord(clip_id, path, "decode", category, detail)
    append_record(media_root, record)
    return record


def read_records(media_root: Path) -> list[StatusRecord]:
    """Every record in file order; a torn last line from an interrupted writer is skipped with a warning."""
    path = status_log_path(media_root)
    if not path.is_file():
        return []
    found, problems = read_jsonl(path)
    for problem in problems:
        warnings.warn(problem, stacklevel=2)
    fields = StatusRecord.__dataclass_fields__
    return [StatusRecord(**{k: v for k, v in data.items() if k in fields}) for data in found]


def latest_status(media_root: Path) -> dict[str, StatusRecord]:
    """The last record of every clip_id in the log."""
    return {record.clip_id: record for record in read_records(media_root)}
