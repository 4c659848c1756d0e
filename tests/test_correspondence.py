"""Synthetic noisy correspondence: exact counts per class, never same-class audio, deterministic, test split untouched,
and the loaders really take the audio of `audio_clip_id`."""

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

from avnoisebench.cli.main import app
from avnoisebench.dataset.decoding import ClipSampling, Decoding, LogMelConfig
from avnoisebench.dataset.folder import BenchmarkFolder
from avnoisebench.dataset.layout import TEST_FILE, train_file
from avnoisebench.errors import AvnbError
from avnoisebench.harness.cache import cache_split
from avnoisebench.loaders import ClipDataset
from avnoisebench.noise.correspondence import (
    CorrespondenceSpec,
    apply_correspondence_noise,
    parse_correspondence_levels,
)
from avnoisebench.noise.labels import NoiseSpec
from avnoisebench.recipes.synthetic_av import SAMPLE_RATE, SIZE, SyntheticAvOptions, build_synthetic_av
from avnoisebench.recipes.ucf101_av import Ucf101AvOptions, build_ucf101_av

LEVELS = tuple(parse_correspondence_levels("0,0.1,0.3"))
SAMPLING = ClipSampling(num_frames=4, stride=0.5, num_views=1, short_side=SIZE, crop=SIZE)
LOGMEL = LogMelConfig(sample_rate=SAMPLE_RATE, n_fft=512, hop=320, n_mels=32, fmax=SAMPLE_RATE / 2)


@pytest.fixture(scope="module")
def ucf_nc(tmp_path_factory: pytest.TempPathFactory, ucf_dir: Path) -> Path:
    """UCF101-AV with correspondence levels 0, 10 and 30 % crossed with clean, sym40 and asym20."""
    out = tmp_path_factory.mktemp("ucf-nc") / "ucf101-av"
    noise = tuple(NoiseSpec.parse(n) for n in ("clean", "sym40", "asym20"))
    [folder] = build_ucf101_av(Ucf101AvOptions(out=out, annotations=ucf_dir, noise=noise, nc_synthetic=LEVELS))
    return folder


