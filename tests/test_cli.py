"""The `avnb` command line: builds, summaries, verification and one clear message for bad input."""

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from avnoisebench.cli.main import app

runner = CliRunner()


def avnb(*args: str):
    return runner.invoke(app, list(args))


def build_mini_kinetics(k400_dir: Path, root: Path, *extra: str):
    return avnb("build", "mini-kinetics", "--annotations", str(k400_dir), "--root", str(root), *extra)


def test_build_info_verify(tmp_path: Path, k400_dir: Path) -> None:
    result = build_mini_kinetics(k400_dir, tmp_path, "--nc", "0.2", "--allow-incomplete", "--noise", "sym50")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "mini-kinetics-nc20"
    assert f"built {folder}: 50 classes, 10400 train, 2483 test, 8 configs" in result.output
    info = avnb("info", str(folder))
    assert info.exit_code == 0 and "sym50" in info.output and "0.5000" in info.output
    assert "24 class/split shortfall(s)" in info.output
    assert avnb("verify", str(folder)).exit_code == 0
    (folder / "data" / "test.parquet").write_bytes(b"broken")
    broken = avnb("verify", str(folder))
    assert broken.exit_code == 1 and "changed: data/test.parquet" in broken.output


def test_all_levels_from_the_shared_annotations(tmp_path: Path, k400_dir: Path) -> None:
    result = build_mini_kinetics(k400_dir, tmp_path, "--nc", "all", "--allow-incomplete")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"mini-kinetics-nc{n}" for n in (10, 20, 30, 40)]
    counts = re.findall(r"nc(\d+): 50 classes, (\d+) train, (\d+) test", result.output)
    assert counts == [
        ("10", "11600", "2491"),
        ("20", "10400", "2483"),
        ("30", "10000", "2490"),
        ("40", "12000", "2478"),
    ]


def test_ucf101_av(tmp_path: Path, ucf_dir: Path) -> None:
    result = avnb("build", "ucf101-av", "--annotations", str(ucf_dir), "--out", str(tmp_path / "u"))
    assert result.exit_code == 0, result.output
    assert "51 classes, 4892 train, 1944 test, 7 configs" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nc", "0.5"], "--nc '0.5' is not a mini-Kinetics level"),
        (["--nc", "0.3", "--noise", "asym50"], "must be below 0.5"),
        (["--nc", "0.3", "--noise", "sym120"], "outside (0, 1)"),
        (["--nc", "all", "--out", "x"], "--out names the folder of one level"),
        (["--nc", "0.3"], "class(es) short of rows"),
    ],
)
def test_bad_input_is_one_message(args: list[str], message: str, tmp_path: Path, k400_dir: Path) -> None:
    result = build_mini_kinetics(k400_dir, tmp_path, *args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_missing_annotation_folder(tmp_path: Path) -> None:
    result = avnb("build", "ucf101-av", "--annotations", str(tmp_path / "nope"), "--out", str(tmp_path / "u"))
    assert result.exit_code == 2 and "does not exist" in result.output


def test_console_script_is_installed(tmp_path: Path, ucf_dir: Path) -> None:
    exe = shutil.which("avnb")
    assert exe, "the avnb console script is not on PATH; install the project with pip"
    done = subprocess.run([exe, "info", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and "not an avnoisebench benchmark folder" in done.stderr


# --- conventions every command follows ---------------------------------------------------------------------------


def test_version() -> None:
    from avnoisebench.provenance import code_version

    done = avnb("--version")
    assert done.exit_code == 0 and done.stdout == f"avnb (avnoisebench) {code_version()}\n"


def test_help_says_what_the_tool_does_and_lists_commands_in_pipeline_order() -> None:
    done = runner.invoke(app, ["--help"], terminal_width=200)
    assert done.exit_code == 0
    assert "end to end" in done.stdout and "`build` a benchmark folder" in done.stdout
    listed = re.findall(r"^│ ([a-z][a-z-]+) ", done.stdout.split("Commands")[1], flags=re.M)
    pipeline = ["build", "download", "link", "status", "probe", "pretrain", "train", "evaluate", "leaderboard"]
    shown = [name for name in pipeline if name in listed]
    assert shown == sorted(shown, key=listed.index) and len(shown) >= len(pipeline) - 1  # pretrain arrives later
    assert listed.index("report") < listed.index("sweep") and set(listed) >= {"verify", "info", "methods", "cache"}


def _commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        yield f"{prefix}{name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")


def test_every_command_and_option_has_a_description() -> None:
    root = typer.main.get_command(app)
    missing = [
        f"avnb {name} {param.name}"
        for name, command in [("", root), *_commands(root)]
        for param in command.params
        if not (getattr(param, "help", None) or "").strip()
    ]
    assert missing == []
    assert [name for name, command in _commands(root) if not (command.help or "").strip()] == []


def test_methods_summaries_are_whole_sentences() -> None:
    done = avnb("methods")
    assert done.exit_code == 0
    summaries: list[str] = []
    for line in done.stdout.splitlines():
        if line.startswith("│"):  # a table row; a wrapped summary goes on in rows with an empty method cell
            method, _, summary = (cell.strip() for cell in line.split("│")[1:4])
            summaries += [summary] if method else []
            summaries[-1] += "" if method else f" {summary}"
    assert len(summaries) >= 9 and all(s.endswith(".") and "…" not in s for s in summaries), summaries
