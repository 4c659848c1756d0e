"""The benchmark definitions in annotations/: class lists, recipes, and their packaging."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from avnoisebench.errors import AvnbError
from avnoisebench.recipes import mini_kinetics, ucf101_av
from avnoisebench.recipes.definitions import definition

ROOT = Path(__file__).resolve().parents[1]


def test_four_levels_of_fifty_distinct_kinetics_classes(k400_dir: Path) -> None:
    label_map = set((k400_dir / "label_map_k400.txt").read_text().splitlines())
    lists = {level: mini_kinetics.level_classes(level) for level in mini_kinetics.LEVELS}
    assert sorted(lists) == [10, 20, 30, 40]
    for level, classes in lists.items():
        assert len(classes) == 50 and len(set(classes)) == 50, level
        assert set(classes) <= label_map, set(classes) - label_map
    every = [c for classes in lists.values() for c in classes]
    assert len(set(every)) == 200


def test_paper_spellings_map_to_canonical_names() -> None:
    mapping = {row["paper_name"]: row["kinetics_name"] for row in mini_kinetics.class_table()}
    assert mapping["petting animal(not cat)"] == "petting animal (not cat)"
    assert mapping["massaging persons head"] == "massaging person's head"
    assert mapping["skiing(not slalom or crosscountry)"] == "skiing (not slalom or crosscountry)"
    assert mapping["passing American football(in game)"] == "passing American football (in game)"


def test_recipes_hold_the_paper_sizes() -> None:
    recipe = definition("mini_kinetics")
    assert (recipe["train_per_class"], recipe["val_per_class"], recipe["seed"]) == (400, 50, 0)
    ucf = definition("ucf101_av")
    assert (ucf["split"], ucf["expected_train"], ucf["expected_test"]) == (1, 4892, 1944)


def test_ucf101_audio_classes_use_class_index_spelling(ucf_dir: Path) -> None:
    classes = ucf101_av.audio_classes()
    index = {line.split()[1] for line in (ucf_dir / "classInd.txt").read_text().splitlines() if line.strip()}
    assert len(classes) == 51 and set(classes) <= index
    assert "HandstandPushups" in classes


def test_unknown_level_is_refused() -> None:
    with pytest.raises(AvnbError, match="level 50 does not exist"):
        mini_kinetics.level_classes(50)


def test_regular_install_ships_the_annotations(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("avnoisebench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in ROOT.joinpath("annotations").iterdir():
        if shipped.is_file():
            assert f"avnoisebench/annotations/{shipped.name}" in names
    packages = [p.relative_to(ROOT).as_posix() for p in ROOT.glob("avnoisebench/**/__init__.py")]
    assert sorted(set(packages) - set(names)) == []  # pyproject's package list names every package
    probe = (
        "import avnoisebench; from avnoisebench.recipes import mini_kinetics, ucf101_av; "
        "print(avnoisebench.__file__); print(len(mini_kinetics.level_classes(40)), len(ucf101_av.audio_classes()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={"PYTHONPATH": str(wheel)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    assert out[0].startswith(str(wheel))
    assert out[1] == "50 51"
