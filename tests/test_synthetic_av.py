"""synthetic-av: real generated media, deterministic builds, full loader coverage, both modalities carry the class."""

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from harnesskit import SMALL_SYNTHETIC as SMALL
from typer.testing import CliRunner

from avnoisebench.cli.main import app
from avnoisebench.dataset.decoding import ClipSampling, LogMelConfig
from avnoisebench.dataset.layout import LOCK, TEST_FILE, train_file
from avnoisebench.errors import AvnbError
from avnoisebench.loaders import ClipDataset, ClipSample
from avnoisebench.media.audio import load_waveform
from avnoisebench.media.clips import benchmark_clips
from avnoisebench.media.coverage import coverage
from avnoisebench.media.decode import open_video
from avnoisebench.media.paths import media_path
from avnoisebench.media.probe import verify_clip
from avnoisebench.media.status import read_records
from avnoisebench.recipes.synthetic_av import (
    FPS,
    SAMPLE_RATE,
    SECONDS,
    SIZE,
    SyntheticAvOptions,
    build_synthetic_av,
    write_synthetic_media,
)

SAMPLING = ClipSampling(num_frames=8, stride=0.25, num_views=1, short_side=SIZE, crop=SIZE)
LOGMEL = LogMelConfig(sample_rate=SAMPLE_RATE, n_fft=512, hop=320, n_mels=32, fmax=SAMPLE_RATE / 2)
TINY = {"classes": 2, "train_per_class": 2, "test_per_class": 1}


@pytest.fixture(scope="module")
def default_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """synthetic-av at its default size: 6 classes, 24 train and 8 test clips each."""
    root = tmp_path_factory.mktemp("synthetic-default")
    [folder] = build_synthetic_av(SyntheticAvOptions(out=root / "synthetic-av", media_root=root / "media"))
    return folder, root / "media"


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread while decoding: one small clip gains nothing from more, and on a busy machine they spin."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def clips(folder: Path, media_root: Path) -> list[tuple[dict, Path]]:
    """Every manifest row of the folder with its media file."""
    return [(row, media_path(media_root, row["path"])) for row in benchmark_clips(folder).to_pylist()]


def test_every_clip_is_a_real_clip_with_video_and_audio(small_synthetic: tuple[Path, Path]) -> None:
    folder, media_root = small_synthetic
    rows = clips(folder, media_root)
    per_class = SMALL["train_per_class"] + SMALL["test_per_class"]
    assert len(rows) == SMALL["classes"] * per_class
    for row, path in rows:
        assert re.fullmatch(rf"syn-{row['split']}-{row['class_name']}-\d{{4}}", row["clip_id"])
        assert row["path"] == f"synthetic-av/{row['split']}/{row['class_name']}/{row['clip_id']}.mp4"
        assert row["youtube_id"] is row["time_start"] is row["time_end"] is None
        info = verify_clip(path, window=SECONDS)
        assert (info.video.codec, info.video.width, info.video.height, info.video.fps) == ("h264", SIZE, SIZE, FPS)
        assert (info.audio.codec, info.audio.sample_rate, info.audio.channels) == ("aac", SAMPLE_RATE, 1)
        assert info.duration == pytest.approx(SECONDS, abs=0.05)
    test = pq.read_table(folder / TEST_FILE).to_pylist()
    assert all(r["audio_clip_id"] == r["clip_id"] and r["source_split"] == "test" for r in test)
    assert (folder / LOCK).is_file() and (folder / train_file("sym40")).is_file()


