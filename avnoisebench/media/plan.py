"""Which clips a download or link run works on: the folder's clips, a split, a shard, less finished work."""

import os
from dataclasses import dataclass
from pathlib import Path

from avnoisebench.errors import AvnbError
from avnoisebench.media.clips import benchmark_clips
from avnoisebench.media.paths import media_path
from avnoisebench.media.status import STATUS_DIR, StatusRecord, read_records

SPLITS = ("train", "test")


@dataclass(frozen=True)
class Clip:
    """One clip of a benchmark folder and where its file goes under the media root."""

    clip_id: str
    path: str
    target: Path
    class_name: str
    split: str
    youtube_id: str | None
    time_start: int | None
    time_end: int | None

    @property
    def window(self) -> float | None:
        """Length of the clip's source window in seconds; None when the source is a whole video (UCF101)."""
        if self.time_start is None or self.time_end is None:
            return None
        return float(self.time_end - self.time_start)


@dataclass(frozen=True)
class Selection:
    """The clips a run attempts, and how many it leaves alone."""

    todo: list[Clip]
    done: int
    failed: int


def load_clips(folder: Path, media_root: Path, split: str | None = None) -> list[Clip]:
    """Every clip of a benchmark folder (or one split), sorted by clip_id, with its target path resolved."""
    if split is not None and split not in SPLITS:
        raise AvnbError(f"--split {split!r} is not a split; use one of {', '.join(SPLITS)}")
    clips = [
        Clip(
            clip_id=row["clip_id"],
            path=row["path"],
            target=media_path(media_root, row["path"]),
            class_name=row["class_name"],
            split=row["split"],
            youtube_id=row["youtube_id"],
            time_start=row["time_start"],
            time_end=row["time_end"],
        )
        for row in benchmark_clips(folder).to_pylist()
    ]
    return [clip for clip in clips if split is None or clip.split == split]


def parse_shard(text: str) -> tuple[int, int]:
    """`i/n` (1-based: shard i of n) as (i, n)."""
    head, _, tail = text.partition("/")
    if not (head.strip().isdigit() and tail.strip().isdigit()) or not 1 <= int(head) <= int(tail):
        raise AvnbError(f"--shard {text!r} is not i/n with 1 <= i <= n (1-based), e.g. --shard 1/4 ... --shard 4/4")
    return int(head), int(tail)


def shard_clips(clips: list[Clip], shard: str | None) -> list[Clip]:
    """Shard i of n of clips sorted by clip_id: every n-th clip from position i-1; the n shards partition the list."""
    if shard is None:
        return clips
    index, count = parse_shard(shard)
    ordered = sorted(clips, key=lambda clip: clip.clip_id)
    return ordered[index - 1 :: count]


def is_finished(record: StatusRecord | None, target: Path) -> bool:
    """Whether a clip's latest record is ok and its file is still in place."""
    return record is not None and record.ok and target.exists()


def select_work(clips: list[Clip], media_root: Path, action: str, retry_failed: bool) -> Selection:
    """Clips to attempt: not finished, and unless `retry_failed`, not failed for good at an earlier `action`."""
    records = read_records(media_root)
    latest = {record.clip_id: record for record in records}
    latest_own = {record.clip_id: record for record in records if record.action == action}
    todo, done, failed = [], 0, 0
    for clip in clips:
        own = latest_own.get(clip.clip_id)
        if is_finished(latest.get(clip.clip_id), clip.target):
            done += 1
        elif not retry_failed and own is not None and not own.ok and not own.transient:
            failed += 1
        else:
            todo.append(clip)
    return Selection(todo, done, failed)


def prepare_root(media_root: Path) -> None:
    """Create the media root and its status folder; one clear error when it cannot be written."""
    status_dir = media_root / STATUS_DIR
    try:
        status_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AvnbError(f"cannot create {status_dir} ({exc.strerror}); choose a writable --media-root") from exc
    if not os.access(status_dir, os.W_OK):
        raise AvnbError(f"{status_dir} is not writable; choose a writable --media-root or fix its permissions")
