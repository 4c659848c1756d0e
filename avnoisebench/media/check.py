"""Check that a media file serves the pipeline: its header, and everything evaluation decodes (all views, in one pass
from the start of the video to its end, and the whole audio stream), so mid-file damage and cut files surface."""

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from avnoisebench.dataset.decoding import ClipSampling, LogMelConfig
from avnoisebench.media.audio import audio_features, load_waveform
from avnoisebench.media.decode import eval_views, open_video
from avnoisebench.media.probe import MediaError, MediaInfo, check_header, probe


@dataclass(frozen=True)
class MediaCheck:
    """The outcome of checking one file; `category` is None when everything decodes."""

    path: str
    info: MediaInfo | None
    frames: int
    views: int
    audio_window: bool
    category: str | None
    message: str

    @property
    def ok(self) -> bool:
        """Whether the file can be used as an audio-visual sample."""
        return self.category is None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "ok": self.ok}


def verify_media(
    path: Path,
    window: float | None,
    sampling: ClipSampling = ClipSampling(),
    sample_rate: int = LogMelConfig.sample_rate,
) -> MediaInfo:
    """What `link` and `download` require of a clip: check_header, then every evaluation view and the whole audio
    stream decode (MediaError with the category otherwise)."""
    info = probe(path)
    check_header(info, path, window)
    with open_video(path) as video:
        eval_views(video, sampling)
    load_waveform(path, sample_rate)
    return info


def check_media(
    path: Path, sampling: ClipSampling = ClipSampling(), audio: LogMelConfig = LogMelConfig(), backend: str = "auto"
) -> MediaCheck:
    """Probe `path`, decode all evaluation views and their audio windows, check its header; never raises for a bad
    file."""
    info, frames, views, window = None, 0, 0, False
    try:
        info = probe(path)
        with open_video(path, backend) as video:
            frames = video.num_frames
            clips, centres = eval_views(video, sampling)
        views = len(clips)
        features, has_audio = audio_features(path, centres, audio)
        window = has_audio and features.shape[0] == len(centres)
        check_header(info, path, None)
    except MediaError as exc:
        return MediaCheck(str(path), info, frames, views, window, exc.category, exc.detail)
    return MediaCheck(str(path), info, frames, views, window, None, "")


def describe(check: MediaCheck) -> str:
    """One line for a terminal: container, streams, duration, frames, decodability, and the failure if any."""
    parts = [check.path]
    if check.info is not None:
        info = check.info
        video = info.video
        parts.append(info.container.split(",")[0])
        parts.append(
            f"video {video.codec} {video.width}x{video.height} {video.fps:.2f} fps {check.frames} frames"
            if video
            else "no video"
        )
        parts.append(
            f"audio {info.audio.codec} {info.audio.sample_rate} Hz {info.audio.channels} ch"
            if info.audio
            else "no audio"
        )
        parts.append(f"{info.duration:.2f} s" if info.duration is not None else "duration ?")
    parts.append(f"{check.views} views")
    parts.append("audio window ok" if check.audio_window else "no audio window")
    parts.append("OK" if check.ok else f"FAILED {check.category}: {check.message}")
    return " | ".join(parts)
