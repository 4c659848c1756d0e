"""`avnb link`: adopt local copies of clips (CVDF / ActivityNet downloads, the UCF101 archive) into a media root."""

import errno
import os
import shutil
import threading
import time
from pathlib import Path

from avnoisebench.errors import AvnbError
from avnoisebench.media.plan import Clip, load_clips, prepare_root, select_work
from avnoisebench.media.probe import MediaError
from avnoisebench.media.status import StatusRecord, append_record
from avnoisebench.media.tools import require_tools, tool_version
from avnoisebench.media.workers import RunSummary, run_clips
from avnoisebench.progress import SILENT, Progress

MEDIA_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi")
JOBS = 4
# A hard link is impossible across filesystems, or where the filesystem or its policy forbids it: symlink instead.
NO_HARD_LINK = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES})


def index_media(source: Path) -> dict[str, Path]:
    """Media files under `source` (any depth, hidden entries skipped) by file stem; the first in sorted order wins."""
    if not source.is_dir():
        raise AvnbError(f"--from {source} is not a folder; give the folder that holds the extracted videos")
    found: dict[str, Path] = {}
    for directory, subdirs, files in os.walk(source, followlinks=True):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(directory, name)
            if not name.startswith(".") and path.suffix.lower() in MEDIA_SUFFIXES:
                found.setdefault(path.stem, path)
    return found


def place(source: Path, target: Path, copy: bool) -> str:
    """Put `source` at `target` atomically: a copy, a hard link, or a symlink where no hard link can be made."""
    partial = target.with_name(f".{target.name}.link")
    partial.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    if copy:
        shutil.copy2(source, partial)
        how = "copied"
    else:
        try:
            os.link(source, partial)
            how = "hard link"
        except OSError as exc:
            if exc.errno not in NO_HARD_LINK:
                raise
            os.symlink(source.resolve(), partial)
            how = "symlink"
    os.replace(partial, target)
    return how


def _link_clip(clip: Clip, media_root: Path, found: dict[str, Path], copy: bool, tools: dict[str, str]) -> StatusRecord:
    """Verify and place one clip's local copy, or record it missing; one status record either way."""
    from avnoisebench.media.check import verify_media  # decoders and torch: loaded when a clip is verified

    began = time.monotonic()
    source = found.get(clip.clip_id)
    size = 0
    if source is None:
        category, message = "missing", f"no {clip.clip_id} with suffix {'/'.join(MEDIA_SUFFIXES)} in the --from folder"
    else:
        try:
            info = verify_media(source, window=clip.window)
            how = place(source, clip.target, copy)
            category, message, size = "ok", f"{how} from {source}", info.size
        except MediaError as exc:
            category, message = exc.category, exc.detail
        except OSError as exc:
            raise AvnbError(f"cannot put {source} at {clip.target} ({exc.strerror}); check the media root") from exc
    record = StatusRecord(
        clip.clip_id, clip.path, "link", category, message, size, round(time.monotonic() - began, 3), tools
    )
    append_record(media_root, record)
    return record


def link(
    folder: Path,
    source: Path,
    media_root: Path,
    copy: bool = False,
    jobs: int = JOBS,
    progress: Progress = SILENT,
) -> RunSummary:
    """Adopt every clip of a benchmark folder found under `source` into the media root once it passes
    check.verify_media (header, all evaluation views and the audio decode); a rerun skips clips in place. Ctrl-C
    (or SIGTERM inside processes.sigterm_raises) raises workers.RunInterrupted after running clips end."""
    require_tools("ffprobe")
    clips = load_clips(folder, media_root)
    found = index_media(source)
    prepare_root(media_root)
    selection = select_work(clips, media_root, "link", retry_failed=True)
    summary = RunSummary("link", len(clips), selection.done, selection.failed)
    tools = {"ffprobe": tool_version("ffprobe")}

    def work(clip: Clip, _: threading.Event) -> StatusRecord:
        return _link_clip(clip, media_root, found, copy, tools)

    return run_clips(selection, summary, work, jobs, threading.Event(), progress)
