"""Generate real media files with ffmpeg for tests: video with or without audio, odd sizes, variable frame rate;
damaged copies (cut short, scrambled in the middle)."""

import subprocess
from pathlib import Path

import ffmpeg
import numpy as np


def make_video(
    path: Path,
    seconds: float = 3.0,
    size: str = "96x72",
    fps: int = 25,
    audio: bool = True,
    vfr: bool = False,
    codec: str = "libx264",
    tone: int = 440,
    pix_fmt: str = "yuv420p",
    faststart: bool = False,
) -> Path:
    """Write a test-pattern video (testsrc2, scaled to `size`) with an optional sine-tone audio track.

    Odd sizes need pix_fmt='yuv444p' with libx264; `vfr` keeps frames 0-9 and then every third one at their
    original timestamps, so frame spacing changes mid-file; `faststart` puts an MP4's index first, as downloads do.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size=128x96:rate={fps}:duration={seconds}",
    ]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=frequency={tone}:sample_rate=44100:duration={seconds}"]
    if vfr:
        command += ["-vf", "select='lt(n\\,10)+not(mod(n\\,3))'", "-fps_mode", "vfr"]
    command += ["-s", size, "-c:v", codec, "-pix_fmt", pix_fmt]
    if audio:
        command += ["-c:a", "aac" if path.suffix != ".avi" else "mp3", "-shortest"]
    if faststart:
        command += ["-movflags", "+faststart"]
    command.append(str(path))
    subprocess.run(command, check=True)
    return path


def make_counter_video(path: Path, seconds: float, fps: int, size: str = "64x48", vfr: bool = False) -> Path:
    """A lossless grey video whose frame n has luma 20 + 5 * n (n <= 43), so decoded frames can be told apart."""
    path.parent.mkdir(parents=True, exist_ok=True)
    source = f"nullsrc=size={size}:rate={fps}:duration={seconds},geq=lum='20+5*N':cb=128:cr=128"
    if vfr:
        source += ",select='lt(n\\,10)+not(mod(n\\,3))'"
    command = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source]
    command += [*(["-fps_mode", "vfr"] if vfr else []), "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(command, check=True)
    return path


def damaged_copy(good: Path, out: Path, how: str, seed: int = 0) -> Path:
    """A copy of `good` (an MP4 with its index first) that headers do not give away: 'cut' keeps the first 55 % of
    its bytes, 'scrambled' overwrites the middle fifth with random bytes drawn from `seed`."""
    data = bytearray(good.read_bytes())
    if how == "cut":
        data = data[: len(data) * 55 // 100]
    elif how == "scrambled":
        start, size = len(data) * 2 // 5, len(data) // 5
        data[start : start + size] = np.random.default_rng(seed).bytes(size)
    else:
        raise ValueError(f"unknown damage {how!r}")
    out.write_bytes(bytes(data))
    return out


def make_headerless_webm(path: Path, seconds: float, size: str = "64x48") -> Path:
    """A VP8 + Opus WebM written to a pipe, as streaming tools write them: its header has no duration."""
    video = ffmpeg.input(f"testsrc2=size={size}:rate=25:duration={seconds}", f="lavfi")
    audio = ffmpeg.input(f"sine=frequency=440:sample_rate=48000:duration={seconds}", f="lavfi")
    stream = ffmpeg.output(video, audio, "pipe:", f="webm", **{"c:v": "libvpx", "c:a": "libopus"})
    data, _ = stream.global_args("-v", "error").run(capture_stdout=True)
    path.write_bytes(data)
    return path
