"""AV-MNIST-NC: built from the real MNIST and FSDD files in ../shared/data, real clips, deterministic, stratified."""

import hashlib
import shutil
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import shared
from harnesskit import run_settings
from typer.testing import CliRunner

from avnoisebench.cli.main import app
from avnoisebench.dataset.folder import BenchmarkFolder
from avnoisebench.dataset.layout import LOCK, TEST_FILE, train_file
from avnoisebench.errors import AvnbError
from avnoisebench.harness.training import run_training
from avnoisebench.loaders import ClipDataset
from avnoisebench.loaders.decoding import benchmark_decoding
from avnoisebench.media.paths import media_path
from avnoisebench.media.probe import verify_clip
from avnoisebench.recipes.av_mnist import (
    DEFINITION,
    DIGITS,
    AvMnistOptions,
    av_mnist_clips,
    build_av_mnist,
    stratified_take,
)
from avnoisebench.recipes.av_mnist_sources import load_digit_sources, read_idx

LIMIT = 30


@pytest.fixture(scope="session")
def digit_data() -> Path:
    """../shared/data, which holds mnist/ and fsdd/recordings/."""
    shared("mnist")
    return shared("fsdd").parent


@pytest.fixture(scope="module")
def small_build(tmp_path_factory: pytest.TempPathFactory, digit_data: Path) -> tuple[Path, Path]:
    """AV-MNIST with --limit 30, built through the CLI."""
    root = tmp_path_factory.mktemp("av-mnist")
    args = ["build", "av-mnist", "--sources", str(digit_data), "--limit", str(LIMIT), "--jobs", "1"]
    result = CliRunner().invoke(app, [*args, "--out", str(root / "bench"), "--media-root", str(root / "media")])
    assert result.exit_code == 0, result.output
    return root / "bench", root / "media"


def test_full_definition_splits_and_pairs(digit_data: Path) -> None:
    sources = load_digit_sources(digit_data, DEFINITION)
    clips = av_mnist_clips(sources)
    labels = read_idx(sources.mnist_labels)
    by_split = {split: [c for c in clips if c.split == split] for split in ("train", "test")}
    assert (len(by_split["train"]), len(by_split["test"])) == (8000, 2000)
    assert len({c.mnist_index for c in clips}) == 10_000
    totals = np.bincount(labels, minlength=10)
    test_counts = np.bincount([c.digit for c in by_split["test"]], minlength=10)
    assert np.all(np.abs(test_counts - totals * 0.2) < 1)
    takes = {"train": range(5, 50), "test": range(0, 5)}
    for split, members in by_split.items():
        for clip in members:
            digit, _, take = clip.recording.removesuffix(".wav").split("_")
            assert int(digit) == clip.digit == labels[clip.mnist_index]
            assert int(take) in takes[split]
        uses = Counter(c.recording for c in members)
        assert len(uses) == 10 * 6 * len(takes[split])
        for digit in range(10):
            counts = [n for name, n in uses.items() if name.startswith(f"{digit}_")]
            assert max(counts) - min(counts) <= 1


def test_limit_is_a_stratified_subset_of_the_full_benchmark(digit_data: Path) -> None:
    sources = load_digit_sources(digit_data, DEFINITION)
    full = {c.clip_id: c for c in av_mnist_clips(sources)}
    small = av_mnist_clips(sources, limit=LIMIT)
    assert all(full[c.clip_id] == c for c in small)
    for split in ("train", "test"):
        digits = Counter(c.digit for c in small if c.split == split)
        assert sum(digits.values()) == LIMIT and max(digits.values()) - min(digits.values()) <= 1


def test_stratified_take_counts() -> None:
    labels = np.repeat(np.arange(3), [50, 30, 20])
    taken = stratified_take(labels, 10, np.random.default_rng(0))
    assert np.bincount(labels[taken]).tolist() == [5, 3, 2]
    with pytest.raises(AvnbError, match="cannot take"):
        stratified_take(labels, 101, np.random.default_rng(0))