@pytest.fixture(scope="module")
def synthetic_nc(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny synthetic-av build (3 classes x 4 training clips) with 50 % mismatched pairs."""
    root = tmp_path_factory.mktemp("synthetic-nc")
    options = SyntheticAvOptions(
        out=root / "bench",
        media_root=root / "media",
        classes=3,
        train_per_class=4,
        test_per_class=1,
        noise=(NoiseSpec("clean"),),
        nc_synthetic=tuple(parse_correspondence_levels("nc0,nc50")),
    )
    [folder] = build_synthetic_av(options)
    return folder, root / "media"


def test_parse_levels_accepts_fractions_percent_and_names() -> None:
    names = [s.name for s in parse_correspondence_levels(["0.2,30", "nc40", "0.2"])]
    assert names == ["nc20", "nc30", "nc40"]
    assert CorrespondenceSpec.parse("0").name == "nc0"
    for bad in ("nc", "-0.1", "100", "thirty"):
        with pytest.raises(AvnbError, match="correspondence"):
            parse_correspondence_levels(bad)


@pytest.mark.parametrize("rate", [0.1, 0.25, 0.4, 0.9])
def test_exact_count_per_class_and_never_same_class_audio(rate: float) -> None:
    rng = np.random.default_rng(3)
    clean = rng.integers(0, 7, size=500)
    mismatch = apply_correspondence_noise(clean, 7, CorrespondenceSpec(rate), seed=5)
    for c in range(7):
        members = clean == c
        assert mismatch.nc_flag[members].sum() == np.floor(rate * members.sum() + 0.5)
    flagged = mismatch.nc_flag
    assert (clean[mismatch.audio_row[flagged]] != clean[flagged]).all()
    assert (mismatch.audio_row[~flagged] == np.flatnonzero(~flagged)).all()


def test_deterministic_and_seeded() -> None:
    clean = np.repeat(np.arange(5), 40)
    spec = CorrespondenceSpec(0.3)
    first, again = (apply_correspondence_noise(clean, 5, spec, seed=0) for _ in range(2))
    other = apply_correspondence_noise(clean, 5, spec, seed=1)
    assert np.array_equal(first.audio_row, again.audio_row)
    assert not np.array_equal(first.audio_row, other.audio_row)


def test_one_class_cannot_be_mismatched() -> None:
    with pytest.raises(AvnbError, match="at least 2 classes"):
        apply_correspondence_noise(np.zeros(10, dtype=np.int64), 3, CorrespondenceSpec(0.2), seed=0)


def test_folder_crosses_levels_with_label_configs(ucf_nc: Path) -> None:
    names = BenchmarkFolder(ucf_nc).config_names
    assert names[:3] == ["nc0-clean", "nc0-sym40", "nc0-asym20"]
    assert len(names) == 9 and "nc30-asym20" in names
    clean_pairs = pq.read_table(ucf_nc / train_file("nc0-sym40")).to_pandas()
    noisy_pairs = pq.read_table(ucf_nc / train_file("nc30-sym40")).to_pandas()
    assert not clean_pairs["nc_flag"].any()
    assert (clean_pairs["audio_clip_id"] == clean_pairs["clip_id"]).all()
    # a label-noise config has the same labels at every correspondence level
    assert (clean_pairs["label"] == noisy_pairs["label"]).all()
    flagged = noisy_pairs[noisy_pairs["nc_flag"]]
    class_of = dict(zip(noisy_pairs["clip_id"], noisy_pairs["clean_label"], strict=True))
    assert (flagged["audio_clip_id"].map(class_of) != flagged["clean_label"]).all()
    per_class = noisy_pairs.groupby("clean_label")["nc_flag"].agg(["sum", "size"])
    assert (per_class["sum"] == np.floor(0.3 * per_class["size"] + 0.5)).all()
    card = BenchmarkFolder(ucf_nc).noise_card("nc30-sym40")
    assert card["label_config"] == "sym40" and card["correspondence"]["level"] == "nc30"
    assert card["correspondence"]["num_mismatched"] == int(noisy_pairs["nc_flag"].sum())


def test_test_split_untouched(ucf_nc: Path, ucf_dir: Path, tmp_path: Path) -> None:
    test = pq.read_table(ucf_nc / TEST_FILE).to_pandas()
    assert not test["nc_flag"].any() and (test["audio_clip_id"] == test["clip_id"]).all()
    [plain] = build_ucf101_av(Ucf101AvOptions(out=tmp_path / "plain", annotations=ucf_dir, noise=(NoiseSpec("clean"),)))
    without = pq.read_table(plain / TEST_FILE).to_pandas()
    assert test.drop(columns="nc_flag").equals(without)


def test_datasets_loads_a_combined_config(ucf_nc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    ds = datasets.load_dataset(str(ucf_nc), "nc30-sym40")
    assert ds["train"].features["nc_flag"].dtype == "bool"
    assert sum(ds["train"]["nc_flag"]) > 0 and sum(ds["test"]["nc_flag"]) == 0


def test_loader_takes_frames_from_clip_and_audio_from_audio_clip(synthetic_nc: tuple[Path, Path]) -> None:
    folder, media = synthetic_nc
    mixed = ClipDataset(folder, "nc50-clean", "train", media, mode="eval", sampling=SAMPLING, audio=LOGMEL)
    plain = ClipDataset(folder, "nc0-clean", "train", media, mode="eval", sampling=SAMPLING, audio=LOGMEL)
    assert mixed.nc_flags is not None and sum(mixed.nc_flags) == 6
    assert mixed.clean_labels == plain.clean_labels
    position = {clip: p for p, clip in enumerate(plain.clip_ids)}
    for p, flagged in enumerate(mixed.nc_flags):
        donor = position[mixed.audio_clip_ids[p]]
        assert flagged == (donor != p)
        assert torch.equal(mixed[p].video, plain[p].video)
        assert torch.equal(mixed[p].logmel, plain[donor].logmel)


def test_cache_is_keyed_by_the_pairs(synthetic_nc: tuple[Path, Path], tmp_path: Path) -> None:
    folder, media = synthetic_nc
    bench = BenchmarkFolder(folder)
    mixed = cache_split(bench, "nc50-clean", "train", media, Decoding(SAMPLING, LOGMEL), tmp_path)
    plain = cache_split(bench, "nc0-clean", "train", media, Decoding(SAMPLING, LOGMEL), tmp_path)
    assert len(list(tmp_path.iterdir())) == 2
    assert np.array_equal(mixed.video, plain.video)
    assert not np.array_equal(mixed.logmel, plain.logmel)
    assert mixed.nc_flags == [bool(f) for f in mixed.nc_flags] and plain.nc_flags == [False] * 12


def test_cli_builds_with_nc_synthetic(ucf_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ucf"
    args = ["build", "ucf101-av", "--annotations", str(ucf_dir), "--out", str(out), "--nc-synthetic", "0.2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert BenchmarkFolder(out).config_names[0] == "nc20-clean"
    info = CliRunner().invoke(app, ["info", str(out)])
    assert "mismatched" in info.output and "nc20-sym40" in info.output
    bad = CliRunner().invoke(app, [*args[:-1], "1.5x", "--overwrite"])
    assert bad.exit_code != 0 and "correspondence level" in bad.output
