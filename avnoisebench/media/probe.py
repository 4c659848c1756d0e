"""ffprobe a media file (container, streams, duration, measured when the header has none) and the checks a clip's
header must pass; MediaError, the failure of one file."""

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from avnoisebench.errors import AvnbError
from avnoisebench.media.tools import ToolFailed, probe_json, tool_path

if TYPE_CHECKING:
    import av

MIN_DURATION_SHARE = 0.9
MIN_SHORT_SIDE = 16
TRUNCATION_GAP_S = 0.5
TRUNCATION_GAP_SHARE = 0.1


class MediaError(AvnbError):
    """A media file that cannot be used, with a status-log category (corrupt, no_audio, too_short, ...)."""

    def __init__(self, category: str, path: Path | str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.category = category
        self.path = str(path)
        self.detail = message


@dataclass(frozen=True)
class VideoStream:
    """The first video stream of a file."""

    codec: str
    width: int
    height: int
    fps: float
    frames: int | None


@dataclass(frozen=True)
class AudioStream:
    """The first audio stream of a file."""

    codec: str
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class MediaInfo:
    """What ffprobe says about a file; `duration` is measured from the packets when the header gives none."""

    container: str
    duration: float | None
    video: VideoStream | None
    audio: AudioStream | None
    size: int


def _rate(text: str | None) -> float:
    if not text or "/" not in text:
        return float(text or 0)
    num, den = (float(x) for x in text.split("/"))
    return num / den if den else 0.0


def probe(path: Path) -> MediaInfo:
    """Run ffprobe on `path`; an unreadable file raises MediaError('corrupt')."""
    if not path.is_file():
        raise MediaError("missing", path, "file does not exist")
    try:
        data = probe_json(path)
    except ToolFailed as exc:
        raise MediaError("corrupt", path, f"ffprobe cannot read it ({exc})") from exc
    streams = data.get("streams", [])
    fmt = data.get("format", {})
    video = next((s for s in streams if s.get("codec_type") == "video" and not _is_cover(s)), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    duration = fmt.get("duration")
    return MediaInfo(
        container=fmt.get("format_name", "unknown"),
        duration=float(duration) if duration not in (None, "N/A") else measured_duration(path),
        video=None
        if video is None
        else VideoStream(
            codec=video.get("codec_name", "unknown"),
            width=int(video.get("width", 0)),
            height=int(video.get("height", 0)),
            fps=_rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate")),
            frames=int(video["nb_frames"]) if str(video.get("nb_frames", "")).isdigit() else None,
        ),
        audio=None
        if audio is None
        else AudioStream(
            codec=audio.get("codec_name", "unknown"),
            sample_rate=int(audio.get("sample_rate", 0)),
            channels=int(audio.get("channels", 0)),
        ),
        size=path.stat().st_size,
    )


def packet_span(container: "av.container.InputContainer", stream: "av.stream.Stream | None" = None) -> float | None:
    """Seconds from the first packet's start to the last one's end (of `stream`, or of all audio and video
    streams): the duration of what a file holds, read without decoding; None when no packet has a timestamp."""
    streams = [stream] if stream is not None else [*container.streams.video, *container.streams.audio]
    first, last = None, None
    for packet in container.demux(streams):
        if packet.pts is None or packet.time_base is None:
            continue
        start = float(packet.pts * packet.time_base)
        end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
        first = start if first is None else min(first, start)
        last = end if last is None else max(last, end)
    return None if first is None or last is None else last - first


def measured_duration(path: Path) -> float | None:
    """The duration of a file whose header gives none (e.g. a WebM written to a pipe), from its packets."""
    import av

    try:
        with av.open(tool_path(path)) as container:
            return packet_span(container)
    except av.error.FFmpegError as exc:
        raise MediaError("corrupt", path, f"cannot read its packets ({exc})") from exc


def require_complete(path: Path | str, decoded_end: float, claimed: float, what: str) -> None:
    """Raise MediaError('truncated') when decoding of `what` stopped well before (more than 0.5 s and 10 %) the
    `claimed` duration: the file was cut short, and repeating its last frame or padding silence would hide it."""
    if claimed - decoded_end > max(TRUNCATION_GAP_S, TRUNCATION_GAP_SHARE * claimed):
        ends = f"{what} ends at {decoded_end:.2f} s but the header says {claimed:.2f} s"
        raise MediaError("truncated", path, f"{ends}; the file was cut short")


def _is_cover(stream: dict) -> bool:
    return bool(stream.get("disposition", {}).get("attached_pic"))


def check_header(info: MediaInfo, path: Path, window: float | None, require_audio: bool = True) -> None:
    """Require of a probed clip a video stream of at least 16 px on its short side (smaller is no picture of an
    action: 'too_small'), an audio stream, and >= 0.9 x `window` seconds (read from the header, or measured)."""
    if info.video is None:
        raise MediaError("corrupt", path, "no video stream")
    if min(info.video.width, info.video.height) < MIN_SHORT_SIDE:
        size = f"{info.video.width}x{info.video.height}"
        raise MediaError("too_small", path, f"{size} video; a clip needs >= {MIN_SHORT_SIDE} px on its short side")
    if require_audio and info.audio is None:
        raise MediaError("no_audio", path, "no audio stream")
    if window and (info.duration or 0.0) < MIN_DURATION_SHARE * window:
        raise MediaError(
            "too_short",
            path,
            f"{info.duration or 0:.2f} s long, expected at least {MIN_DURATION_SHARE:g} x {window:g} s",
        )


def verify_clip(path: Path, window: float | None, require_audio: bool = True) -> MediaInfo:
    """Probe a clip and apply check_header (header only; check.verify_media also decodes it)."""
    info = probe(path)
    check_header(info, path, window, require_audio)
    return info
