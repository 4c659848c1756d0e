"""mini-Kinetics sampling: sizes, shortfall errors, determinism, independence of CSV row order."""

import csv
import random
import re
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from avnoisebench.errors import AvnbError
from avnoisebench.recipes.mini_kinetics import (
    MiniKineticsOptions,
    level_classes,
    mini_kinetics_benchmarks,
    parse_levels,
)
from avnoisebench.recipes.mini_kinetics_sources import load_kinetics400


@pytest.fixture(scope="module")
def k400(k400_dir: Path):
    return load_kinetics400(k400_dir, urls={})


def sampled(annotations, levels: tuple[int, ...], **settings: object) -> list:
    """The clean benchmarks of `levels` from parsed annotations."""
    return mini_kinetics_benchmarks(MiniKineticsOptions(levels=levels, **settings), annotations)


def write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_partial_train_csv_error_names_every_short_class(k400) -> None:
    with pytest.raises(AvnbError) as info:
        sampled(k400, (10, 20, 30, 40))
    message = str(info.value)
    train_labels = set(pc.unique(k400.train["label"]).to_pylist())
    for level in (10, 20, 30, 40):
        missing = [c for c in level_classes(level) if c not in train_labels]
        assert 20 <= len(missing) <= 25
        assert f"level {level}%: {len(missing)} class(es) short" in message
        for name in missing:
            assert f"train {name!r}: 0 of 400" in message
    assert "--allow-incomplete" in message


def test_incomplete_build_samples_the_recipe_sizes(k400) -> None:
    [bench] = sampled(k400, (30,), allow_incomplete=True)
    train_counts = pc.value_counts(bench.train["class_name"]).to_pylist()
    assert {c["counts"] for c in train_counts} == {400}
    assert len(bench.shortfalls) == 50 - len(train_counts)
    val_counts = {c["values"]: c["counts"] for c in pc.value_counts(bench.test["class_name"]).to_pylist()}
    assert len(val_counts) == 50 and max(val_counts.values()) <= 50
    row = bench.train.slice(0, 1).to_pylist()[0]
    assert re.fullmatch(r"[A-Za-z0-9_-]{11}_\d{6}_\d{6}", row["clip_id"])
    assert row["clip_id"] == f"{row['youtube_id']}_{row['time_start']:06d}_{row['time_end']:06d}"
    assert row["audio_clip_id"] == row["clip_id"]
    assert row["path"].startswith("kinetics400/train/") and row["path"].endswith(f"/{row['clip_id']}.mp4")
    assert bench.train["clip_id"].to_pylist() == sorted(bench.train["clip_id"].to_pylist())
    assert bench.class_names[bench.train["clean_label"][0].as_py()] == row["class_name"]


def test_sampling_follows_the_seed(k400) -> None:
    def chosen(seed: int) -> list[str]:
        [bench] = sampled(k400, (10,), train_per_class=100, val_per_class=20, seed=seed, allow_incomplete=True)
        return bench.train["clip_id"].to_pylist() + bench.test["clip_id"].to_pylist()

    assert chosen(0) == chosen(0)
    assert chosen(0) != chosen(1)
    assert len(chosen(2)) == 29 * 100 + 50 * 20


def test_sampling_ignores_csv_row_order(tmp_path: Path, k400_dir: Path) -> None:
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    for name in ("kinetics-400_train_partial.csv", "kinetics-400_val.csv"):
        with open(k400_dir / name, newline="") as handle:
            rows = list(csv.DictReader(handle))
        random.Random(1).shuffle(rows)
        write_rows(shuffled / name, rows)

    def manifests(folder: Path) -> list:
        annotations = load_kinetics400(folder, urls={})
        [bench] = sampled(annotations, (20,), train_per_class=150, val_per_class=30, allow_incomplete=True)
        return [bench.train, bench.test]

    original, reordered = manifests(k400_dir), manifests(shuffled)
    assert all(a.equals(b) for a, b in zip(original, reordered, strict=True))


def test_class_absent_from_every_csv_is_unknown(tmp_path: Path, k400_dir: Path) -> None:
    for name in ("train.csv", "val.csv"):
        source = "kinetics-400_train_partial.csv" if name == "train.csv" else "kinetics-400_val.csv"
        with open(k400_dir / source, newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if r["label"] != "yoga"]
        write_rows(tmp_path / name, rows)
    with pytest.raises(AvnbError, match="no rows at all for 1 mini-Kinetics class\\(es\\): 'yoga'"):
        sampled(load_kinetics400(tmp_path, urls={}), (40,), allow_incomplete=True)


def test_duplicate_clips_are_refused(tmp_path: Path, k400_dir: Path) -> None:
    with open(k400_dir / "kinetics-400_val.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    write_rows(tmp_path / "val.csv", rows + [r for r in rows if r["label"] == "yoga"][:1])
    write_rows(tmp_path / "train.csv", [{**r, "split": "train"} for r in rows])
    with pytest.raises(AvnbError, match="val CSV lists clip\\(s\\) .* more than once"):
        sampled(load_kinetics400(tmp_path, urls={}), (40,))


@pytest.mark.parametrize(("text", "levels"), [("0.3", (30,)), ("30", (30,)), ("0.1", (10,)), ("all", (10, 20, 30, 40))])
def test_levels_parse(text: str, levels: tuple[int, ...]) -> None:
    assert parse_levels(text) == levels


@pytest.mark.parametrize("text", ["0.5", "50", "0.35", "1", "high", ""])
def test_levels_outside_the_four_are_refused(text: str) -> None:
    with pytest.raises(AvnbError, match="not a mini-Kinetics level"):
        parse_levels(text)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"levels": (10,), "train_per_class": 0}, "--train-per-class and --val-per-class must be at least 1"),
        ({"levels": (10,), "val_per_class": 0}, "--train-per-class and --val-per-class must be at least 1"),
        ({"levels": (50,)}, "mini-Kinetics level 50 does not exist"),
        ({"levels": ()}, "no mini-Kinetics level given"),
        ({"levels": (10, 20), "out": Path("x")}, "--out names the folder of one level"),
    ],
)
def test_bad_settings_are_refused_when_the_options_are_made(settings: dict, message: str) -> None:
    with pytest.raises(AvnbError, match=message):
        MiniKineticsOptions(**settings)


def test_built_folder_manifests(nc30: Path) -> None:
    train = pq.read_table(nc30 / "data" / "sym40" / "train.parquet")
    for column in (
        "clip_id",
        "youtube_id",
        "time_start",
        "time_end",
        "class_name",
        "clean_label",
        "label",
        "is_noisy",
        "path",
        "audio_clip_id",
    ):
        assert column in train.column_names
    assert train.num_rows == 25 * 400
