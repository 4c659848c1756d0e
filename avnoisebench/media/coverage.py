"""`avnb status`: which clips of a benchmark folder are in a media root, per split and class, and why others are not."""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avnoisebench.media.paths import media_path
from avnoisebench.media.plan import SPLITS, Clip, is_finished, load_clips
from avnoisebench.media.status import StatusRecord, latest_status


@dataclass
class Counts:
    """Clips of a group by state: ok, missing (never attempted, not found, or file gone), failed by category."""

    total: int = 0
    ok: int = 0
    missing: int = 0
    failed: Counter[str] = field(default_factory=Counter)

    def add(self, state: str) -> None:
        """Count one clip in `state`."""
        self.total += 1
        if state == "ok":
            self.ok += 1
        elif state == "missing":
            self.missing += 1
        else:
            self.failed[state] += 1

    def as_dict(self) -> dict[str, Any]:
        """Plain numbers for JSON."""
        return {
            "total": self.total,
            "ok": self.ok,
            "missing": self.missing,
            "failed": dict(sorted(self.failed.items())),
            "available": round(self.ok / self.total, 4) if self.total else 0.0,
        }


@dataclass
class Coverage:
    """Availability of a benchmark folder's clips in a media root."""

    folder: str
    media_root: str
    overall: Counts
    splits: dict[str, Counts]
    classes: dict[str, Counts]

    def as_dict(self) -> dict[str, Any]:
        """Machine-readable summary (what `avnb status --json` prints)."""
        return {
            "folder": self.folder,
            "media_root": self.media_root,
            "overall": self.overall.as_dict(),
            "splits": {name: counts.as_dict() for name, counts in self.splits.items()},
            "classes": {name: counts.as_dict() for name, counts in self.classes.items()},
        }


def clip_state(record: StatusRecord | None, target: Path) -> str:
    """'ok' (latest record ok, file present), 'missing', or the failure category of the latest record."""
    if is_finished(record, target):
        return "ok"
    if record is None or record.ok:
        return "missing"
    return record.category


def clip_states(folder: Path, media_root: Path) -> list[tuple[Clip, str]]:
    """Every clip of a benchmark folder with its state in the media root."""
    latest = latest_status(media_root)
    return [(clip, clip_state(latest.get(clip.clip_id), clip.target)) for clip in load_clips(folder, media_root)]


def available_clips(folder: Path, media_root: Path) -> set[str]:
    """clip_ids of the folder whose latest status is ok and whose file is in the media root."""
    return present_clips({clip.clip_id: clip.path for clip in load_clips(folder, media_root)}, media_root)


def present_clips(paths: dict[str, str], media_root: Path) -> set[str]:
    """Of `paths` (clip_id -> media path), the clip_ids whose latest status is ok and whose file is in the media root;
    reads no manifest, so no label."""
    latest = latest_status(media_root)
    return {clip for clip, path in paths.items() if is_finished(latest.get(clip), media_path(media_root, path))}


def coverage(folder: Path, media_root: Path) -> Coverage:
    """Counts of clip states overall, per split and per class (classes sorted by name)."""
    overall, splits, classes = Counts(), {}, {}
    for clip, state in clip_states(folder, media_root):
        overall.add(state)
        splits.setdefault(clip.split, Counts()).add(state)
        classes.setdefault(clip.class_name, Counts()).add(state)
    by_split = {name: splits[name] for name in SPLITS if name in splits}
    return Coverage(str(folder), str(media_root), overall, by_split, dict(sorted(classes.items())))
