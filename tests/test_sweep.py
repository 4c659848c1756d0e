"""`avnb sweep`: sweep files, cell keys, skipping finished cells, resuming interrupted ones, parallel jobs."""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import typer
from harnesskit import SAMPLING, Notes
from typer.testing import CliRunner

from avnoisebench.cli.main import app
from avnoisebench.errors import AvnbError
from avnoisebench.evaluation.results import load_results, read_logs, read_results
from avnoisebench.harness.cache import list_caches
from avnoisebench.noise.correspondence import parse_correspondence_levels
from avnoisebench.noise.labels import NoiseSpec
from avnoisebench.recipes.synthetic_av import SyntheticAvOptions, build_synthetic_av
from avnoisebench.runs.folder import CHECKPOINT, PREDICTIONS
from avnoisebench.sweep import Shard, expand, grid_points, load_sweep, run_sweep, sweep_cells
from avnoisebench.sweep.execute import error_file

REPO = Path(__file__).resolve().parents[1]
SWEEPS = REPO / "sweeps"


def sweep_file(path: Path, bench: tuple[Path, Path], grid: str = "", extra: str = "") -> Path:
    """A tiny grid on the synthetic bench: late-fusion, 2 epochs, clean and sym40, seeds 0 and 1 (4 cells)."""
    folder, media = bench
    sampling = ", ".join(f"{k} = {v}" for k, v in SAMPLING.items())
    path.write_text(
        f'runs = "{path.parent / "runs"}"\n'
        f"[grid]\n"
        f'benchmarks = ["{folder}"]\n'
        f'configs = ["clean", "sym40"]\n'
        f'methods = ["late-fusion"]\n'
        f"seeds = [0, 1]\n{grid}\n"
        f"[settings]\n"
        f'track = "cached"\nmodel = "small"\ninit = "none"\nepochs = 2\nbatch_size = 16\nlr = 3e-3\n'
        f'media_root = "{media}"\ncache_dir = "{folder.parent / "cache"}"\n'
        f"sampling = {{ {sampling} }}\n{extra}"
    )
    return path


def test_cells_keys_and_labels(tmp_path: Path, synthetic_bench: tuple[Path, Path]) -> None:
    plan = load_sweep(sweep_file(tmp_path / "s.toml", synthetic_bench, grid="vary.settings.lr = [0.001, 0.003]"))
    cells = expand(plan)
    assert len(cells) == 8 and len({c.key for c in cells}) == 8
    assert [c.settings.seed for c in cells] == [0] * 4 + [1] * 4  # seeds outermost
    assert {c.label for c in cells} == {"late-fusion[lr=0.001]", "late-fusion[lr=0.003]"}
    assert all(c.settings.out == plan.runs / c.key and c.settings.epochs == 2 for c in cells)
    places = Counter((p.folder, p.config, p.label, p.seed) for p in grid_points(plan))  # the same cells, from the file
    assert places == Counter((c.settings.folder.path, c.settings.config, c.label, c.settings.seed) for c in cells)
    moved = load_sweep(plan.path, runs=tmp_path / "elsewhere")
    assert [c.key for c in expand(moved)] == [c.key for c in cells]  # where files live is not part of a cell
    assert moved.results == tmp_path / "elsewhere" / "results.jsonl"


