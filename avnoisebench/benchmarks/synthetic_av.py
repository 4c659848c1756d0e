"""synthetic-av: a small generated audio-visual benchmark, a moving shape with a tone, both telling the class.

Class i is the shape SHAPES[i % 3] moving as MOTIONS[i % 4] (the video), heard as a tone of pitch PITCHES[i % 4]
played with the rhythm RHYTHMS[i % 3] (the audio): twelve distinct classes, each shape and each pitch shared by
several of them, so neither modality gives the class away with one cue. Every random choice of a clip comes from
numpy.random.default_rng([seed, split_code, label, n]), so a clip does not depend on the number of classes or clips
built beside it. The motions look the same mirrored left to right, so horizontal-flip augmentation keeps labels.
"""

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import av
import numpy as np
import pyarrow as pa

from avnoisebench.benchmarks.benchmark import Benchmark, manifest_table
from avnoisebench.errors import AvnbError
from avnoisebench.hashing import sha256_file
from avnoisebench.media.paths import media_path
from avnoisebench.media.plan import is_finished, prepare_root
from avnoisebench.media.status import StatusRecord, append_record, latest_status

NAME = "synthetic-av"
SHAPES = ("square", "disc", "triangle")
MOTIONS = ("up", "down", "sideways", "pulse")
PITCHES = (330.0, 620.0, 1150.0, 2100.0)
RHYTHMS = ("steady", "beat", "flutter")
MAX_CLASSES = len(SHAPES) * len(MOTIONS)
SPLIT_CODES = {"train": 0, "test": 1}
SIZE, FPS, SECONDS, SAMPLE_RATE = 64, 16, 2.5, 16_000
NUM_FRAMES = round(FPS * SECONDS)
# x264's lookahead (mb-tree) gives run-to-run different bytes even on one thread; zerolatency turns it off.
VIDEO_OPTIONS = {"preset": "veryfast", "tune": "zerolatency", "crf": "23"}
AUDIO_OPTIONS = {"aac_coder": "fast"}


@dataclass(frozen=True)
class SyntheticClass:
    """What one class looks and sounds like."""

    shape: str
    motion: str
    pitch: float
    rhythm: str

    @property
    def name(self) -> str:
        """Class name, e.g. `square-up`."""
        return f"{self.shape}-{self.motion}"


def synthetic_class(label: int) -> SyntheticClass:
    """The look and sound of class `label` (0 to MAX_CLASSES - 1)."""
    return SyntheticClass(SHAPES[label % 3], MOTIONS[label % 4], PITCHES[label % 4], RHYTHMS[label % 3])


@dataclass(frozen=True)
class SyntheticClip:
    """Clip n of class `label` in one split."""

    split: str
    label: int
    n: int
    seed: int

    @property
    def class_name(self) -> str:
        """Name of the clip's class."""
        return synthetic_class(self.label).name

    @property
    def clip_id(self) -> str:
        """`syn-<split>-<class>-<n:04d>`."""
        return f"syn-{self.split}-{self.class_name}-{self.n:04d}"

    @property
    def path(self) -> str:
        """Media path relative to a media root."""
        return f"{NAME}/{self.split}/{self.class_name}/{self.clip_id}.mp4"

    def rng(self) -> np.random.Generator:
        """The generator of every random choice in this clip."""
        return np.random.default_rng([self.seed, SPLIT_CODES[self.split], self.label, self.n])


@dataclass(frozen=True)
class SyntheticSpec:
    """The settings of one synthetic-av build."""

    classes: int = 6
    train_per_class: int = 24
    test_per_class: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        if not 2 <= self.classes <= MAX_CLASSES:
            raise AvnbError(f"--classes {self.classes} is out of range; synthetic-av has 2 to {MAX_CLASSES} classes")
        if self.train_per_class < 1 or self.test_per_class < 1:
            raise AvnbError(
                f"--train-per-class {self.train_per_class} / --test-per-class {self.test_per_class} would leave a "
                f"split without clips; give each at least 1"
            )
        if self.seed < 0:
            raise AvnbError(f"--seed {self.seed} is negative; give a seed of 0 or more")

    def clips(self) -> list[SyntheticClip]:
        """Every clip of the build, train then test, by class and number."""
        sizes = {"train": self.train_per_class, "test": self.test_per_class}
        return [
            SyntheticClip(split, label, n, self.seed)
            for split, size in sizes.items()
            for label in range(self.classes)
            for n in range(size)
        ]


def _manifest(clips: list[SyntheticClip]) -> pa.Table:
    count = len(clips)
    return manifest_table(
        {
            "clip_id": [c.clip_id for c in clips],
            "youtube_id": [None] * count,
            "time_start": [None] * count,
            "time_end": [None] * count,
            "class_name": [c.class_name for c in clips],
            "clean_label": [c.label for c in clips],
            "path": [c.path for c in clips],
            "audio_clip_id": [c.clip_id for c in clips],
            "source_split": [c.split for c in clips],
        }
    )


