"""Benchmark folders: Hugging Face loading offline, cards, lock file and verify, determinism, atomic writes, the noise
step and the writer, one-line errors for places that cannot be written and files that are missing or cut."""

import errno
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import avnoisebench.dataset.write as write_module
from avnoisebench.cli.main import app
from avnoisebench.dataset.benchmark import Benchmark, manifest_table
from avnoisebench.dataset.folder import BenchmarkFolder
from avnoisebench.dataset.info import summarize
from avnoisebench.dataset.verify import verify_folder
from avnoisebench.dataset.write import write_benchmark
from avnoisebench.errors import AvnbError
from avnoisebench.noise.apply import apply_noise
from avnoisebench.noise.correspondence import parse_correspondence_levels
from avnoisebench.noise.labels import NoiseSpec, parse_noise_configs
from avnoisebench.recipes.mini_kinetics import MiniKineticsOptions, build_mini_kinetics

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


def incomplete(levels: tuple[int, ...], root: Path, k400_dir: Path, **settings: object) -> MiniKineticsOptions:
    """mini-Kinetics options for the shared (partial) annotations."""
    return MiniKineticsOptions(levels=levels, root=root, annotations=k400_dir, allow_incomplete=True, **settings)


def test_building_twice_is_byte_identical(tmp_path: Path, k400_dir: Path, nc30: Path) -> None:
    [again] = build_mini_kinetics(incomplete((30,), tmp_path, k400_dir))
    assert file_bytes(again) == file_bytes(nc30)


def test_existing_folder_is_refused_then_replaced_with_overwrite(tmp_path: Path, k400_dir: Path) -> None:
    options = incomplete((40,), tmp_path, k400_dir, noise=(NoiseSpec("clean"),))
    [folder] = build_mini_kinetics(options)
    with pytest.raises(AvnbError, match="already exists; pass --overwrite"):
        build_mini_kinetics(options)
    build_mini_kinetics(replace(options, overwrite=True, noise=(NoiseSpec.parse("sym20"),)))
    assert BenchmarkFolder(folder).config_names == ["sym20"]
    assert verify_folder(folder) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["mini-kinetics-nc40"]


def test_a_folder_not_written_by_avnb_is_never_replaced(tmp_path: Path, k400_dir: Path) -> None:
    foreign = tmp_path / "mini-kinetics-nc40"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    with pytest.raises(AvnbError, match="not an avnoisebench benchmark folder"):
        build_mini_kinetics(incomplete((40,), tmp_path, k400_dir, overwrite=True))
    assert (foreign / "thesis.tex").read_text() == "keep me"