def test_skip_resume_and_parallel(tmp_path: Path, synthetic_bench: tuple[Path, Path]) -> None:
    plan = load_sweep(sweep_file(tmp_path / "s.toml", synthetic_bench))
    first = run_sweep(plan, jobs=2, threads=1)
    assert (first.total, first.skipped, Counter(o.status for o in first.outcomes)) == (4, 0, {"trained": 4})
    records = {Path(r.run).name: r for r in read_results(plan.results)}
    assert len(records) == 4 and {r.method for r in records.values()} == {"late-fusion"}
    assert all(r.method_options == {} and r.track == "cached" and r.epochs == 2 for r in records.values())
    assert all(not Path(line["run"]).is_absolute() for line in map(json.loads, plan.results.read_text().splitlines()))

    assert run_sweep(plan).outcomes == []  # everything is in the log
    elsewhere = plan.results.with_name("made-elsewhere.jsonl")  # the same results, run folders named otherwise
    moved = [
        {**line, "run": f"other-machine/x{line['run']}"}
        for line in map(json.loads, plan.results.read_text().splitlines())
    ]
    elsewhere.write_text("".join(json.dumps(line) + "\n" for line in moved))
    assert run_sweep(replace(plan, results=elsewhere)).outcomes == []
    # interruptions: after predicting (no record yet), after the last checkpoint, before anything was written
    cells = expand(plan)
    lines = plan.results.read_text().splitlines(keepends=True)
    kept = [line for line in lines if Path(json.loads(line)["run"]).name not in {c.key for c in cells[:3]}]
    plan.results.write_text("".join(kept))
    (cells[1].settings.out / PREDICTIONS).unlink()
    assert (cells[1].settings.out / CHECKPOINT).is_file()
    shutil.rmtree(cells[2].settings.out)
    cells[2].settings.out.mkdir()
    (cells[2].settings.out / "stray.tmp").write_text("torn")
    again = run_sweep(plan, threads=1)
    assert again.skipped == 1 and [o.status for o in again.outcomes] == ["evaluated", "resumed", "trained"]
    after = read_results(plan.results)
    assert Counter(Path(r.run).name for r in after) == Counter(c.key for c in cells)
    for outcome in again.outcomes:  # seeded: the same numbers as the uninterrupted sweep
        assert outcome.metrics == records[outcome.cell.key].metrics
        assert records[outcome.cell.key].threads == 1
    # a cell interrupted at one torch thread count starts over at another: its numbers depend on the count
    plan.results.write_text("".join(line for line in lines if Path(json.loads(line)["run"]).name != cells[3].key))
    (cells[3].settings.out / PREDICTIONS).unlink()
    moved = run_sweep(plan, threads=2)
    assert [o.status for o in moved.outcomes] == ["trained"]
    assert [r.threads for r in read_results(plan.results) if Path(r.run).name == cells[3].key] == [2]


def test_each_correspondence_level_gets_its_cache_before_cells_run(tmp_path: Path) -> None:
    options = SyntheticAvOptions(
        out=tmp_path / "synthetic_bench",
        media_root=tmp_path / "media",
        classes=3,
        train_per_class=4,
        test_per_class=1,
        noise=(NoiseSpec("clean"),),
        nc_synthetic=tuple(parse_correspondence_levels("nc0,nc50")),
    )
    [folder] = build_synthetic_av(options)
    path = sweep_file(tmp_path / "s.toml", (folder, tmp_path / "media"))
    path.write_text(path.read_text().replace('["clean", "sym40"]', '["nc0-clean", "nc50-clean"]'))
    notes = Notes()
    summary = run_sweep(load_sweep(path), jobs=2, threads=1, progress=notes)
    assert Counter(o.status for o in summary.outcomes) == {"trained": 4}
    caching = [n.split()[5] for n in notes.notes if n.startswith("cached track: cache of")]
    assert caching == ["nc0-clean", "nc50-clean"]  # seed 1 reuses them
    caches = sorted(e.split for e in list_caches(tmp_path / "cache"))
    assert caches == ["test", "train", "train"]  # mismatched audio is a training-split matter: one test cache