def test_clips_are_real_media(small_build: tuple[Path, Path]) -> None:
    folder, media = small_build
    media_def = DEFINITION["media"]
    rows = pq.read_table(folder / train_file("nc0-clean")).to_pylist() + pq.read_table(folder / TEST_FILE).to_pylist()
    assert len(rows) == 2 * LIMIT
    for row in rows[:: LIMIT // 5]:
        info = verify_clip(media_path(media, row["path"]), window=media_def["seconds"])
        assert (info.video.codec, info.video.width, info.video.fps) == ("h264", media_def["size"], media_def["fps"])
        assert (info.audio.codec, info.audio.sample_rate) == ("aac", media_def["sample_rate"])
        assert row["class_name"] == DIGITS[row["clean_label"]]


def test_configs_cross_correspondence_and_label_noise(small_build: tuple[Path, Path]) -> None:
    folder, _ = small_build
    names = BenchmarkFolder(folder).config_names
    assert len(names) == 5 * 7 and names[0] == "nc0-clean" and "nc40-asym40" in names
    card = BenchmarkFolder(folder).noise_card("nc40-sym80")
    # 3 training clips per digit: round(0.4 * 3) = 1 mismatched pair and round(0.8 * 3) = 2 noisy labels per digit
    assert card["correspondence"]["num_mismatched"] == 10 and card["num_noisy"] == 20
    recipe_card = BenchmarkFolder(folder).recipe
    assert recipe_card["limit_per_split"] == LIMIT and recipe_card["corruption"] == DEFINITION["corruption"]
    sampling, audio = benchmark_decoding(folder)
    assert (sampling.num_frames, sampling.crop, audio.sample_rate) == (4, 32, 8000)


def test_rebuild_is_identical_and_keeps_the_media(small_build: tuple[Path, Path], tmp_path: Path) -> None:
    folder, media = small_build
    copy = tmp_path / "media"
    shutil.copytree(media, copy)
    options = AvMnistOptions(out=tmp_path / "bench", media_root=copy, sources=shared("fsdd").parent, limit=LIMIT)
    [again] = build_av_mnist(options)
    files = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert all((folder / f).read_bytes() == (again / f).read_bytes() for f in files)
    before = {p.name: p.read_bytes() for p in media.rglob("*.mp4")}
    assert before == {p.name: p.read_bytes() for p in copy.rglob("*.mp4")}
    assert (folder / LOCK).read_bytes() == (again / LOCK).read_bytes()


def test_sources_are_checked(tmp_path: Path, digit_data: Path) -> None:
    with pytest.raises(AvnbError, match="no MNIST test file"):
        load_digit_sources(tmp_path, DEFINITION)
    (tmp_path / "mnist").mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(digit_data / "mnist" / name, tmp_path / "mnist" / name)
    with pytest.raises(AvnbError, match="no FSDD recordings folder"):
        load_digit_sources(tmp_path, DEFINITION)
    shutil.copytree(digit_data / "fsdd" / "recordings", tmp_path / "fsdd" / "recordings")
    (tmp_path / "fsdd" / "recordings" / "3_theo_7.wav").unlink()
    with pytest.raises(AvnbError, match="2999 recordings whose digest differs"):
        load_digit_sources(tmp_path, DEFINITION)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not mnist")
    with pytest.raises(AvnbError, match="not the MNIST test labels file"):
        load_digit_sources(tmp_path, DEFINITION)


def test_downloads_sources_once_from_their_urls(tmp_path: Path, digit_data: Path, serve) -> None:
    site = tmp_path / "site"
    site.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(digit_data / "mnist" / name, site / name)
    with tarfile.open(site / "fsdd.tar.gz", "w:gz", compresslevel=1) as tar:
        tar.add(digit_data / "fsdd" / "recordings", arcname="free-spoken-digit-dataset-1.0.10/recordings")
    base = serve(site)
    definition = {**DEFINITION}
    definition["mnist"] = {
        kind: {**entry, "url": f"{base}/{entry['file']}"} for kind, entry in definition["mnist"].items()
    }
    definition["fsdd"] = {**definition["fsdd"], "url": f"{base}/fsdd.tar.gz"}
    sources = load_digit_sources(None, definition)
    assert len(sources.recordings) == 3000
    assert [f.origin for f in sources.files] == [
        definition["mnist"]["images"]["url"],
        definition["mnist"]["labels"]["url"],
        definition["fsdd"]["url"],
    ]
    (site / "fsdd.tar.gz").unlink()
    assert load_digit_sources(None, definition).files == sources.files
    digest = hashlib.sha256((digit_data / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes()).hexdigest()
    assert sources.files[0].sha256 == digest


@pytest.mark.parametrize("track", ["cached", "raw"])
def test_both_tracks_train_and_predict(small_build: tuple[Path, Path], tmp_path: Path, track: str) -> None:
    overrides = {"config": "nc20-sym40", "track": track, "epochs": 1, "sampling": None}  # the card's decoding
    settings = run_settings(small_build, tmp_path / "run", **overrides)
    run = run_training(settings)
    assert (run / "predictions.parquet").is_file()
    train = ClipDataset(small_build[0], "nc20-sym40", "train", small_build[1])
    assert train.nc_flags is not None and sum(train.nc_flags) == 10


@pytest.mark.slow
def test_full_build(tmp_path: Path, digit_data: Path) -> None:
    [folder] = build_av_mnist(AvMnistOptions(out=tmp_path / "bench", media_root=tmp_path / "media", sources=digit_data))
    assert pq.read_metadata(folder / train_file("nc40-sym80")).num_rows == 8000
    assert pq.read_metadata(folder / TEST_FILE).num_rows == 2000
    assert len(list((tmp_path / "media").rglob("*.mp4"))) == 10_000


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"limit": 0}, r"--limit 0 must be at least 1"), ({"jobs": 0}, r"--jobs 0 must be at least 1")],
)
def test_bad_settings_are_refused_before_any_work(settings: dict, message: str) -> None:
    with pytest.raises(AvnbError, match=message):
        AvMnistOptions(**settings)


def test_a_media_root_that_cannot_be_written_is_refused_first(tmp_path: Path, digit_data: Path) -> None:
    (tmp_path / "file").write_text("in the way")
    args = ["build", "av-mnist", "--sources", str(digit_data), "--limit", "1", "--out", str(tmp_path / "bench")]
    result = CliRunner().invoke(app, [*args, "--media-root", str(tmp_path / "file" / "media")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"--media-root: {tmp_path / 'file'} is a file, not a folder" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
