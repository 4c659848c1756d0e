"""Generated benchmark media: render clips in-process, encode them as MP4 (H.264 + AAC), keep identical ones.

A generated clip's bytes follow from its own facts, the source of the code that renders it, the container settings
and the versions of the encoding libraries; a digest of all of them goes into the clip's status record, so a
rebuild keeps a clip only when it is proven identical and regenerates it otherwise.
"""

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import av
import numpy as np

from avnoisebench.errors import AvnbError
from avnoisebench.hashing import sha256_file
from avnoisebench.media.paths import media_path
from avnoisebench.media.plan import is_finished, prepare_root
from avnoisebench.media.status import StatusRecord, append_record, latest_status
from avnoisebench.processes import worker_pool
from avnoisebench.progress import SILENT, Progress

# x264's lookahead (mb-tree) gives run-to-run different bytes even on one thread; zerolatency turns it off.
VIDEO_OPTIONS = {"preset": "veryfast", "tune": "zerolatency", "crf": "23"}
AUDIO_OPTIONS = {"aac_coder": "fast"}


@dataclass(frozen=True)
class MediaFormat:
    """Container settings of generated clips: square frame size, frame rate, audio rate, encoder options."""

    size: int
    fps: int
    sample_rate: int
    video_options: dict[str, str] = field(default_factory=lambda: dict(VIDEO_OPTIONS))
    audio_options: dict[str, str] = field(default_factory=lambda: dict(AUDIO_OPTIONS))


class GeneratedClip(Protocol):
    """A clip that renders itself: uint8 RGB frames (T, size, size, 3) and float32 mono samples."""

    clip_id: str
    path: str

    def facts(self) -> dict[str, Any]:
        """JSON-ready values the clip's content follows from (besides code, format and tool versions)."""
        ...

    def render(self) -> tuple[np.ndarray, np.ndarray]:
        """The clip's frames and sound."""
        ...


@dataclass(frozen=True)
class MediaReport:
    """What a media build did: clips written, and clips kept because they were proven identical."""

    generated: int
    kept: int


def encode_clip(path: Path, frames: np.ndarray, sound: np.ndarray, fmt: MediaFormat) -> None:
    """Write frames and sound as an MP4 (H.264 yuv420p + AAC mono), single-threaded and reproducible."""
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fmt.fps, options=fmt.video_options)
        video.width = video.height = fmt.size
        video.pix_fmt = "yuv420p"
        video.codec_context.thread_count = 1
        audio = container.add_stream("aac", rate=fmt.sample_rate, layout="mono", options=fmt.audio_options)
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode())
        samples = av.AudioFrame.from_ndarray(np.ascontiguousarray(sound[None]), format="fltp", layout="mono")
        samples.sample_rate, samples.pts = fmt.sample_rate, 0
        container.mux(audio.encode(samples))
        container.mux(audio.encode())


def tool_versions() -> dict[str, str]:
    """Versions of the libraries whose output goes into a clip's bytes."""
    libraries = {name: ".".join(map(str, av.library_versions[name])) for name in ("libavcodec", "libavformat")}
    return {"pyav": av.__version__, **libraries, "numpy": np.__version__}


@dataclass(frozen=True)
class _Generator:
    """Everything shared by the clips of one build: its name, code digest, format, tool versions, media root."""

    name: str
    code: str
    fmt: MediaFormat
    tools: dict[str, str]
    media_root: Path

    def proof(self, clip: GeneratedClip, digest: str) -> str:
        """The status-record message tying a file's SHA-256 to everything its bytes follow from."""
        facts = {"clip": clip.facts(), "code": self.code, "format": asdict(self.fmt), "tools": self.tools}
        key = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
        return f"{self.name} key={key} sha256={digest}"

    def write(self, clip: GeneratedClip) -> None:
        """Render and encode one clip to a temporary name, rename it into place and record it ok."""
        began = time.monotonic()
        target = media_path(self.media_root, clip.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        try:
            encode_clip(partial, *clip.render(), self.fmt)
            digest = sha256_file(partial)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        record = StatusRecord(
            clip.clip_id,
            clip.path,
            "build",
            "ok",
            self.proof(clip, digest),
            target.stat().st_size,
            round(time.monotonic() - began, 3),
            self.tools,
        )
        append_record(self.media_root, record)

    def write_all(self, clips: Sequence[GeneratedClip]) -> int:
        """Write a batch of clips (one worker process's share); returns how many."""
        for clip in clips:
            self.write(clip)
        return len(clips)


def code_digest(modules: Sequence[Path]) -> str:
    """SHA-256 over the source files that render and encode a build's clips."""
    return hashlib.sha256("".join(sha256_file(path) for path in [*modules, Path(__file__)]).encode()).hexdigest()


def write_generated_media(
    name: str,
    clips: Sequence[GeneratedClip],
    media_root: Path,
    fmt: MediaFormat,
    modules: Sequence[Path],
    overwrite: bool = False,
    jobs: int = 1,
    progress: Progress = SILENT,
) -> MediaReport:
    """Generate every clip under `media_root` with `jobs` processes (processes.worker_pool: they die with this one),
    recorded ok in its status log; clips already there and proven identical are kept, others in use are replaced
    only with `overwrite`."""
    if jobs < 1:
        raise AvnbError(f"--jobs {jobs} must be at least 1")
    prepare_root(media_root)
    latest = latest_status(media_root)
    generator = _Generator(name, code_digest(modules), fmt, tool_versions(), media_root)
    todo, kept, clashes = [], 0, []
    for clip in clips:
        target = media_path(media_root, clip.path)
        record = latest.get(clip.clip_id)
        if not is_finished(record, target):
            todo.append(clip)
        elif record.action == "build" and record.message == generator.proof(clip, sha256_file(target)):
            kept += 1
        else:
            clashes.append(target)
            todo.append(clip)
    if clashes and not overwrite:
        raise AvnbError(
            f"{media_root} already holds {len(clashes)} {name} clip(s) in use that differ from this build "
            f"(e.g. {clashes[0]}: another seed or generator version, or changed since); pass --overwrite to "
            f"replace them, or choose another --media-root"
        )
    _run(generator, todo, jobs, progress)
    return MediaReport(generated=len(todo), kept=kept)


def _run(generator: _Generator, todo: list[GeneratedClip], jobs: int, progress: Progress) -> None:
    """Write `todo` in batches, in this process or on `jobs` worker processes, one progress step per clip."""
    if not todo:
        return
    size = max(1, min(64, len(todo) // (4 * jobs) or 1))
    batches = [todo[i : i + size] for i in range(0, len(todo), size)]
    task = progress.task(f"generate {generator.name}", len(todo), "clips")
    try:
        if jobs == 1:
            for batch in batches:
                task.advance(generator.write_all(batch))
            return
        with worker_pool(jobs) as pool:
            for done in pool.map(generator.write_all, batches):
                task.advance(done)
    finally:
        task.close()