def test_a_failing_cell_is_reported_and_retried(tmp_path: Path, synthetic_bench: tuple[Path, Path]) -> None:
    path = sweep_file(tmp_path / "s.toml", synthetic_bench)
    # ntl's contrastive phase needs full batches: 128 is more than the 80 training clips, found only in fit
    path.write_text(path.read_text().replace('"late-fusion"', '"ntl"').replace("batch_size = 16", "batch_size = 128"))
    plan = load_sweep(path)
    summary = run_sweep(plan, limit=1)
    [failed] = summary.failed
    assert "traceback in" in (failed.error or "") and error_file(failed.cell).is_file()
    assert not failed.cell.settings.out.exists()  # it failed before its first epoch: nothing is left behind
    assert not plan.results.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[grid\n", "is not valid TOML"),
        (
            'speed = 1\n[grid]\nbenchmarks = ["b"]\n',
            "speed is not a known key; use name, runs, results, shared_log, settings",
        ),
        ('[grid]\nbenchmarks = ["b"]\nconfigs = ["clean"]\nmethods = ["late-fusion"]\n', "grid.seeds is missing"),
        ('[grid]\nbenchmarks = []\nconfigs = ["c"]\nmethods = ["m"]\nseeds = [0]\n', "grid.benchmarks must be a non"),
        ('[grid]\nbenchmarks = ["b"]\nconfigs = ["c"]\nmethods = ["m"]\nseeds = [0, "1"]\n', "grid.seeds holds '1'"),
        (
            '[grid]\nbenchmarks = ["b"]\nconfigs = ["c"]\nmethods = ["m"]\nseeds = [0]\n[settings]\nepochs = 1.5\n',
            "settings.epochs is 1.5, not an integer; write an integer",
        ),
        (
            '[grid]\nbenchmarks = ["b"]\nconfigs = ["c"]\nmethods = ["m"]\nseeds = [0]\n[settings]\nepoch = 1\n',
            "settings.epoch is not a harness setting; use one of track, model, epochs",
        ),
        (
            '[grid]\nbenchmarks = ["b"]\nconfigs = ["c"]\nmethods = ["m"]\nseeds = [0]\n[settings]\ntrack = "gpu"\n',
            "settings.track is 'gpu'; use one of raw, cached, features",
        ),
        (
            '[grid]\nbenchmarks = ["b"]\nconfigs = ["c"]\nmethods = ["m"]\nseeds = [0]\n[options.ntl]\ngamma = 1\n',
            "options.ntl names a method that no grid runs; add it to a grid's methods",
        ),
    ],
)
def test_bad_sweep_files(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(AvnbError) as error:
        load_sweep(tmp_path / "bad.toml")
    assert str(error.value).startswith(f"sweep file {tmp_path / 'bad.toml'}") and message in str(error.value)


def test_bad_grid_values_are_named(tmp_path: Path, synthetic_bench: tuple[Path, Path]) -> None:
    cases = [
        ("\n[options.late-fusion]\nalpha = 1\n", "has no option(s) alpha"),
        ("", "configs names 'sym90', which"),
    ]
    for extra, message in cases:
        path = sweep_file(tmp_path / "s.toml", synthetic_bench, extra=extra)
        if not extra:
            path.write_text(path.read_text().replace('"sym40"', '"sym90"'))
        with pytest.raises(AvnbError, match=f"sweep file {path}") as error:
            expand(load_sweep(path))
        assert message in str(error.value)
    path = sweep_file(tmp_path / "s.toml", synthetic_bench)
    path.write_text(path.read_text().replace(str(synthetic_bench[0]), str(tmp_path / "absent")))
    with pytest.raises(AvnbError, match="not a built benchmark folder"):
        expand(load_sweep(path))


def test_cells_the_log_could_not_tell_apart_are_refused(tmp_path: Path, synthetic_bench: tuple[Path, Path]) -> None:
    path = sweep_file(tmp_path / "s.toml", synthetic_bench)
    grid = "[[grid]]" + path.read_text().split("[grid]")[1].split("[settings]")[0]
    path.write_text(path.read_text().replace("[grid]", "[[grid]]") + grid + "settings = { sampling = { crop = 24 } }\n")
    with pytest.raises(AvnbError, match="two late-fusion cells on .* differ only in decoding settings"):
        expand(load_sweep(path))


def test_shipped_sweep_files_parse() -> None:
    sizes = {str(path.relative_to(SWEEPS)): len(grid_points(load_sweep(path))) for path in SWEEPS.rglob("*.toml")}
    known = {
        "paper-gpu.toml": 540,
        "scratch-6ep/paper-avmnist.toml": 378,
        "scratch-6ep/ablation-avmnist.toml": 12,
        "scratch-6ep/gamma-avmnist.toml": 24,
        "paper-avmnist.toml": 381,
        "ablation-avmnist.toml": 15,
        "gamma-avmnist.toml": 72,
    }
    assert {name: sizes.get(name) for name in known} == known
    for regime in {path.parent for path in SWEEPS.rglob("*-avmnist.toml")}:  # each regime's three AV-MNIST sweeps
        avmnist = [load_sweep(path) for path in sorted(regime.glob("*-avmnist.toml"))]
        assert len({(s.runs, s.results) for s in avmnist}) == 1  # one run folder, one committed results log
        shared = [{k: v for k, v in grid.settings.items() if k != "lr"} for s in avmnist for grid in s.grids]
        assert all(settings == shared[0] for settings in shared)  # rows and curves compare
        rates = {(m, grid.settings["lr"]) for s in avmnist for grid in s.grids for m in grid.methods}
        assert len(rates) == len({m for m, _ in rates})  # one learning rate per method


runner = CliRunner()


def test_cli_dry_run_and_errors(tmp_path: Path, synthetic_bench: tuple[Path, Path]) -> None:
    path = sweep_file(tmp_path / "s.toml", synthetic_bench)
    done = runner.invoke(app, ["sweep", str(path), "--dry-run"])
    assert done.exit_code == 0 and "4 cells, 4 to run" in done.stdout and done.stdout.count("todo ") == 4
    done = runner.invoke(app, ["sweep", str(tmp_path / "absent.toml")])
    assert done.exit_code == 2 and "sweep file" in done.stderr and "not found" in done.stderr


def session_processes(session: int) -> list[int]:
    """Live processes (not zombies) of a session, read from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == session:
            found.append(int(stat.parent.name))
    return found


def test_a_killed_sweep_leaves_no_worker_and_the_rerun_completes_each_cell_once(
    tmp_path: Path, synthetic_bench: tuple[Path, Path]
) -> None:
    path = sweep_file(tmp_path / "s.toml", synthetic_bench)
    path.write_text(path.read_text().replace("epochs = 2", "epochs = 12"))
    plan = load_sweep(path)
    command = [sys.executable, "-m", "avnoisebench", "sweep", str(path), "--jobs", "2", "--threads", "1", "--quiet"]
    sweep = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(plan.runs.glob(f"*/{CHECKPOINT}")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list(plan.runs.glob(f"*/{CHECKPOINT}")), "no cell started within 2 minutes"
    os.kill(sweep.pid, signal.SIGKILL)
    sweep.wait()
    deadline = time.monotonic() + 5
    while session_processes(sweep.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session_processes(sweep.pid) == []  # workers and the resource tracker died with it
    again = run_sweep(load_sweep(path), jobs=2, threads=1)
    assert again.failed == []
    keys = Counter(Path(r.run).name for r in read_results(plan.results))
    assert keys == Counter(c.key for c in expand(plan))  # every cell exactly once


# --- shards ------------------------------------------------------------------------------------------------------


def test_shards_of_a_sweep(tmp_path: Path, synthetic_bench: tuple[Path, Path]) -> None:
    assert (Shard.parse("2/4"), Shard.parse(" 1 / 1 ")) == (Shard(2, 4), Shard(1, 1))
    for bad, message in (("0/4", "i must be 1 to 4"), ("5/4", "i must be 1 to 4"), ("2", "is not i/n")):
        with pytest.raises(AvnbError, match=message):
            Shard.parse(bad)
    slurm = {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "1"}
    assert Shard.from_slurm({}) is None and Shard.chosen(None, {}) is None
    assert Shard.from_slurm({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"}) == Shard(4, 4)
    assert Shard.from_slurm({**slurm, "SLURM_ARRAY_TASK_STEP": "2"}) == Shard(3, 3)  # --array=1-5:2
    assert Shard.chosen("1/2", {**slurm, "SLURM_ARRAY_TASK_STEP": "2"}) == Shard(1, 2)  # --shard wins
    with pytest.raises(AvnbError, match="SLURM array task 5 is not one of 3 tasks from 1 by 1"):
        Shard.from_slurm(slurm)
    with pytest.raises(AvnbError, match="not an integer"):
        Shard.from_slurm({"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "2"})

    path = sweep_file(tmp_path / "s.toml", synthetic_bench, grid="vary.settings.lr = [0.001, 0.003]")
    whole = load_sweep(path)
    shards = [load_sweep(path, shard=Shard(i, 3)) for i in (1, 2, 3)]
    keys = [[c.key for c in sweep_cells(s)] for s in shards]
    assert sorted(sum(keys, [])) == sorted(c.key for c in expand(whole)) and [len(k) for k in keys] == [3, 3, 2]
    assert [s.results for s in shards] == [whole.results.with_name(f"results.shard-{i}-of-3.jsonl") for i in (1, 2, 3)]
    path.write_text("shared_log = true\n" + path.read_text())
    assert load_sweep(path, shard=Shard(2, 3)).results == whole.results  # every shard appends to the one log
    path.write_text(path.read_text().replace("shared_log = true", 'shared_log = "yes"'))
    with pytest.raises(AvnbError, match="shared_log is 'yes'; write true or false"):
        load_sweep(path)


def test_two_shards_make_the_unsharded_sweep(tmp_path: Path, synthetic_bench: tuple[Path, Path]) -> None:
    path = sweep_file(tmp_path / "s.toml", synthetic_bench)
    path.write_text(path.read_text().replace("epochs = 2", "epochs = 1"))
    whole = load_sweep(path, runs=tmp_path / "whole")
    assert run_sweep(whole, threads=1).failed == []
    for index in (1, 2):  # one after the other here; on a cluster, two machines at once
        shard = load_sweep(path, runs=tmp_path / "sharded", shard=Shard(index, 2))
        summary = run_sweep(shard, threads=1)
        assert (summary.total, len(summary.outcomes), summary.failed) == (2, 2, [])
    logs = sorted(p.name for p in (tmp_path / "sharded").glob("*.jsonl"))
    assert logs == ["results.shard-1-of-2.jsonl", "results.shard-2-of-2.jsonl"]
    cells = {(Path(r.run).name, r.seed, r.config, json.dumps(r.metrics)) for r in read_results(whole.results)}
    union = read_logs(tmp_path / "sharded")  # the folder of shard logs, merged
    assert len(union) == 4 and {(Path(r.run).name, r.seed, r.config, json.dumps(r.metrics)) for r in union} == cells
    frame = load_results(tmp_path / "sharded")
    assert sorted(frame["log"].map(lambda log: Path(log).name).unique()) == logs and len(frame) == 4
    assert run_sweep(load_sweep(path, runs=tmp_path / "sharded", shard=Shard(1, 2))).outcomes == []  # it resumes


def sbatch_script() -> str:
    """The sbatch script of docs/gpu-recipe.md, as written."""
    text = (REPO / "docs" / "gpu-recipe.md").read_text(encoding="utf-8").split("## 4. Many GPUs", 1)[1]
    return re.search(r"```bash\n(.*?)```", text, flags=re.DOTALL).group(1)


def test_the_sbatch_array_script_of_the_gpu_recipe(tmp_path: Path, synthetic_bench: tuple[Path, Path]) -> None:
    script = sbatch_script()
    directives = dict(re.findall(r"^#SBATCH --([a-z-]+)=(\S+)", script, flags=re.M))
    first, last = map(int, directives["array"].split("-"))
    assert (first, last + 1 - first) == (0, 4) and directives["gres"] == "gpu:1"
    assert (
        "avnb sweep sweeps/paper-gpu.toml" in script and len(grid_points(load_sweep(SWEEPS / "paper-gpu.toml"))) == 540
    )
    if "--shard" not in runner.invoke(app, ["sweep", "--help"]).stdout:
        pytest.skip("`avnb sweep` has no --shard option yet (cli/runs.py passes Shard.chosen to load_sweep)")
    path = sweep_file(tmp_path / "s.toml", synthetic_bench)
    local = script.replace("sweeps/paper-gpu.toml", str(path)).replace("--quiet", "--dry-run")
    (tmp_path / "job.sbatch").write_text(local)
    cells = expand(load_sweep(path))
    for task in (0, 1, 2, 3):  # what each array task would run: its quarter of the cells, into its own log
        env = {**os.environ, "SLURM_SUBMIT_DIR": str(tmp_path), "SLURM_ARRAY_TASK_ID": str(task)}
        env |= {"SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_STEP": "1"}
        done = subprocess.run(["bash", str(tmp_path / "job.sbatch")], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert [line.split()[1] for line in done.stdout.splitlines() if line.startswith("todo ")] == [cells[task].key]
        assert f"results.shard-{task + 1}-of-4.jsonl" in done.stdout


def test_the_torchrun_line_of_the_gpu_recipe_parses() -> None:
    from torch.distributed.run import get_args_parser

    text = (REPO / "docs" / "gpu-recipe.md").read_text(encoding="utf-8").split("## 5. One large run", 1)[1]
    line = re.search(r"```\n(torchrun .*?)```", text, flags=re.DOTALL).group(1).replace("\\\n", " ")
    args = get_args_parser().parse_args(shlex.split(line)[1:])
    assert (args.nnodes, args.nproc_per_node, args.module, args.training_script) == ("2", "1", True, "avnoisebench")
    command = typer.main.get_command(app).commands[args.training_script_args[0]]
    context = command.make_context("train", args.training_script_args[1:])  # avnb train accepts every option given
    assert context.params["method"] == "ntl" and context.params["device"] == "cuda"


def test_the_avmnist_sweeps_run_the_papers_regime() -> None:
    """Tables I/II, Table III and Fig. 6 on pretrained frozen encoders for the paper's 60 epochs."""
    for name in ("paper", "ablation", "gamma"):
        for grid in load_sweep(SWEEPS / f"{name}-avmnist.toml").grids:
            settings = grid.settings
            assert (settings["track"], settings["init"], settings["epochs"]) == ("features", "simclr-av-mnist", 60)
