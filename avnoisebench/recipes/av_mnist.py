"""AV-MNIST-NC: real handwritten digits (MNIST test set) seen moving, real spoken digits (FSDD) heard, as MP4 clips.

Images are split 8,000 train / 2,000 test, stratified by digit (largest remainder, seeded); FSDD takes 5-49 serve
the training split and takes 0-4 (FSDD's official test split) the test split. Each image is paired with a
recording of the same digit from the same split: within a (split, digit) the images, in index order, take the
recordings in a chain of seeded permutations, so every recording is used as evenly as possible. Each sample is a
1 s clip: the digit drifting along a seeded path over a noisy background with a drifting occluder, and the
recording at a random offset in background noise at a random SNR (settings in annotations/av_mnist.toml).
Every random choice of a clip comes from numpy.random.default_rng([seed, split_code, mnist_index]).

Definition: annotations/av_mnist.toml (seed, sizes, source URLs and digests, media, corruption, decoding); sources:
MNIST's test set and FSDD's recordings (av_mnist_sources).
"""

import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from avnoisebench.dataset.benchmark import Benchmark, manifest_table
from avnoisebench.dataset.write import check_destination, check_writable
from avnoisebench.errors import AvnbError
from avnoisebench.media.generate import MediaFormat, MediaReport, write_generated_media
from avnoisebench.noise.correspondence import CorrespondenceSpec, parse_correspondence_levels
from avnoisebench.progress import SILENT, Progress
from avnoisebench.recipes import av_mnist_sources
from avnoisebench.recipes.av_mnist_sources import DigitSources, Recording, load_digit_sources, read_idx, read_wav
from avnoisebench.recipes.definitions import definition
from avnoisebench.recipes.recipe import (
    DATA_ROOT,
    DEFAULT_MEDIA_ROOT,
    BuildOptions,
    Recipe,
    option,
    parse_correspondence,
    write_folder,
)

NAME = "av-mnist"
DEFINITION = definition("av_mnist")
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SPLIT_CODES = {"train": 0, "test": 1}
LEVELS: tuple[CorrespondenceSpec, ...] = tuple(parse_correspondence_levels(DEFINITION["correspondence_levels"]))
FORMAT = MediaFormat(
    size=DEFINITION["media"]["size"], fps=DEFINITION["media"]["fps"], sample_rate=DEFINITION["media"]["sample_rate"]
)


@dataclass(frozen=True, kw_only=True)
class AvMnistOptions(BuildOptions):
    """The settings of one AV-MNIST build (the seed and sizes are the definition's)."""

    out: Path = option(DATA_ROOT / NAME, help="Output folder.")
    media_root: Path = option(
        DEFAULT_MEDIA_ROOT, help="Media root that receives the rendered clips and their status records."
    )
    sources: Path | None = option(
        None, help="Folder holding mnist/t10k-*.gz and fsdd/recordings/ instead of downloading them."
    )
    limit: int | None = option(None, help="Keep this many samples per split (stratified by digit).")
    jobs: int = option(2, help="Processes rendering and encoding clips.")
    nc_synthetic: tuple[CorrespondenceSpec, ...] | None = option(
        LEVELS,
        help=f"Correspondence-noise levels (default {','.join(level.name for level in LEVELS)}).",
        parse=parse_correspondence,
    )
    overwrite: bool = option(False, help="Replace an existing folder and clips of another build.")

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise AvnbError(f"--limit {self.limit} must be at least 1 (samples per split)")
        if self.jobs < 1:
            raise AvnbError(f"--jobs {self.jobs} must be at least 1")