def decoded(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every video frame and the audio samples of a clip."""
    with open_video(path) as video:
        frames = video.frames_at((np.arange(video.num_frames) + 0.5) / FPS)
    return frames, load_waveform(path, SAMPLE_RATE).samples


def test_same_seed_gives_identical_files_and_frames(tmp_path: Path, small_synthetic: tuple[Path, Path]) -> None:
    folder, media_root = small_synthetic
    [again] = build_synthetic_av(SyntheticAvOptions(out=tmp_path / "again", media_root=tmp_path / "media", **SMALL))
    parquets = sorted(p.relative_to(folder) for p in folder.rglob("*.parquet"))
    assert parquets and parquets == sorted(p.relative_to(again) for p in again.rglob("*.parquet"))
    assert all((folder / p).read_bytes() == (again / p).read_bytes() for p in parquets)
    assert (folder / LOCK).read_bytes() == (again / LOCK).read_bytes()
    for (row, first), (_, second) in zip(clips(folder, media_root), clips(again, tmp_path / "media"), strict=True):
        (frames_a, audio_a), (frames_b, audio_b) = decoded(first), decoded(second)
        assert len(frames_a) == round(SECONDS * FPS) and np.array_equal(frames_a, frames_b), row["clip_id"]
        assert np.array_equal(audio_a, audio_b), row["clip_id"]
    [other] = build_synthetic_av(
        SyntheticAvOptions(out=tmp_path / "other", media_root=tmp_path / "other-media", **SMALL, seed=1)
    )
    first, second = clips(folder, media_root)[0][1], clips(other, tmp_path / "other-media")[0][1]
    assert not np.array_equal(decoded(first)[0], decoded(second)[0])


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_loader_finds_every_clip(small_synthetic: tuple[Path, Path], mode: str) -> None:
    folder, media_root = small_synthetic
    overall = coverage(folder, media_root).overall
    assert overall.ok == overall.total > 0
    for split in ("train", "test"):
        dataset = ClipDataset(folder, "sym40", split, media_root, mode=mode, sampling=SAMPLING, audio=LOGMEL)
        assert dataset.coverage.fraction == 1.0 and len(dataset) == dataset.coverage.total
        samples = [dataset[i] for i in range(len(dataset))]
        assert all(isinstance(s, ClipSample) and s.has_audio for s in samples)
        views = () if mode == "train" else (1,)
        assert samples[0].video.shape == (*views, 3, SAMPLING.num_frames, SIZE, SIZE)


def video_features(video: torch.Tensor) -> np.ndarray:
    """Shape features of one clip (3, T, H, W): vertical velocity, horizontal speed, size change, box fill."""
    frames = video.permute(1, 2, 3, 0).numpy().astype(np.float32)
    mask = frames.max(-1) - frames.min(-1) > 60
    area = mask.sum((1, 2)) + 1e-6
    rows, cols = np.mgrid[0 : mask.shape[1], 0 : mask.shape[2]]
    centre_y, centre_x = (mask * rows).sum((1, 2)) / area, (mask * cols).sum((1, 2)) / area
    box = mask.any(2).sum(1) * mask.any(1).sum(1)
    steps = np.arange(len(area))
    return np.array(
        [
            np.polyfit(steps, centre_y, 1)[0],
            abs(np.polyfit(steps, centre_x, 1)[0]),
            area.std() / area.mean(),
            (area / np.maximum(box, 1)).mean(),
        ]
    )


def audio_features(logmel: torch.Tensor) -> np.ndarray:
    """Sound features of one clip (frames, mels): mean log-mel spectrum (level removed) and its spread over time."""
    spectrum = logmel.numpy()
    mean = spectrum.mean(0)
    return np.concatenate([mean - np.median(mean), spectrum.std(0)])


def nearest_centroid_accuracy(train: np.ndarray, train_y: np.ndarray, test: np.ndarray, test_y: np.ndarray) -> float:
    """Test accuracy of class centroids fit on train, distances scaled by the pooled within-class spread."""
    classes = np.unique(train_y)
    centroids = np.stack([train[train_y == c].mean(0) for c in classes])
    spread = np.sqrt(np.mean([train[train_y == c].var(0) for c in classes], axis=0)) + 1e-6
    distances = (((test[:, None] - centroids[None]) / spread) ** 2).sum(-1)
    return float((classes[distances.argmin(1)] == test_y).mean())


@pytest.mark.usefixtures("one_thread")
def test_both_modalities_carry_the_class(default_build: tuple[Path, Path]) -> None:
    folder, media_root = default_build
    features: dict[str, dict[str, np.ndarray]] = {"video": {}, "audio": {}}
    labels = {}
    for split in ("train", "test"):
        dataset = ClipDataset(folder, "clean", split, media_root, mode="eval", sampling=SAMPLING, audio=LOGMEL)
        samples = [dataset[i] for i in range(len(dataset))]
        assert dataset.coverage.fraction == 1.0 and all(isinstance(s, ClipSample) for s in samples)
        features["video"][split] = np.stack([video_features(s.video[0]) for s in samples])
        features["audio"][split] = np.stack([audio_features(s.logmel[0]) for s in samples])
        labels[split] = np.array([s.label for s in samples])
    chance = 1 / SyntheticAvOptions().classes
    for modality, split_features in features.items():
        accuracy = nearest_centroid_accuracy(
            split_features["train"], labels["train"], split_features["test"], labels["test"]
        )
        print(f"{modality}: nearest-centroid test accuracy {accuracy:.3f} (chance {chance:.3f})")
        assert accuracy >= 3 * chance, f"{modality} accuracy {accuracy:.3f}"


def test_rebuild_keeps_proven_clips_and_refuses_foreign_ones(tmp_path: Path) -> None:
    media_root = tmp_path / "media"
    options = SyntheticAvOptions(out=tmp_path / "out", media_root=media_root, **TINY)
    assert write_synthetic_media(options).generated == 6
    records = len(read_records(media_root))
    assert write_synthetic_media(options).kept == 6 and len(read_records(media_root)) == records
    changed = media_path(media_root, options.clips()[0].path)
    original = changed.read_bytes()
    changed.write_bytes(original + b"\0")
    with pytest.raises(AvnbError, match=r"1 synthetic-av clip\(s\) in use .* pass --overwrite"):
        write_synthetic_media(options)
    report = write_synthetic_media(replace(options, overwrite=True))
    assert (report.generated, report.kept) == (1, 5) and changed.read_bytes() == original
    with pytest.raises(AvnbError, match=r"holds 6 synthetic-av clip\(s\) in use"):
        write_synthetic_media(replace(options, seed=7))
    assert write_synthetic_media(replace(options, seed=7, overwrite=True)).generated == 6


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"classes": 1}, r"--classes 1 is out of range; synthetic-av has 2 to 12 classes"),
        ({"classes": 13}, r"--classes 13 is out of range"),
        ({"train_per_class": 0}, r"--train-per-class 0 .* give each at least 1"),
        ({"test_per_class": 0}, r"--test-per-class 0 .* give each at least 1"),
        ({"seed": -1}, r"--seed -1 is negative"),
    ],
)
def test_bad_settings_are_refused(tmp_path: Path, settings: dict, message: str) -> None:
    with pytest.raises(AvnbError, match=message):
        build_synthetic_av(SyntheticAvOptions(out=tmp_path / "out", media_root=tmp_path / "media", **settings))
    assert not (tmp_path / "media").exists()


def test_existing_folder_is_refused_before_any_media(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    with pytest.raises(AvnbError, match="already exists; pass --overwrite"):
        build_synthetic_av(SyntheticAvOptions(out=tmp_path / "out", media_root=tmp_path / "media", **TINY))
    assert not (tmp_path / "media").exists()


def test_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    out, media = tmp_path / "synthetic-av", tmp_path / "media"
    args = ["build", "synthetic-av", "--out", str(out), "--media-root", str(media), "--classes", "2"]
    args += ["--train-per-class", "2", "--test-per-class", "1", "--noise", "sym50"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"generating the synthetic-av clips under {media}"
    assert lines[1].startswith("generate synthetic-av: clips 1/6") and lines[6].startswith(
        "generate synthetic-av: clips 6/6"
    )
    assert lines[-2] == f"adding 8 noise config(s) to synthetic-av and writing {out}"
    assert lines[-1] == f"built {out}: 2 classes, 4 train, 2 test, 8 configs"
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "already exists; pass --overwrite" in again.output
    quiet = runner.invoke(app, [*args, "--overwrite", "--quiet"])
    assert quiet.exit_code == 0 and quiet.output.splitlines() == lines[-1:]