def build_synthetic_av(spec: SyntheticSpec = SyntheticSpec()) -> Benchmark:
    """The clean train/test manifests of a synthetic-av build."""
    clips = spec.clips()
    looks = [synthetic_class(label) for label in range(spec.classes)]
    return Benchmark(
        name=NAME,
        title=f"synthetic-av ({spec.classes} classes, generated)",
        description=(
            f"A small generated audio-visual benchmark for testing training and evaluation code: {spec.classes} "
            f"classes, {spec.train_per_class} training and {spec.test_per_class} test clips per class. Each clip "
            f"is a {SECONDS:g} s MP4 (H.264 {SIZE}x{SIZE} at {FPS} fps, AAC mono {SAMPLE_RATE} Hz) of a coloured "
            "shape moving over a noisy textured background, with a tone of a class-specific pitch and rhythm in "
            "noise. The class is the shape and its motion, and equally the pitch and rhythm of the tone; colour, "
            "size, start position, speed, timbre, loudness and noise level vary at random. Clips are whole files: "
            "time_start and time_end are null, as for UCF101."
        ),
        class_names=[look.name for look in looks],
        train=_manifest([c for c in clips if c.split == "train"]),
        test=_manifest([c for c in clips if c.split == "test"]),
        sources=(),
        recipe={
            "benchmark": NAME,
            **asdict(spec),
            "clip_generator": "numpy.random.default_rng([seed, split_code, label, n])",
            "split_codes": SPLIT_CODES,
            "video": f"H.264 yuv420p {SIZE}x{SIZE}, {FPS} fps, {NUM_FRAMES} frames",
            "audio": f"AAC mono {SAMPLE_RATE} Hz, {SECONDS:g} s",
            "class_design": {
                look.name: f"{look.shape}, motion {look.motion}; tone {look.pitch:g} Hz, {look.rhythm}"
                for look in looks
            },
        },
        homepage="none: generated by avnoisebench (docs/benchmarks/synthetic-av.md)",
        license="apache-2.0",
    )


def _upsample(coarse: np.ndarray, size: int) -> np.ndarray:
    """A square grid bilinearly upsampled to size x size."""
    grid = np.linspace(0, coarse.shape[0] - 1, size)
    weights = np.maximum(0.0, 1.0 - np.abs(grid[:, None] - np.arange(coarse.shape[0])[None, :]))
    return weights @ coarse @ weights.T