def stratified_take(labels: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of `total` rows drawn per label in proportion to its count (largest remainder, ties to the
    smaller label), at random within each label."""
    values, counts = np.unique(labels, return_counts=True)
    if not 0 <= total <= labels.size:
        raise AvnbError(f"cannot take {total} of {labels.size} samples; give a number from 0 to {labels.size}")
    exact = counts * total / labels.size
    quota = np.floor(exact).astype(np.int64)
    order = np.lexsort((values, -(exact - quota)))
    quota[order[: total - quota.sum()]] += 1
    chosen = [rng.permutation(np.flatnonzero(labels == v))[:q] for v, q in zip(values, quota, strict=True)]
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class AvMnistClip:
    """One sample: MNIST test image `mnist_index` seen, FSDD `recording` heard, rendered under the recipe."""

    split: str
    mnist_index: int
    digit: int
    recording: str
    seed: int
    mnist_images: str
    recording_path: str
    corruption: str

    @property
    def clip_id(self) -> str:
        """`avm-<split>-<mnist index:05d>`."""
        return f"avm-{self.split}-{self.mnist_index:05d}"

    @property
    def path(self) -> str:
        """Media path relative to a media root."""
        return f"{NAME}/{self.split}/{DIGITS[self.digit]}/{self.clip_id}.mp4"

    def facts(self) -> dict[str, Any]:
        """What the clip's content follows from (sources are fixed by the recipe's digests)."""
        return {
            "split": self.split,
            "mnist_index": self.mnist_index,
            "recording": self.recording,
            "seed": self.seed,
            "corruption": self.corruption,
        }

    def render(self) -> tuple[np.ndarray, np.ndarray]:
        """The clip's frames (T, size, size, 3) uint8 and sound float32."""
        rng = np.random.default_rng([self.seed, SPLIT_CODES[self.split], self.mnist_index])
        image = _images(self.mnist_images)[self.mnist_index]
        samples, rate = read_wav(Path(self.recording_path))
        media, corruption = DEFINITION["media"], DEFINITION["corruption"]
        if rate != media["sample_rate"]:
            raise AvnbError(f"{self.recording_path}: sample rate {rate}, not FSDD's {media['sample_rate']}")
        return _frames(image, media, corruption["video"], rng), _sound(samples, media, corruption["audio"], rng)


@cache
def _images(path: str) -> np.ndarray:
    """The MNIST test images, read once per process."""
    return read_idx(Path(path))


