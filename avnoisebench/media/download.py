"""`avnb download`: fetch each clip's source video with yt-dlp, cut its window with ffmpeg, verify, put it in place."""

import importlib
import os
import re
import shutil
import string
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import ffmpeg

from avnoisebench.errors import AvnbError
from avnoisebench.media.failures import classify_error
from avnoisebench.media.paths import media_path
from avnoisebench.media.plan import Clip, load_clips, prepare_root, select_work, shard_clips
from avnoisebench.media.probe import MIN_DURATION_SHARE, MediaError, verify_clip
from avnoisebench.media.status import STATUS_DIR, StatusRecord, append_record
from avnoisebench.media.tools import Stopped, ToolFailed, require_tools, run_ffmpeg, tool_path, tool_version
from avnoisebench.media.workers import RunStopped, RunSummary, run_clips
from avnoisebench.progress import SILENT, Progress

DEFAULT_SOURCE_URL = "https://www.youtube.com/watch?v={youtube_id}"
SOURCE_FIELDS = ("youtube_id", "clip_id", "time_start", "time_end")
# Video+audio at <= 360p; YouTube muxes both only in low formats, so ask for separate streams first.
FORMAT = "bv*[height<=360]+ba/b[height<=360]/bv*+ba/b"
THROTTLED = frozenset({"rate_limited", "bot_check"})
MAX_BACKOFF = 900.0
UCF101_ARCHIVE = "https://www.crcv.ucf.edu/data/UCF101/UCF101.rar"


@dataclass(frozen=True)
class DownloadOptions:
    """How `download` works through a benchmark folder's clips."""

    jobs: int = 2
    shard: str | None = None
    split: str | None = None
    cookies: Path | None = None
    source_url: str = DEFAULT_SOURCE_URL
    retry_failed: bool = False
    max_throttled: int = 5
    backoff: float = 30.0
    socket_timeout: float = 30.0


def yt_dlp_module() -> ModuleType:
    """The yt_dlp package, or one clear error when it is not installed."""
    try:
        return importlib.import_module("yt_dlp")
    except ImportError as exc:
        raise AvnbError("the yt-dlp Python package is not installed; install it with `pip install yt-dlp`") from exc


def check_source_url(template: str) -> None:
    """Refuse a --source-url template with an unknown field or bad braces, naming the field and the allowed ones."""
    allowed = ", ".join(f"{{{name}}}" for name in SOURCE_FIELDS)
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise AvnbError(f"--source-url {template!r} is not a valid template ({exc}); use the fields {allowed}") from exc
    for name in names:
        if re.split(r"[.\[]", name, maxsplit=1)[0] not in SOURCE_FIELDS:
            raise AvnbError(f"--source-url {template!r} has an unknown field {{{name}}}; the fields are {allowed}")
    try:
        template.format(youtube_id="x", clip_id="x", time_start=0, time_end=1)
    except (KeyError, IndexError, AttributeError, ValueError) as exc:
        raise AvnbError(f"--source-url {template!r} is not a valid template ({exc}); use the fields {allowed}") from exc


def source_url(template: str, clip: Clip) -> str:
    """The URL of a clip's source video from a template checked by check_source_url."""
    return template.format(
        youtube_id=clip.youtube_id, clip_id=clip.clip_id, time_start=clip.time_start, time_end=clip.time_end
    )


class _Throttle:
    """Exponential back-off shared by all workers after rate-limit or bot-check failures, and the stop rule."""

    def __init__(self, backoff: float, limit: int) -> None:
        self.backoff = backoff
        self.limit = limit
        self.streak = 0
        self.resume_at = 0.0
        self.last = ""
        self.lock = threading.Lock()

    def wait(self, stop: threading.Event) -> None:
        with self.lock:
            delay = self.resume_at - time.monotonic()
        if delay > 0:
            stop.wait(delay)

    def note(self, record: StatusRecord) -> bool:
        """Count a result; True when `limit` throttled failures in a row mean the run must stop."""
        with self.lock:
            if record.category not in THROTTLED:
                self.streak = 0
                return False
            self.streak += 1
            self.last = record.message
            self.resume_at = time.monotonic() + min(MAX_BACKOFF, self.backoff * 2 ** (self.streak - 1))
            return self.streak >= self.limit


