"""Annotation sources: local Kinetics CSVs and UCF101 lists, the download cache over loopback, bad input."""

import hashlib
import io
import os
import zipfile
from pathlib import Path

import pytest
from rich.console import Console

from avnoisebench.cli.progress import ConsoleProgress
from avnoisebench.errors import AvnbError
from avnoisebench.recipes.mini_kinetics_sources import load_kinetics400, locate_csvs, read_kinetics_csv
from avnoisebench.recipes.ucf101_av_sources import load_ucf101_split
from avnoisebench.sources.fetch import cache_dir

TRAIN = "kinetics-400_train_partial.csv"
VAL = "kinetics-400_val.csv"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def linked(tmp_path: Path, files: dict[str, Path]) -> Path:
    """A folder of symlinks to shared files under other names."""
    for name, target in files.items():
        os.symlink(target, tmp_path / name)
    return tmp_path


def test_reads_the_shared_csvs_with_digests(k400_dir: Path) -> None:
    annotations = load_kinetics400(k400_dir, urls={})
    assert annotations.train.num_rows == 80_000 and annotations.val.num_rows == 19_906
    assert annotations.train.column_names == ["label", "youtube_id", "time_start", "time_end"]
    digests = {s.name: (s.sha256, s.origin) for s in annotations.sources}
    assert digests[f"kinetics400/{VAL}"] == (sha256(k400_dir / VAL), "local")


def test_accepts_validate_spelling(tmp_path: Path, k400_dir: Path) -> None:
    folder = linked(tmp_path, {"train.csv": k400_dir / TRAIN, "validate.csv": k400_dir / VAL})
    assert {k: p.name for k, p in locate_csvs(folder).items()} == {"train": "train.csv", "val": "validate.csv"}
    assert load_kinetics400(folder, urls={}).val.num_rows == 19_906


def test_missing_val_csv_is_named(tmp_path: Path, k400_dir: Path) -> None:
    folder = linked(tmp_path, {"train.csv": k400_dir / TRAIN})
    with pytest.raises(AvnbError, match="found no val annotation CSV"):
        locate_csvs(folder)


def test_missing_folder_and_file(tmp_path: Path) -> None:
    with pytest.raises(AvnbError, match="does not exist"):
        load_kinetics400(tmp_path / "nowhere", urls={})
    with pytest.raises(AvnbError, match="does not exist"):
        read_kinetics_csv(tmp_path / "train.csv", "train")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "label,video,time_start,time_end,split\nabseiling,-Qhiiw9yJvc,825,835,train\n",
            "missing column\\(s\\) youtube_id; found label, video",
        ),
        ("label,youtube_id,time_start,time_end\nabseiling,../../etc,1,11\n", "not YouTube ids"),
        ("label,youtube_id,time_start,time_end\nabseiling,abc,start,11\n", "not a readable Kinetics annotation CSV"),
        ("label,youtube_id,time_start,time_end\nabseiling,abc,12,11\n", "time_end <= time_start"),
        ("label,youtube_id,time_start,time_end\n,abc,1,11\n", "column label has 1 empty value"),
        ("label,youtube_id,time_start,time_end,split\nyoga,abc,1,11,\n", "split column holds \\[''\\]"),
    ],
)
def test_bad_csv_content_is_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "train.csv"
    path.write_text(content)
    with pytest.raises(AvnbError, match=message):
        read_kinetics_csv(path, "train")


def test_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(AvnbError, match="not a text CSV file"):
        read_kinetics_csv(path, "train")


def test_train_file_given_as_val_is_refused(k400_dir: Path) -> None:
    with pytest.raises(AvnbError, match="split column holds \\['train'\\]"):
        read_kinetics_csv(k400_dir / TRAIN, "val")


def test_downloads_once_into_the_cache(tmp_path: Path, k400_dir: Path, serve) -> None:
    base = serve(k400_dir)
    urls = {"train": f"{base}/{TRAIN}", "val": f"{base}/{VAL}"}
    shown = io.StringIO()
    first = load_kinetics400(None, urls, ConsoleProgress(Console(file=shown, width=200)))
    size = (k400_dir / TRAIN).stat().st_size
    assert f"download train.csv: bytes {size}/{size}" in shown.getvalue()
    assert (cache_dir() / "kinetics400" / "train.csv").read_bytes() == (k400_dir / TRAIN).read_bytes()
    assert {s.origin for s in first.sources} == set(urls.values())
    assert {s.sha256 for s in first.sources} == {sha256(k400_dir / TRAIN), sha256(k400_dir / VAL)}
    offline = {"train": "http://127.0.0.1:9/gone.csv", "val": "http://127.0.0.1:9/gone.csv"}
    assert load_kinetics400(None, offline).train.equals(first.train)


def test_failed_download_is_one_clear_error_and_leaves_no_partial_file(k400_dir: Path, serve) -> None:
    base = serve(k400_dir)
    with pytest.raises(AvnbError, match="could not download .*--annotations DIR"):
        load_kinetics400(None, {"train": f"{base}/missing.csv", "val": f"{base}/{VAL}"})
    assert not list(cache_dir().rglob("*.part"))


def test_ucf101_lists_with_crlf(ucf_dir: Path) -> None:
    lists = load_ucf101_split(ucf_dir, 1, archive_url="")
    assert len(lists.class_names) == 101 and lists.class_names[0] == "ApplyEyeMakeup"
    assert (len(lists.train), len(lists.test)) == (9537, 3783)
    assert ("HandstandPushups", "v_HandStandPushups_g08_c01") in lists.train


def test_ucf101_archive_is_downloaded_and_extracted(tmp_path: Path, ucf_dir: Path, serve) -> None:
    site = tmp_path / "site"
    site.mkdir()
    with zipfile.ZipFile(site / "splits.zip", "w") as zf:
        for name in ("classInd.txt", "trainlist01.txt", "testlist01.txt"):
            zf.write(ucf_dir / name, f"ucfTrainTestlist/{name}")
    lists = load_ucf101_split(None, 1, archive_url=f"{serve(site)}/splits.zip")
    assert (len(lists.train), len(lists.test)) == (9537, 3783)
    assert {s.sha256 for s in lists.sources} >= {sha256(ucf_dir / "classInd.txt")}


def test_ucf101_missing_and_malformed_lists(tmp_path: Path, ucf_dir: Path) -> None:
    with pytest.raises(AvnbError, match="missing UCF101 split list\\(s\\) trainlist01.txt, testlist01.txt"):
        load_ucf101_split(linked(tmp_path, {"classInd.txt": ucf_dir / "classInd.txt"}), 1, archive_url="")
    (tmp_path / "trainlist01.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nnot-a-video 3\n")
    (tmp_path / "testlist01.txt").write_text("")
    with pytest.raises(AvnbError, match="trainlist01.txt:2: 'not-a-video'"):
        load_ucf101_split(tmp_path, 1, archive_url="")