def test_failed_build_keeps_the_earlier_folder_and_leaves_no_temporary(
    tmp_path: Path, k400_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [folder] = build_mini_kinetics(incomplete((10,), tmp_path, k400_dir))
    before = file_bytes(folder)
    calls = []
    real = write_module._FolderWriter.parquet

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(write_module._FolderWriter, "parquet", failing)
    with pytest.raises(KeyboardInterrupt):
        build_mini_kinetics(incomplete((10,), tmp_path, k400_dir, overwrite=True))
    assert file_bytes(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mini-kinetics-nc10"]


def test_load_names_the_configs_of_a_folder(nc30: Path) -> None:
    import avnoisebench

    with pytest.raises(AvnbError, match="has no config 'sym50'; its configs are clean, sym20"):
        avnoisebench.load(nc30, "sym50")


def test_not_a_benchmark_folder(tmp_path: Path) -> None:
    with pytest.raises(AvnbError, match="not an avnoisebench benchmark folder \\(no avnb-lock.json\\)"):
        verify_folder(tmp_path)


def tiny_benchmark() -> Benchmark:
    """Two classes, eight training and two test clips."""
    tables = {}
    for split, size in (("train", 8), ("test", 2)):
        ids = [f"{split}{n}" for n in range(size)]
        columns = {"clip_id": ids, "class_name": [("low", "high")[n % 2] for n in range(size)]}
        columns |= {"clean_label": [n % 2 for n in range(size)], "path": ids, "audio_clip_id": ids}
        columns |= {"youtube_id": [None] * size, "time_start": [None] * size, "time_end": [None] * size}
        tables[split] = manifest_table({**columns, "source_split": [split] * size})
    return Benchmark(
        "tiny", "Tiny", "Two classes.", ["low", "high"], tables["train"], tables["test"], (), {}, "", "cc0"
    )


def test_the_noise_step_makes_every_config_and_the_writer_only_serialises(tmp_path: Path) -> None:
    levels = tuple(parse_correspondence_levels("0,0.5"))
    noisy = apply_noise(tiny_benchmark(), parse_noise_configs(defaults=("clean", "sym50")), levels, seed=0)
    assert [c.name for c in noisy.configs] == ["nc0-clean", "nc0-sym50", "nc50-clean", "nc50-sym50"]
    assert noisy.test.column_names[6:11] == ["label", "is_noisy", "path", "audio_clip_id", "nc_flag"]
    assert noisy.configs[3].card["correspondence"]["num_mismatched"] == 4 and noisy.configs[3].card["num_noisy"] == 4
    folder = write_benchmark(noisy, tmp_path / "tiny")
    bench = BenchmarkFolder(folder)
    assert bench.config_names == [c.name for c in noisy.configs] and verify_folder(folder) == []
    for config in noisy.configs:
        assert bench.manifest(config.name, "train").replace_schema_metadata().equals(config.train)
        assert bench.noise_card(config.name) == config.card


def test_an_incomplete_build_says_so_first(tmp_path: Path, k400_dir: Path, nc30: Path) -> None:
    args = ["build", "mini-kinetics", "--nc", "0.3", "--annotations", str(k400_dir), "--root", str(tmp_path)]
    result = CliRunner().invoke(app, [*args, "--allow-incomplete", "--quiet"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "mini-kinetics-nc30"
    warning = (
        "INCOMPLETE: 25 of 50 classes are short of rows (25 without train rows); 25 class/split shortfall(s) listed "
        f"in the Shortfall table of {folder / 'README.md'}"
    )
    assert result.output == f"{warning}; built {folder}: 50 classes, 10000 train, 2490 test, 7 configs\n"
    info = CliRunner().invoke(app, ["info", str(nc30)])
    assert info.exit_code == 0 and info.output.splitlines()[0] == warning.replace(str(folder), str(nc30))
    complete = CliRunner().invoke(
        app,
        ["info", str(write_benchmark(apply_noise(tiny_benchmark(), [NoiseSpec("clean")], None, 0), tmp_path / "tiny"))],
    )
    assert complete.exit_code == 0 and "INCOMPLETE" not in complete.output


def test_an_out_that_cannot_be_written_is_refused_before_any_work(tmp_path: Path, k400_dir: Path) -> None:
    (tmp_path / "file").write_text("in the way")
    args = ["build", "mini-kinetics", "--nc", "0.3", "--annotations", str(k400_dir / "nowhere"), "--allow-incomplete"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "file" / "deeper" / "bench")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip() == (
        f"error: --out: {tmp_path / 'file'} is a file, not a folder; choose an --out whose parent folders are folders"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    if Path("/proc/self").is_dir():
        denied = CliRunner().invoke(app, [*args, "--out", "/proc/avnb/bench"])
        assert denied.exit_code == 2 and "error: --out: cannot create files in /proc (" in denied.output
        assert not Path("/proc/avnb").exists()


def test_a_failed_write_is_one_line_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = write_module._FolderWriter.write
    calls = []

    def full_disk(self, relative: str, data: bytes) -> None:
        calls.append(relative)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", relative)
        real(self, relative, data)

    monkeypatch.setattr(write_module._FolderWriter, "write", full_disk)
    out = tmp_path / "new" / "deeper" / "tiny"
    with pytest.raises(AvnbError, match=r"--out .*tiny: writing failed \(\[Errno 28\] No space left on device"):
        write_benchmark(apply_noise(tiny_benchmark(), parse_noise_configs(), None, 0), out)
    assert list(tmp_path.iterdir()) == []


def test_a_truncated_or_missing_manifest_is_named(tmp_path: Path, nc30: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(nc30, copy)
    truncated = copy / "data" / "sym40" / "train.parquet"
    truncated.write_bytes(truncated.read_bytes()[:100])
    with pytest.raises(AvnbError, match=r"sym40/train.parquet differs from the folder's lock .*avnb verify"):
        BenchmarkFolder(copy).manifest("sym40", "train")
    (copy / "data" / "clean" / "train.parquet").unlink()
    with pytest.raises(AvnbError, match=r"data/clean/train.parquet.*avnb build"):
        BenchmarkFolder(copy).manifest("clean", "train")
    (copy / "noise" / "sym20.json").unlink()
    info = CliRunner().invoke(app, ["info", str(copy)])
    assert info.exit_code == 2 and "noise/sym20.json" in info.output and len(info.output.splitlines()) == 1
