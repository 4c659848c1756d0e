"""Video frames for training clips and 10-view evaluation: each video decoded once (decord, PyAV on any decord
failure).

A clip is `num_frames` frames `stride` seconds apart; frame j of a clip starting at s is the frame shown at
time s + (j + 0.5) * stride (the last frame whose timestamp is <= that time, so a video shorter than the clip
repeats its last frame, unless decoding stopped well before the duration its header claims: a truncated file
raises MediaError('truncated')). Evaluation takes `num_views` clips with starts

    start_i = i * max(D - L, 0) / (num_views - 1),   i = 0 .. num_views - 1,

D the video's duration and L = num_frames * stride the clip span: the first clip starts at 0, the last ends
at D, and every view of a video comes from one decoding pass.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from avnoisebench.dataset.decoding import ClipSampling
from avnoisebench.media.probe import MediaError, packet_span, require_complete
from avnoisebench.media.tools import tool_path

if TYPE_CHECKING:
    import av

BACKENDS = ("auto", "decord", "pyav")
VIDEO_MEAN = (0.43216, 0.394666, 0.37645)
VIDEO_STD = (0.22803, 0.22145, 0.216989)


class VideoFile(Protocol):
    """An open video: its duration and the frames shown at given times."""

    duration: float
    num_frames: int

    def frames_at(self, times: np.ndarray) -> np.ndarray:
        """uint8 RGB frames (len(times), H, W, 3) shown at `times` (seconds), from one decoding pass."""
        ...

    def close(self) -> None:
        """Release the file."""
        ...


def frame_index(timestamps: np.ndarray, times: np.ndarray) -> np.ndarray:
    """For each time, the last frame whose timestamp is <= it (the first frame for earlier times)."""
    return np.clip(np.searchsorted(timestamps, times, side="right") - 1, 0, len(timestamps) - 1)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _DecordVideo:
    def __init__(self, path: Path) -> None:
        import decord

        self.reader = decord.VideoReader(tool_path(path), ctx=decord.cpu(0), num_threads=1)
        if len(self.reader) == 0:
            raise MediaError("corrupt", path, "no decodable video frames")
        stamps = self.reader.get_frame_timestamp(np.arange(len(self.reader)))
        self.timestamps = stamps[:, 0]
        self.duration = float(stamps[-1, 1])
        self.num_frames = len(self.reader)

    def frames_at(self, times: np.ndarray) -> np.ndarray:
        index = frame_index(self.timestamps, times)
        unique, inverse = np.unique(index, return_inverse=True)
        return self.reader.get_batch(unique.tolist()).asnumpy()[inverse]

    def close(self) -> None:
        """decord releases the file with the reader."""


class _PyAVVideo:
    def __init__(self, path: Path) -> None:
        import av

        self.path = path
        self.container = av.open(tool_path(path))
        if not self.container.streams.video:
            self.container.close()
            raise MediaError("corrupt", path, "no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.duration = self._header_duration() or self._measured_duration()
        self.num_frames = self.stream.frames

    def _header_duration(self) -> float:
        if self.stream.duration is not None and self.stream.time_base is not None:
            return float(self.stream.duration * self.stream.time_base)
        return (self.container.duration or 0) / 1_000_000

    def _measured_duration(self) -> float:
        import av

        with av.open(tool_path(self.path)) as container:
            return packet_span(container, container.streams.video[0]) or 0.0

    def _frame_end(self, frame: "av.VideoFrame") -> float:
        rate = self.stream.average_rate or self.stream.guessed_rate
        return (frame.time or 0.0) + (1 / float(rate) if rate else 0.0)

    def frames_at(self, times: np.ndarray) -> np.ndarray:
        order = np.argsort(times, kind="stable")
        chosen: list = [None] * len(times)
        position, previous = 0, None
        for frame in self.container.decode(self.stream):
            stamp = frame.time if frame.time is not None else 0.0
            while position < len(order) and previous is not None and times[order[position]] < stamp:
                chosen[order[position]] = previous
                position += 1
            if position == len(order):
                break
            previous = frame
        if previous is None:
            raise MediaError("corrupt", self.path, "no decodable video frames")
        if position < len(order):
            require_complete(self.path, self._frame_end(previous), self.duration, "the video")
        for k in order[position:]:
            chosen[k] = previous
        arrays = {id(f): f.to_ndarray(format="rgb24") for f in chosen}
        return np.stack([arrays[id(f)] for f in chosen])

    def close(self) -> None:
        self.container.close()


class _FallbackVideo:
    """decord where it works; PyAV from the first decord failure on, whether at opening (headerless WebM, a cut
    file) or while reading frames (1x1 and 2x2 videos)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.video: VideoFile = _DecordVideo(path)
        except Exception as exc:  # decord raises many types (and none when it is not installed: ImportError)
            self.video = self._pyav(exc)
        self.duration, self.num_frames = self.video.duration, self.video.num_frames

    def _pyav(self, failure: BaseException) -> "_PyAVVideo":
        try:
            return _PyAVVideo(self.path)
        except MediaError:
            raise
        except Exception as exc:
            detail = f"decord: {_first_line(failure)}; pyav: {_first_line(exc)}"
            raise MediaError("corrupt", self.path, f"cannot decode video ({detail})") from exc

    def frames_at(self, times: np.ndarray) -> np.ndarray:
        try:
            return self.video.frames_at(times)
        except Exception as exc:
            if isinstance(self.video, _PyAVVideo):
                raise
            self.video = self._pyav(exc)
            return self.video.frames_at(times)

    def close(self) -> None:
        self.video.close()