def _trajectory(motion: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre x, y (pixels) and size factor of the shape in every frame."""
    t = np.arange(NUM_FRAMES) / FPS
    drift = rng.uniform(-2.0, 2.0, size=2)
    if motion == "pulse":
        x0, y0 = rng.uniform(20, SIZE - 20, size=2)
        scale = 1 + 0.35 * np.sin(2 * np.pi * rng.uniform(1.0, 1.6) * t + rng.uniform(0, 2 * np.pi))
        return x0 + drift[0] * t, y0 + drift[1] * t, scale
    speed = rng.uniform(9.0, 14.0)
    travel = speed * SECONDS
    start = rng.uniform(10, SIZE - 10 - travel)
    forward = motion == "down" or (motion == "sideways" and rng.random() < 0.5)
    along = start + speed * t if forward else start + travel - speed * t
    across = rng.uniform(14, SIZE - 14) + drift[0] * t
    x, y = (along, across) if motion == "sideways" else (across, along)
    return x, y, np.ones(NUM_FRAMES)


def _inside(shape: str, dx: np.ndarray, dy: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Signed distance (pixels) into the shape at offsets dx, dy from its centre; about equal areas per radius."""
    if shape == "disc":
        return radius - np.hypot(dx, dy)
    if shape == "square":
        return 0.89 * radius - np.maximum(np.abs(dx), np.abs(dy))
    slant = 0.866 * np.abs(dx) - 0.5 * dy
    return 0.78 * radius - np.maximum(dy, slant)


def _frames(look: SyntheticClass, rng: np.random.Generator) -> np.ndarray:
    """uint8 RGB frames (NUM_FRAMES, SIZE, SIZE, 3) of the clip."""
    x, y, scale = (v.astype(np.float32)[:, None, None] for v in _trajectory(look.motion, rng))
    radius = np.float32(rng.uniform(5.0, 8.0)) * scale
    colour = rng.uniform(140, 255, size=3)
    colour[rng.integers(3)] = rng.uniform(0, 60)
    background = rng.uniform(30, 90) + _upsample(rng.normal(0, 14, size=(6, 6)), SIZE)
    noise = rng.standard_normal(size=(NUM_FRAMES, SIZE, SIZE), dtype=np.float32)
    grid = np.arange(SIZE, dtype=np.float32)
    inside = _inside(look.shape, grid[None, None, :] - x, grid[None, :, None] - y, radius)
    alpha = np.clip(inside + 0.5, 0, 1)
    base = background.astype(np.float32) + 4 * noise
    channels = [np.clip(base + alpha * (np.float32(value) - base), 0, 255) + 0.5 for value in colour]
    return np.stack(channels, axis=-1).astype(np.uint8)


def _envelope(rhythm: str, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Loudness over time: steady, on/off beats at 2-2.8 Hz, or a 6-8 Hz flutter."""
    if rhythm == "steady":
        return np.ones_like(t)
    low, high = (2.0, 2.8) if rhythm == "beat" else (6.0, 8.0)
    rate, phase = rng.uniform(low, high), rng.uniform(0, 1)
    if rhythm == "flutter":
        return 0.5 + 0.5 * np.sin(2 * np.pi * (rate * t + phase))
    cycle = (rate * t + phase) % 1
    return np.clip(np.minimum(cycle, 0.5 - cycle) / (0.015 * rate), 0, 1)


def _sound(look: SyntheticClass, rng: np.random.Generator) -> np.ndarray:
    """float32 mono samples of the clip: the class tone in white noise."""
    t = np.arange(round(SECONDS * SAMPLE_RATE)) / SAMPLE_RATE
    pitch = look.pitch * 2 ** rng.uniform(-1 / 12, 1 / 12)
    weights = np.array([1.0, rng.uniform(0, 0.5), rng.uniform(0, 0.25)])
    phases = rng.uniform(0, 2 * np.pi, size=3)
    harmonics = np.sin(2 * np.pi * pitch * np.arange(1, 4)[:, None] * t + phases[:, None])
    tone = weights @ harmonics / weights.sum() * _envelope(look.rhythm, t, rng)
    level = rng.uniform(0.15, 0.4)
    noise = rng.normal(0, level * 10 ** (-rng.uniform(6, 18) / 20), size=t.size)
    fade = np.clip(np.minimum(t, SECONDS - t) / 0.02, 0, 1)
    return ((level * tone + noise) * fade).astype(np.float32)


def _encode(path: Path, frames: np.ndarray, sound: np.ndarray) -> None:
    """Write frames and sound as an MP4 (H.264 + AAC)."""
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS, options=VIDEO_OPTIONS)
        video.width = video.height = SIZE
        video.pix_fmt = "yuv420p"
        video.codec_context.thread_count = 1
        audio = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono", options=AUDIO_OPTIONS)
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode())
        samples = av.AudioFrame.from_ndarray(sound[None], format="fltp", layout="mono")
        samples.sample_rate, samples.pts = SAMPLE_RATE, 0
        container.mux(audio.encode(samples))
        container.mux(audio.encode())


@dataclass(frozen=True)
class MediaReport:
    """What a media build did: clips written, and clips kept because they were proven identical."""

    generated: int
    kept: int


@cache
def _generator_digest() -> str:
    """SHA-256 of this module's source: a change of the generator code makes every clip new."""
    return sha256_file(Path(__file__))


def _tools() -> dict[str, str]:
    """Versions of the libraries whose output goes into a clip's bytes."""
    libraries = {name: ".".join(map(str, av.library_versions[name])) for name in ("libavcodec", "libavformat")}
    return {"pyav": av.__version__, **libraries, "numpy": np.__version__}


def _identity(clip: SyntheticClip, tools: dict[str, str]) -> str:
    """A key naming everything a clip's bytes follow from: the clip, the generator source and library versions."""
    facts = {"clip": asdict(clip), "generator": _generator_digest(), "tools": tools}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def _proof(key: str, digest: str) -> str:
    """The status-record message that ties a file's SHA-256 to the identity key it was generated under."""
    return f"synthetic-av key={key} sha256={digest}"


def _write_clip(clip: SyntheticClip, media_root: Path, tools: dict[str, str]) -> None:
    """Generate one clip to a temporary name, rename it into place and record it ok."""
    began = time.monotonic()
    target = media_path(media_root, clip.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    look, rng = synthetic_class(clip.label), clip.rng()
    try:
        _encode(partial, _frames(look, rng), _sound(look, rng))
        digest = sha256_file(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    message = _proof(_identity(clip, tools), digest)
    seconds = round(time.monotonic() - began, 3)
    append_record(
        media_root,
        StatusRecord(clip.clip_id, clip.path, "build", "ok", message, target.stat().st_size, seconds, tools),
    )


def write_synthetic_media(spec: SyntheticSpec, media_root: Path, overwrite: bool = False) -> MediaReport:
    """Generate every clip of `spec` under `media_root`, recorded ok in its status log; identical clips are kept."""
    prepare_root(media_root)
    latest = latest_status(media_root)
    tools = _tools()
    todo, kept, clashes = [], 0, []
    for clip in spec.clips():
        target = media_path(media_root, clip.path)
        record = latest.get(clip.clip_id)
        if not is_finished(record, target):
            todo.append(clip)
        elif record.action == "build" and record.message == _proof(_identity(clip, tools), sha256_file(target)):
            kept += 1
        else:
            clashes.append(target)
            todo.append(clip)
    if clashes and not overwrite:
        raise AvnbError(
            f"{media_root} already holds {len(clashes)} synthetic-av clip(s) in use that differ from this build "
            f"(e.g. {clashes[0]}: another seed or generator version, or changed since); pass --overwrite to "
            f"replace them, or choose another --media-root"
        )
    for clip in todo:
        _write_clip(clip, media_root, tools)
    return MediaReport(generated=len(todo), kept=kept)