class _Log:
    """yt-dlp logger: keeps its warnings for the status message, prints nothing."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def debug(self, message: str) -> None:
        """Progress and debug lines are dropped."""

    info = debug

    def warning(self, message: str) -> None:
        self.warnings.append(message.removeprefix("WARNING: "))

    def error(self, message: str) -> None:
        """Errors come back as exceptions."""


def _fetch(yt_dlp: ModuleType, url: str, work: Path, options: DownloadOptions, stop: threading.Event) -> Path:
    """Download the whole source video into `work`; yt-dlp errors raise MediaError with their category."""

    def hook(_: dict[str, Any]) -> None:
        if stop.is_set():
            raise Stopped

    log = _Log()
    params = {
        "format": FORMAT,
        "outtmpl": tool_path(work / "source.%(ext)s"),
        "merge_output_format": "mkv",
        "noplaylist": True,
        "quiet": True,
        "noprogress": True,
        "logger": log,
        "color": {"stdout": "never", "stderr": "never"},
        "progress_hooks": [hook],
        "retries": 2,
        "fragment_retries": 2,
        "socket_timeout": options.socket_timeout,
        "cookiefile": str(options.cookies) if options.cookies else None,
    }
    try:
        with yt_dlp.YoutubeDL(params) as ydl:
            info = ydl.extract_info(url, download=True)
    except yt_dlp.utils.YoutubeDLError as exc:
        message = str(exc).removeprefix("ERROR: ")
        if log.warnings:
            message += f" (warnings: {'; '.join(dict.fromkeys(log.warnings))})"
        raise MediaError(classify_error(str(exc)), url, message) from exc
    return Path(info["requested_downloads"][0]["filepath"])


def _cut(source: Path, out: Path, clip: Clip, stop: threading.Event) -> None:
    """Re-encode [time_start, time_end] of `source` to H.264 + AAC MP4, seeking on the output side (frame-accurate)."""
    window = clip.window or 0.0
    start = clip.time_start or 0
    info = verify_clip(source, window=None)
    if (info.duration or 0.0) < start + MIN_DURATION_SHARE * window:
        raise MediaError(
            "too_short",
            source,
            f"the source video is {info.duration or 0:.2f} s long, the clip is {start}-{start + window:g} s",
        )
    source_file = ffmpeg.input(tool_path(source))
    video = source_file["v:0"].filter("scale", "trunc(iw/2)*2", "trunc(ih/2)*2")
    codecs = {"c:v": "libx264", "preset": "veryfast", "crf": 23, "pix_fmt": "yuv420p", "c:a": "aac", "b:a": "128k"}
    cut = ffmpeg.output(
        video, source_file["a:0"], tool_path(out), ss=start, t=f"{window:g}", sn=None, dn=None,
        movflags="+faststart", **codecs,
    )  # fmt: skip
    try:
        run_ffmpeg(cut, stop)
    except ToolFailed as exc:
        raise MediaError("ffmpeg_failed", out, f"ffmpeg failed ({exc})") from exc


def _download_clip(
    clip: Clip,
    stop: threading.Event,
    media_root: Path,
    options: DownloadOptions,
    yt_dlp: ModuleType,
    tools: dict[str, str],
    throttle: _Throttle,
) -> StatusRecord | None:
    """One attempt at one clip, ending in one status record (none when the run is stopping)."""
    from avnoisebench.media.check import verify_media  # decoders and torch: loaded when a clip is verified

    throttle.wait(stop)
    if stop.is_set():
        return None
    began = time.monotonic()
    work = media_path(media_root, f"{STATUS_DIR}/tmp/{clip.clip_id}")
    partial = clip.target.with_name(f".{clip.target.stem}.partial{clip.target.suffix}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        source = _fetch(yt_dlp, source_url(options.source_url, clip), work, options, stop)
        clip.target.parent.mkdir(parents=True, exist_ok=True)
        _cut(source, partial, clip, stop)
        info = verify_media(partial, window=clip.window)
        os.replace(partial, clip.target)
        category, size = "ok", info.size
        message = f"{info.duration or 0:.2f} s, {info.video.width}x{info.video.height}" if info.video else ""
    except MediaError as exc:
        if stop.is_set():
            return None
        category, message, size = exc.category, exc.detail, 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
        partial.unlink(missing_ok=True)
    record = StatusRecord(
        clip.clip_id, clip.path, "download", category, message, size, round(time.monotonic() - began, 3), tools
    )
    append_record(media_root, record)
    if throttle.note(record):
        stop.set()
    return record


def download(
    folder: Path, media_root: Path, options: DownloadOptions = DownloadOptions(), progress: Progress = SILENT
) -> RunSummary:
    """Download, cut and verify (check.verify_media) every clip of a benchmark folder not in place yet; resumable.
    Ctrl-C (or SIGTERM inside processes.sigterm_raises) raises workers.RunInterrupted after running clips end."""
    require_tools("ffmpeg", "ffprobe")
    check_source_url(options.source_url)
    yt_dlp = yt_dlp_module()
    media_root = media_root.absolute()
    if options.cookies is not None and not options.cookies.is_file():
        raise AvnbError(f"--cookies {options.cookies} is not a file; export a Netscape-format cookies.txt")
    clips = shard_clips(load_clips(folder, media_root, options.split), options.shard)
    without_id = [clip.clip_id for clip in clips if not clip.youtube_id]
    if without_id:
        raise AvnbError(
            f"{folder} has clips without a YouTube id (e.g. {without_id[0]}): UCF101 videos are not on YouTube, "
            f"they come from the official archive {UCF101_ARCHIVE}; extract it and adopt the videos with "
            f"`avnb link {folder} --from <extracted UCF-101 folder> --media-root {media_root}`"
        )
    prepare_root(media_root)
    selection = select_work(clips, media_root, "download", options.retry_failed)
    summary = RunSummary("download", len(clips), selection.done, selection.failed)
    tools = {"yt-dlp": yt_dlp.version.__version__, "ffmpeg": tool_version("ffmpeg")}
    throttle = _Throttle(options.backoff, options.max_throttled)
    stop = threading.Event()

    def work(clip: Clip, stop: threading.Event) -> StatusRecord | None:
        return _download_clip(clip, stop, media_root, options, yt_dlp, tools, throttle)

    run_clips(selection, summary, work, options.jobs, stop, progress)
    if stop.is_set():
        raise RunStopped(
            f"stopped after {throttle.streak} rate-limit/bot-check failures in a row (last: {throttle.last}); "
            f"{summary.categories.get('ok', 0)} clip(s) downloaded in this run are kept. YouTube is refusing this "
            f"machine: wait an hour or more, pass --cookies FILE and/or lower --jobs, then run the same command again "
            f"to resume"
        )
    return summary