def _open(path: Path, backend: str) -> VideoFile:
    if backend == "auto":
        return _FallbackVideo(path)
    try:
        return _DecordVideo(path) if backend == "decord" else _PyAVVideo(path)
    except MediaError:
        raise
    except Exception as exc:  # decord and PyAV raise many types for unreadable input
        raise MediaError("corrupt", path, f"cannot decode video ({backend}: {_first_line(exc)})") from exc


@contextmanager
def open_video(path: Path, backend: str = "auto") -> Iterator[VideoFile]:
    """Open a video with decord, falling back to PyAV on any decord failure ("auto"), or with one backend; every
    failure raises MediaError (missing, corrupt, truncated)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown video backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if not path.is_file():
        raise MediaError("missing", path, "file does not exist")
    video = _open(path, backend)
    try:
        yield video
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError("corrupt", path, f"decoding failed ({_first_line(exc)})") from exc
    finally:
        video.close()


def resize_short_side(frames: torch.Tensor, size: int) -> torch.Tensor:
    """Resize uint8 (N, C, H, W) frames so the short side is `size` (bilinear, antialiased)."""
    height, width = frames.shape[-2:]
    scale = size / min(height, width)
    target = (max(size, round(height * scale)), max(size, round(width * scale)))
    return F.interpolate(frames, size=target, mode="bilinear", antialias=True, align_corners=False)


def clip_tensor(frames: np.ndarray, sampling: ClipSampling, rng: np.random.Generator | None) -> torch.Tensor:
    """Frames (T, H, W, 3) -> uint8 (3, T, crop, crop): short side resized, then random crop and flip (`rng`)
    or centre crop (no `rng`)."""
    video = resize_short_side(torch.from_numpy(frames).permute(0, 3, 1, 2), sampling.short_side)
    height, width = video.shape[-2:]
    if rng is None:
        top, left = (height - sampling.crop) // 2, (width - sampling.crop) // 2
    else:
        top, left = int(rng.integers(0, height - sampling.crop + 1)), int(rng.integers(0, width - sampling.crop + 1))
    video = video[..., top : top + sampling.crop, left : left + sampling.crop]
    if rng is not None and rng.random() < 0.5:
        video = video.flip(-1)
    return video.permute(1, 0, 2, 3).contiguous()


def decode_train_clip(
    path: Path, sampling: ClipSampling, rng: np.random.Generator, backend: str = "auto"
) -> tuple[torch.Tensor, float]:
    """One training clip from a random offset, with random crop and flip: uint8 (3, T, crop, crop) and its centre."""
    with open_video(path, backend) as video:
        start = sampling.train_start(video.duration, rng)
        frames = video.frames_at(sampling.frame_times(np.array([start]))[0])
    return clip_tensor(frames, sampling, rng), start + sampling.span / 2


def eval_views(video: VideoFile, sampling: ClipSampling) -> tuple[torch.Tensor, np.ndarray]:
    """All evaluation views of an open video, centre-cropped: uint8 (V, 3, T, crop, crop) and each view's centre."""
    starts = sampling.view_starts(video.duration)
    frames = video.frames_at(sampling.frame_times(starts).ravel())
    clips = clip_tensor(frames, sampling, None)
    views = clips.reshape(3, len(starts), sampling.num_frames, *clips.shape[-2:]).permute(1, 0, 2, 3, 4)
    return views.contiguous(), starts + sampling.span / 2


def decode_eval_views(path: Path, sampling: ClipSampling, backend: str = "auto") -> tuple[torch.Tensor, np.ndarray]:
    """All evaluation views of the video at `path`, from one decoding pass (see eval_views)."""
    with open_video(path, backend) as video:
        return eval_views(video, sampling)


def normalize_video(clip: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 3, T, H, W) -> float in [0, 1] normalised with the torchvision video preset mean and std."""
    mean = torch.tensor(VIDEO_MEAN).view(3, 1, 1, 1)
    std = torch.tensor(VIDEO_STD).view(3, 1, 1, 1)
    return (clip.float() / 255.0 - mean) / std
