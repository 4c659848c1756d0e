"""synthetic-av: a small generated audio-visual benchmark, a moving shape with a tone, both telling the class.

Class i is the shape SHAPES[i % 3] moving as MOTIONS[i % 4] (the video), heard as a tone of pitch PITCHES[i % 4]
played with the rhythm RHYTHMS[i % 3] (the audio): twelve distinct classes, each shape and each pitch shared by
several of them, so neither modality gives the class away with one cue. Every random choice of a clip comes from
numpy.random.default_rng([seed, split_code, label, n]), so a clip does not depend on the number of classes or clips
built beside it. The motions look the same mirrored left to right, so horizontal-flip augmentation keeps labels.
"""

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from avnoisebench.dataset.benchmark import Benchmark, manifest_table
from avnoisebench.dataset.write import check_destination, check_writable
from avnoisebench.errors import AvnbError
from avnoisebench.media.generate import MediaFormat, MediaReport, write_generated_media
from avnoisebench.progress import SILENT, Progress
from avnoisebench.recipes.recipe import DATA_ROOT, DEFAULT_MEDIA_ROOT, BuildOptions, Recipe, option, write_folder

NAME = "synthetic-av"
SHAPES = ("square", "disc", "triangle")
MOTIONS = ("up", "down", "sideways", "pulse")
PITCHES = (330.0, 620.0, 1150.0, 2100.0)
RHYTHMS = ("steady", "beat", "flutter")
MAX_CLASSES = len(SHAPES) * len(MOTIONS)
SPLIT_CODES = {"train": 0, "test": 1}
SIZE, FPS, SECONDS, SAMPLE_RATE = 64, 16, 2.5, 16_000
NUM_FRAMES = round(FPS * SECONDS)
# What the harness decodes by default: 4 frames over 2 s at 32 x 32, a 2 s log-mel window of 101 x 32.
DECODING = {
    "sampling": {"num_frames": 4, "stride": 0.5, "num_views": 10, "short_side": 40, "crop": 32},
    "audio": {"sample_rate": SAMPLE_RATE, "n_fft": 512, "hop": 320, "n_mels": 32, "fmax": SAMPLE_RATE / 2},
}

PROTOCOL = {"model": "tiny", "track": "features", "init": "simclr-synthetic-av", "epochs": 60, "lr": 1e-3}
PROTOCOL |= {"batch_size": 16, "quality_config": "sym60"}
"""The CPU protocol the card recommends (as AV-MNIST-NC's): tiny encoders pretrained label-free by the recipe
`simclr-synthetic-av`, frozen (track features), 60 epochs, Adam 1e-3, batch 16 for its small training split."""


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

    def facts(self) -> dict[str, Any]:
        """What the clip's content follows from."""
        return asdict(self)

    def render(self) -> tuple[np.ndarray, np.ndarray]:
        """The clip's frames and sound."""
        look, rng = synthetic_class(self.label), self.rng()
        return _frames(look, rng), _sound(look, rng)


@dataclass(frozen=True, kw_only=True)
class SyntheticAvOptions(BuildOptions):
    """The settings of one synthetic-av build."""

    out: Path = option(DATA_ROOT / NAME, help="Output folder.")
    media_root: Path = option(
        DEFAULT_MEDIA_ROOT, help="Media root that receives the generated clips and their status records."
    )
    classes: int = option(6, help=f"Number of classes, 2 to {MAX_CLASSES}.")
    train_per_class: int = option(24, help="Training clips per class.")
    test_per_class: int = option(8, help="Test clips per class.")
    seed: int = option(0, help="Seed of the clips and the label noise.")
    overwrite: bool = option(False, help="Replace an existing folder and clips of another build.")

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


def synthetic_av_benchmark(options: SyntheticAvOptions) -> Benchmark:
    """The clean train/test manifests of a synthetic-av build."""
    clips = options.clips()
    looks = [synthetic_class(label) for label in range(options.classes)]
    return Benchmark(
        name=NAME,
        title=f"synthetic-av ({options.classes} classes, generated)",
        description=(
            f"A small generated audio-visual benchmark for testing training and evaluation code: {options.classes} "
            f"classes, {options.train_per_class} training and {options.test_per_class} test clips per class. Each clip "
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
            "classes": options.classes,
            "train_per_class": options.train_per_class,
            "test_per_class": options.test_per_class,
            "seed": options.seed,
            "clip_generator": "numpy.random.default_rng([seed, split_code, label, n])",
            "split_codes": SPLIT_CODES,
            "video": f"H.264 yuv420p {SIZE}x{SIZE}, {FPS} fps, {NUM_FRAMES} frames",
            "audio": f"AAC mono {SAMPLE_RATE} Hz, {SECONDS:g} s",
            "decoding": DECODING,
            "protocol": PROTOCOL,
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


FORMAT = MediaFormat(size=SIZE, fps=FPS, sample_rate=SAMPLE_RATE)


def write_synthetic_media(options: SyntheticAvOptions, progress: Progress = SILENT) -> MediaReport:
    """Generate every clip of the build under its media root, recorded ok in its status log; identical clips are
    kept, others in use are replaced only with `overwrite`."""
    clips = options.clips()
    return write_generated_media(
        NAME, clips, options.media_root, FORMAT, [Path(__file__)], options.overwrite, progress=progress
    )


def build_synthetic_av(options: SyntheticAvOptions, progress: Progress = SILENT) -> list[Path]:
    """Build synthetic-av: generate its clips under the media root, then write its folder."""
    check_destination(options.out, options.overwrite)
    check_writable(options.media_root, "--media-root")
    progress.note(f"generating the synthetic-av clips under {options.media_root}")
    write_synthetic_media(options, progress)
    return [write_folder(synthetic_av_benchmark(options), options, options.out, options.seed, progress)]


RECIPE = Recipe(
    NAME,
    "A small generated benchmark with real media: moving shapes with tones, for testing training code.",
    SyntheticAvOptions,
    build_synthetic_av,
)
