"""The shared decoded-clip cache: reused by every run, keyed by the media files' sizes and times (a replaced clip
means a new cache), rebuilt when damaged, clips that fail to decode named in the status log; `avnb cache`."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from harnesskit import SAMPLING
from typer.testing import CliRunner

from avnoisebench.cli.main import app
from avnoisebench.dataset.decoding import Decoding
from avnoisebench.dataset.folder import BenchmarkFolder
from avnoisebench.harness.cache import cache_split, list_caches
from avnoisebench.media.failed import failed_clips


@pytest.fixture
def copy(synthetic_bench: tuple[Path, Path], tmp_path: Path) -> tuple[BenchmarkFolder, Path]:
    """A copy of the synthetic bench's folder and media that a test may damage."""
    folder, media = synthetic_bench
    shutil.copytree(folder, tmp_path / "bench")
    shutil.copytree(media, tmp_path / "media")
    return BenchmarkFolder(tmp_path / "bench"), tmp_path / "media"


def decoding(bench: BenchmarkFolder) -> Decoding:
    return bench.decoding.with_sampling(**SAMPLING)


def test_one_cache_serves_every_config_with_the_same_pairs(copy: tuple[BenchmarkFolder, Path], tmp_path: Path) -> None:
    bench, media = copy
    first = cache_split(bench, "clean", "train", media, decoding(bench), tmp_path / "cache")
    second = cache_split(bench, "sym60", "train", media, decoding(bench), tmp_path / "cache")
    assert [e.split for e in list_caches(tmp_path / "cache")] == ["train"]  # decoded once for both configs
    assert np.array_equal(first.video, second.video) and first.labels != second.labels


def test_a_replaced_media_file_means_a_new_cache(copy: tuple[BenchmarkFolder, Path], tmp_path: Path) -> None:
    bench, media = copy
    before = cache_split(bench, "clean", "test", media, decoding(bench), tmp_path / "cache")
    clips = bench.clips.to_pylist()
    first, other = _two(media, clips)
    shutil.copyfile(other, first)  # the first test clip's file now holds another clip
    after = cache_split(bench, "clean", "test", media, decoding(bench), tmp_path / "cache")
    assert len(list_caches(tmp_path / "cache")) == 2
    assert not np.array_equal(before.video[0], after.video[0])


def _two(media: Path, clips: list[dict]) -> tuple[Path, Path]:
    paths = sorted(media / c["path"] for c in clips if c["split"] == "test")
    return paths[0], paths[-1]


def test_a_damaged_cache_is_rebuilt(copy: tuple[BenchmarkFolder, Path], tmp_path: Path) -> None:
    bench, media = copy
    good = np.array(cache_split(bench, "clean", "train", media, decoding(bench), tmp_path / "cache").video)
    [entry] = list_caches(tmp_path / "cache")
    video = entry.path / "video.npy"
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])  # mmap length > file size
    again = cache_split(bench, "clean", "train", media, decoding(bench), tmp_path / "cache")
    assert np.array_equal(again.video, good)
    (entry.path / "meta.json").write_text("{not json")
    assert np.array_equal(cache_split(bench, "clean", "train", media, decoding(bench), tmp_path / "cache").video, good)


def test_clips_that_fail_to_decode_are_named_in_the_status_log(
    copy: tuple[BenchmarkFolder, Path], tmp_path: Path
) -> None:
    bench, media = copy
    broken = sorted(media / c["path"] for c in bench.clips.to_pylist() if c["split"] == "train")[0]
    broken.write_bytes(b"not a video at all")
    cached = cache_split(bench, "clean", "train", media, decoding(bench), tmp_path / "cache")
    assert int(cached.valid.sum()) == len(cached.valid) - 1
    failures = failed_clips(bench, media)
    assert any(broken.stem in ids for ids in failures.values()), failures


def test_cache_list_and_clear(copy: tuple[BenchmarkFolder, Path], tmp_path: Path) -> None:
    bench, media = copy
    cache_split(bench, "clean", "train", media, decoding(bench), tmp_path / "cache")
    shown = CliRunner().invoke(app, ["cache", "list", "--cache-dir", str(tmp_path / "cache")])
    assert shown.exit_code == 0 and "synthetic-av" in shown.stdout and "1 cached split(s)" in shown.stdout
    cleared = CliRunner().invoke(app, ["cache", "clear", "--cache-dir", str(tmp_path / "cache")])
    assert cleared.exit_code == 0 and "removed 1 cached split(s)" in cleared.stdout
    assert list_caches(tmp_path / "cache") == []
