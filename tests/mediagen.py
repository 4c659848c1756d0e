"""Generate real media files with ffmpeg for tests: video with or without audio, odd sizes, variable frame rate."""

import subprocess
from pathlib import Path


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
) -> Path:
    """Write a test-pattern video (testsrc2, scaled to `size`) with an optional sine-tone audio track.

    Odd sizes need pix_fmt='yuv444p' with libx264; `vfr` keeps frames 0-9 and then every third one at their
    original timestamps, so frame spacing changes mid-file.
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
