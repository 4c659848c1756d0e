"""UCF101-AV: the 51 audio classes of split 1, 4,892 train / 1,944 test videos."""

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from avnoisebench.errors import AvnbError
from avnoisebench.recipes.ucf101_av import Ucf101AvOptions, audio_classes, ucf101_av_benchmark, videos_without_audio
from avnoisebench.recipes.ucf101_av_sources import Ucf101Split, load_ucf101_split

INCOMPLETE = Ucf101AvOptions(allow_incomplete=True)


def test_split_sizes_and_rows(ucf101_av: Path) -> None:
    train = pq.read_table(ucf101_av / "data" / "clean" / "train.parquet").to_pylist()
    test = pq.read_table(ucf101_av / "data" / "test.parquet").to_pylist()
    assert (len(train), len(test)) == (4892, 1944)
    assert {r["class_name"] for r in train} == set(audio_classes())
    assert not {r["clip_id"] for r in train} & videos_without_audio()
    row = next(r for r in train if r["clip_id"] == "v_HandStandPushups_g08_c01")
    assert row["class_name"] == "HandstandPushups"
    assert row["path"] == "ucf101/HandstandPushups/v_HandStandPushups_g08_c01.avi"
    assert row["audio_clip_id"] == row["clip_id"] and row["youtube_id"] is None


def test_other_spelling_of_a_class_matches(ucf_dir: Path) -> None:
    lists = load_ucf101_split(ucf_dir, 1, archive_url="")
    renamed = tuple("HandStandPushups" if n == "HandstandPushups" else n for n in lists.class_names)
    respelled = Ucf101Split(renamed, lists.train, lists.test, lists.sources)
    bench = ucf101_av_benchmark(INCOMPLETE, respelled)
    assert "HandStandPushups" in bench.class_names


def test_lists_that_are_not_split_one_are_refused(ucf_dir: Path) -> None:
    lists = load_ucf101_split(ucf_dir, 1, archive_url="")
    cut = Ucf101Split(lists.class_names, lists.train[10:], lists.test, lists.sources)
    with pytest.raises(AvnbError, match="give 4882 train / 1944 test videos .* has 4892 / 1944"):
        ucf101_av_benchmark(Ucf101AvOptions(), cut)
    bench = ucf101_av_benchmark(INCOMPLETE, cut)
    assert bench.recipe["built"] == {"train": 4882, "test": 1944}


def test_class_index_without_an_audio_class_is_refused(ucf_dir: Path) -> None:
    lists = load_ucf101_split(ucf_dir, 1, archive_url="")
    names = tuple(n for n in lists.class_names if n != "Bowling")
    with pytest.raises(AvnbError, match="classInd.txt has no class 'Bowling'"):
        ucf101_av_benchmark(Ucf101AvOptions(), Ucf101Split(names, lists.train, lists.test, lists.sources))