def _frames(image: np.ndarray, media: dict[str, Any], video: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """The digit (scaled to a random contrast and tint) drifting along a random path over a noisy background,
    a grey square drifting over it."""
    size, count = media["size"], media["frames"]
    side = image.shape[0]
    low, high = side // 2, size - side // 2
    start, end = rng.uniform(low, high, size=(2, 2))
    t = np.linspace(0, 1, count)[:, None]
    wobble = rng.uniform(-2, 2, size=2) * np.sin(np.pi * t * rng.uniform(1, 2))
    centres = np.clip(np.rint(start + (end - start) * t + wobble), low, high).astype(int) - side // 2
    tint = rng.uniform(0.6, 1.0, size=3)
    contrast = rng.uniform(*video["contrast"])
    background = rng.uniform(*video["background"])
    square = int(rng.integers(video["occluder_size"][0], video["occluder_size"][1] + 1))
    corner = rng.uniform(0, size - square, size=(2, 2))
    shade = rng.uniform(0.2, 0.8)
    canvas = np.full((count, size, size), background, dtype=np.float32)
    digit = image.astype(np.float32) / 255
    for j, (x, y) in enumerate(centres):
        patch = canvas[j, y : y + side, x : x + side]
        canvas[j, y : y + side, x : x + side] = np.maximum(patch, background + contrast * digit)
        ox, oy = np.rint(corner[0] + (corner[1] - corner[0]) * j / max(count - 1, 1)).astype(int)
        canvas[j, oy : oy + square, ox : ox + square] = shade
    canvas += rng.normal(0, video["noise_std"], size=canvas.shape).astype(np.float32)
    rgb = canvas[..., None] * tint[None, None, None, :]
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def _sound(samples: np.ndarray, media: dict[str, Any], audio: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """The recording (its middle, if longer than the clip) at a random offset, in white and brown background noise
    at a random speech-to-noise ratio."""
    length = round(media["seconds"] * media["sample_rate"])
    speech = samples - samples.mean()
    if speech.size > length:
        cut = (speech.size - length) // 2
        speech = speech[cut : cut + length]
    speech = speech / max(np.abs(speech).max(), 1e-6) * rng.uniform(0.3, 0.6)
    track = np.zeros(length, dtype=np.float64)
    offset = int(rng.integers(0, length - speech.size + 1))
    track[offset : offset + speech.size] = speech
    white = rng.standard_normal(length)
    brown = np.cumsum(rng.standard_normal(length))
    brown -= np.linspace(brown[0], brown[-1], length)
    mix = rng.uniform(0, 1)
    noise = mix * white / white.std() + (1 - mix) * brown / max(brown.std(), 1e-9)
    noise *= np.sqrt(np.mean(speech**2)) / 10 ** (rng.uniform(*audio["snr_db"]) / 20)
    mixed = track + noise
    return (mixed / max(1.0, np.abs(mixed).max() / 0.99)).astype(np.float32)


def _split_images(labels: np.ndarray) -> dict[str, np.ndarray]:
    """MNIST test indices of the train and test splits."""
    rng = np.random.default_rng([DEFINITION["seed"], zlib.crc32(b"split")])
    train = stratified_take(labels, DEFINITION["train_images"], rng)
    return {"train": train, "test": np.setdiff1d(np.arange(labels.size), train)}


def _takes(split: str) -> range:
    first, last = DEFINITION[f"fsdd_{split}_takes"]
    return range(first, last + 1)


def _pair(
    split: str, images: np.ndarray, labels: np.ndarray, recordings: tuple[Recording, ...], seed: int
) -> dict[int, Recording]:
    """The recording of each image of one split: per digit, images in index order take a chain of permutations."""
    pairs = {}
    for digit in range(len(DIGITS)):
        pool = sorted((r for r in recordings if r.digit == digit), key=lambda r: r.name)
        members = images[labels[images] == digit]
        if not pool:
            raise AvnbError(f"no FSDD recording of digit {digit} in the {split} takes; the recordings folder is short")
        rng = np.random.default_rng([seed, SPLIT_CODES[split], digit])
        rounds = -(-members.size // len(pool))
        chain = np.concatenate([rng.permutation(len(pool)) for _ in range(rounds)]) if rounds else []
        pairs.update({int(i): pool[k] for i, k in zip(members, chain, strict=False)})
    return pairs


def av_mnist_clips(sources: DigitSources, limit: int | None = None) -> list[AvMnistClip]:
    """Every clip of the benchmark (or `limit` per split, stratified by digit: a subset of the full benchmark's
    clips, pairs included), train then test, by MNIST index."""
    seed = DEFINITION["seed"]
    labels = read_idx(sources.mnist_labels).astype(np.int64)
    corruption = repr(sorted(DEFINITION["corruption"].items()))
    clips = []
    for split, images in _split_images(labels).items():
        takes = _takes(split)
        recordings = tuple(r for r in sources.recordings if r.index in takes)
        pairs = _pair(split, images, labels, recordings, seed)
        if limit is not None:
            rng = np.random.default_rng([seed, zlib.crc32(b"limit"), SPLIT_CODES[split]])
            images = images[stratified_take(labels[images], min(limit, images.size), rng)]
        clips += [
            AvMnistClip(
                split,
                int(i),
                int(labels[i]),
                pairs[int(i)].name,
                seed,
                str(sources.mnist_images.resolve()),
                str(pairs[int(i)].path.resolve()),
                corruption,
            )
            for i in images
        ]
    return clips


def _manifest(clips: list[AvMnistClip]) -> pa.Table:
    count = len(clips)
    return manifest_table(
        {
            "clip_id": [c.clip_id for c in clips],
            "youtube_id": [None] * count,
            "time_start": [None] * count,
            "time_end": [None] * count,
            "class_name": [DIGITS[c.digit] for c in clips],
            "clean_label": [c.digit for c in clips],
            "path": [c.path for c in clips],
            "audio_clip_id": [c.clip_id for c in clips],
            "source_split": [f"mnist-t10k/fsdd-{c.split}" for c in clips],
        }
    )


def av_mnist_benchmark(sources: DigitSources, clips: list[AvMnistClip], limit: int | None) -> Benchmark:
    """The clean train/test manifests and card of an AV-MNIST build of `clips` (`limit` per split, if any)."""
    train = [c for c in clips if c.split == "train"]
    test = [c for c in clips if c.split == "test"]
    media = DEFINITION["media"]
    return Benchmark(
        name=NAME,
        title="AV-MNIST-NC (MNIST digits seen, FSDD digits spoken)" + (f", limit {limit}" if limit else ""),
        description=(
            f"A CPU-scale audio-visual benchmark of real data: each sample is a {media['seconds']:g} s MP4 clip "
            f"(H.264 {media['size']}x{media['size']} at {media['fps']} fps, AAC mono {media['sample_rate']} Hz) "
            "showing a handwritten digit from the MNIST test set drifting over a noisy background under a drifting "
            "grey occluder, with a recording of the same digit spoken (Free Spoken Digit Dataset) in background "
            f"noise as its audio track. {len(train)} training and {len(test)} test clips, 10 classes. MNIST test "
            "images are split 8,000 / 2,000 stratified by digit; FSDD takes 5-49 are heard in training, takes 0-4 "
            "(FSDD's test split) in test. Configs ncNN-<label noise> add synthetic noisy correspondence to the "
            "training split: NN % of each digit's pairs carry the audio of a clip of another digit."
        ),
        class_names=list(DIGITS),
        train=_manifest(train),
        test=_manifest(test),
        sources=sources.files,
        recipe={
            "benchmark": NAME,
            "seed": DEFINITION["seed"],
            "train_images": DEFINITION["train_images"],
            "fsdd_train_takes": DEFINITION["fsdd_train_takes"],
            "fsdd_test_takes": DEFINITION["fsdd_test_takes"],
            "limit_per_split": limit,
            "clip_generator": "numpy.random.default_rng([seed, split_code, mnist_index])",
            "media": media,
            "corruption": DEFINITION["corruption"],
            "decoding": DEFINITION["decoding"],
            "protocol": DEFINITION["protocol"],
        },
        homepage=DEFINITION["homepage"],
        license="cc-by-sa-3.0 (MNIST) and cc-by-sa-4.0 (FSDD); see docs/benchmarks/av-mnist.md",
    )


def write_av_mnist_media(clips: list[AvMnistClip], options: AvMnistOptions, progress: Progress = SILENT) -> MediaReport:
    """Generate the clips under the options' media root, recorded ok in its status log; identical clips are kept,
    others in use are replaced only with `overwrite`."""
    modules = [Path(__file__), Path(av_mnist_sources.__file__)]
    return write_generated_media(
        NAME, clips, options.media_root, FORMAT, modules, options.overwrite, options.jobs, progress
    )


def build_av_mnist(options: AvMnistOptions, progress: Progress = SILENT) -> list[Path]:
    """Build AV-MNIST: check the sources, pair images with recordings, render the clips under the media root, then
    write its folder with every correspondence level (default nc0-nc40) crossed with every label-noise config."""
    check_destination(options.out, options.overwrite)
    check_writable(options.media_root, "--media-root")
    progress.note("checking the MNIST and FSDD sources")
    sources = load_digit_sources(options.sources, DEFINITION, progress)
    clips = av_mnist_clips(sources, options.limit)
    progress.note(f"rendering {len(clips)} AV-MNIST clips under {options.media_root}")
    write_av_mnist_media(clips, options, progress)
    benchmark = av_mnist_benchmark(sources, clips, options.limit)
    return [write_folder(benchmark, options, options.out, DEFINITION["seed"], progress)]


RECIPE = Recipe(
    NAME,
    "AV-MNIST-NC: MNIST digits seen and FSDD digits spoken, as real clips, with correspondence and label noise.",
    AvMnistOptions,
    build_av_mnist,
)
