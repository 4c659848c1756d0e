"""ffprobe a media file: container, streams, duration; and the checks a downloaded clip must pass."""

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from avnoisebench.errors import AvnbError

MIN_DURATION_SHARE = 0.9


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
    """What ffprobe says about a file."""

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
    command = ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, start_new_session=True)
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"ffprobe exit {done.returncode}"
        raise MediaError("corrupt", path, f"ffprobe cannot read it ({reason})")
    data = json.loads(done.stdout or "{}")
    streams = data.get("streams", [])
    fmt = data.get("format", {})
    video = next((s for s in streams if s.get("codec_type") == "video" and not _is_cover(s)), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    duration = fmt.get("duration")
    return MediaInfo(
        container=fmt.get("format_name", "unknown"),
        duration=float(duration) if duration not in (None, "N/A") else None,
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


def _is_cover(stream: dict) -> bool:
    return bool(stream.get("disposition", {}).get("attached_pic"))


def verify_clip(path: Path, window: float | None, require_audio: bool = True) -> MediaInfo:
    """Probe a clip and require a video stream, an audio stream and >= 0.9 x `window` seconds."""
    info = probe(path)
    if info.video is None:
        raise MediaError("corrupt", path, "no video stream")
    if require_audio and info.audio is None:
        raise MediaError("no_audio", path, "no audio stream")
    if window and (info.duration or 0.0) < MIN_DURATION_SHARE * window:
        raise MediaError(
            "too_short",
            path,
            f"{info.duration or 0:.2f} s long, expected at least {MIN_DURATION_SHARE:g} x {window:g} s",
        )
    return info
