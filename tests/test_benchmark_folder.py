"""Benchmark folders: Hugging Face loading offline, cards, lock file and verify, determinism, atomic writes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import avnoisebench.dataset.write as write_module
from avnoisebench.benchmarks.build import mini_kinetics_folders
from avnoisebench.dataset.folder import BenchmarkFolder
from avnoisebench.dataset.info import summarize
from avnoisebench.dataset.verify import verify_folder
from avnoisebench.errors import AvnbError
from avnoisebench.noise.labels import NoiseSpec

CONFIGS = ["clean", "sym20", "sym40", "sym60", "sym80", "asym20", "asym40"]


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_loads_offline_with_datasets_and_avnoisebench(nc30: Path, tmp_path: Path) -> None:
    probe = f"""
import datasets, avnoisebench
a = datasets.load_dataset({str(nc30)!r}, "sym40")
b = avnoisebench.load({str(nc30)!r}, "sym40")
assert list(a) == list(b) == ["train", "test"]
for split in a:
    assert a[split].features == b[split].features
    assert a[split].to_dict() == b[split].to_dict()
print(a["train"].num_rows, a["test"].num_rows, a["train"].features["label"].names[0], sum(a["train"]["is_noisy"]))
print(datasets.get_dataset_config_names({str(nc30)!r}))
"""
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "10000 2490 assembling computer 4000"
    assert lines[1] == str(CONFIGS)


def test_card_metadata_matches_the_files(nc30: Path) -> None:
    bench = BenchmarkFolder(nc30)
    assert bench.config_names == CONFIGS
    test_rows = pq.read_metadata(nc30 / "data" / "test.parquet").num_rows
    for config in CONFIGS:
        train = pq.read_metadata(nc30 / "data" / config / "train.parquet").num_rows
        assert bench.split_sizes == {"train": train, "test": test_rows}
    assert len(bench.shortfalls) == 25
    assert "## Shortfall" in (nc30 / "README.md").read_text()


def test_noise_cards_and_labels_agree(nc30: Path) -> None:
    for config in CONFIGS:
        card = BenchmarkFolder(nc30).noise_card(config)
        train = pq.read_table(nc30 / "data" / config / "train.parquet")
        clean, label = train["clean_label"].to_numpy(), train["label"].to_numpy()
        assert card["num_noisy"] == int((clean != label).sum()) == int(train["is_noisy"].to_numpy().sum())
        assert card["seed"] == 0 and card["rate"] == NoiseSpec.parse(config).rate
        assert card["realised_rate"] == pytest.approx(card["rate"])
        assert (card["class_map"] is None) == (card["mode"] != "asym")


def test_evaluation_labels_are_never_noisy(nc30: Path) -> None:
    test = pq.read_table(nc30 / "data" / "test.parquet")
    assert np.array_equal(test["label"].to_numpy(), test["clean_label"].to_numpy())
    assert not test["is_noisy"].to_numpy().any()


def test_lock_covers_inputs_and_every_file(nc30: Path, k400_dir: Path) -> None:
    lock = json.loads((nc30 / "avnb-lock.json").read_text())
    assert {i["name"] for i in lock["inputs"]} == {
        "kinetics400/kinetics-400_train_partial.csv",
        "kinetics400/kinetics-400_val.csv",
    }
    assert verify_folder(nc30) == []
    assert len(lock["files"]) == 1 + 1 + 2 * len(CONFIGS)


def test_verify_reports_changed_missing_and_extra_files(tmp_path: Path, nc30: Path) -> None:
    copy = tmp_path / "copy"
    for relative, data in file_bytes(nc30).items():
        (copy / relative).parent.mkdir(parents=True, exist_ok=True)
        (copy / relative).write_bytes(data)
    target = copy / "data" / "sym40" / "train.parquet"
    target.write_bytes(target.read_bytes()[:-1] + b"\x00")
    (copy / "noise" / "clean.json").unlink()
    (copy / "notes.txt").write_text("mine")
    assert verify_folder(copy) == [
        "changed: data/sym40/train.parquet",
        "missing: noise/clean.json",
        "not in avnb-lock.json: notes.txt",
    ]


def test_summary(nc30: Path) -> None:
    summary = summarize(nc30)
    assert (summary.name, summary.num_classes, summary.splits) == (
        "mini-kinetics-nc30",
        50,
        {"train": 10000, "test": 2490},
    )
    assert [(c.name, c.num_noisy) for c in summary.configs][:3] == [("clean", 0), ("sym20", 2000), ("sym40", 4000)]


def test_building_twice_is_byte_identical(tmp_path: Path, k400_dir: Path, nc30: Path) -> None:
    [again] = mini_kinetics_folders([30], tmp_path, annotations=k400_dir, allow_incomplete=True)
    assert file_bytes(again) == file_bytes(nc30)


def test_existing_folder_is_refused_then_replaced_with_overwrite(tmp_path: Path, k400_dir: Path) -> None:
    kwargs = {"annotations": k400_dir, "allow_incomplete": True, "noise": [NoiseSpec("clean")]}
    [folder] = mini_kinetics_folders([40], tmp_path, **kwargs)
    with pytest.raises(AvnbError, match="already exists; pass --overwrite"):
        mini_kinetics_folders([40], tmp_path, **kwargs)
    mini_kinetics_folders([40], tmp_path, overwrite=True, **{**kwargs, "noise": [NoiseSpec.parse("sym20")]})
    assert BenchmarkFolder(folder).config_names == ["sym20"]
    assert verify_folder(folder) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["mini-kinetics-nc40"]


def test_a_folder_not_written_by_avnb_is_never_replaced(tmp_path: Path, k400_dir: Path) -> None:
    foreign = tmp_path / "mini-kinetics-nc40"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    with pytest.raises(AvnbError, match="not an avnoisebench benchmark folder"):
        mini_kinetics_folders([40], tmp_path, annotations=k400_dir, allow_incomplete=True, overwrite=True)
    assert (foreign / "thesis.tex").read_text() == "keep me"


def test_failed_build_keeps_the_earlier_folder_and_leaves_no_temporary(
    tmp_path: Path, k400_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [folder] = mini_kinetics_folders([10], tmp_path, annotations=k400_dir, allow_incomplete=True)
    before = file_bytes(folder)
    calls = []
    real = write_module.apply_label_noise

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(write_module, "apply_label_noise", failing)
    with pytest.raises(KeyboardInterrupt):
        mini_kinetics_folders([10], tmp_path, annotations=k400_dir, allow_incomplete=True, overwrite=True)
    assert file_bytes(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mini-kinetics-nc10"]


def test_load_names_the_configs_of_a_folder(nc30: Path) -> None:
    import avnoisebench

    with pytest.raises(AvnbError, match="has no config 'sym50'; its configs are clean, sym20"):
        avnoisebench.load(nc30, "sym50")


def test_not_a_benchmark_folder(tmp_path: Path) -> None:
    with pytest.raises(AvnbError, match="not an avnoisebench benchmark folder \\(no avnb-lock.json\\)"):
        verify_folder(tmp_path)
