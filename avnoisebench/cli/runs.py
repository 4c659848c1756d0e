"""`avnb train`, `avnb methods`, `avnb sweep`, `avnb cache`, `avnb demo`: runs of methods on benchmarks."""

import os
import re
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from avnoisebench.cli.app import app, console, errors, interrupted, user_errors
from avnoisebench.cli.progress import ConsoleProgress
from avnoisebench.errors import AvnbError

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Show no progress, only the result.")]


def parse_options(pairs: list[str]) -> dict[str, str]:
    """`key=value` pairs of --option, as strings (the method's Options converts each by its field type)."""
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise AvnbError(f"--option {pair!r} is not key=value (e.g. --option k=32)")
        if key in options:
            raise AvnbError(f"--option {key} is given twice; give each option once")
        options[key.strip()] = text
    return options


Folder = Annotated[Path, typer.Argument(help="Benchmark folder (from `avnb build`).")]
Config = Annotated[str, typer.Option(help="Noise config to train on, e.g. nc30-sym40 (see `avnb info`).")]
MethodName = Annotated[str, typer.Option(help="Registered method (see `avnb methods`).")]
MediaRoot = Annotated[Path, typer.Option(help="Media root holding the benchmark's clips.")]
Track = Annotated[
    str | None,
    typer.Option(
        help="raw: decode every step; cached: decode once into arrays; features: frozen pretrained encoders' features "
        "(default: the card's protocol)."
    ),
]
Model = Annotated[str | None, typer.Option(help="r2plus1d18-panns22, small or tiny (default: the card's protocol).")]
Init = Annotated[
    str | None,
    typer.Option(
        help="Initial encoder weights: a file from `avnb pretrain`, a pretraining recipe name, or none "
        "(default: the card's protocol)."
    ),
]
Epochs = Annotated[int | None, typer.Option(help="Training epochs (default: the card's protocol, else 60).")]
BatchSize = Annotated[int | None, typer.Option(help="Batch size (default: the card's protocol, else 64).")]
Seed = Annotated[int, typer.Option(help="Seed of the model's initialisation, batch order and the method.")]
Device = Annotated[str, typer.Option(help="Torch device: cpu, cuda or cuda:N.")]
Workers = Annotated[int, typer.Option(help="Decoding worker processes.")]
CacheDirOption = Annotated[
    Path | None,
    typer.Option(help="Decoded-clip cache, shared by runs (default: $AVNB_CACHE_DIR or ~/.cache/avnoisebench/clips)."),
]
Options = Annotated[
    list[str] | None,
    typer.Option("--option", help="Method option key=value, repeatable (`avnb methods --options M`)."),
]
DEFAULT_MEDIA_ROOT = Path("avnb-data/media")


@user_errors
def train(
    folder: Folder,
    config: Config,
    method: MethodName,
    out: Annotated[Path, typer.Option(help="Run folder to write (must be empty, or --resume / --overwrite).")],
    media_root: MediaRoot = DEFAULT_MEDIA_ROOT,
    track: Track = None,
    model: Model = None,
    init: Init = None,
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    lr: Annotated[
        float | None, typer.Option(help="Adam learning rate (default: the card's protocol, else 5e-5).")
    ] = None,
    seed: Seed = 0,
    device: Device = "cpu",
    workers: Workers = 0,
    threads: Annotated[
        int | None,
        typer.Option(
            help="Torch threads (default: torch's, the CPU cores or $OMP_NUM_THREADS); the numbers depend on it, so "
            "the run records it and resumes only with the same count."
        ),
    ] = None,
    cache_dir: CacheDirOption = None,
    frames: Annotated[int | None, typer.Option(help="Frames per clip (default: the benchmark's, else 8).")] = None,
    stride: Annotated[
        float | None, typer.Option(help="Seconds between frames (default: the benchmark's, else 0.25).")
    ] = None,
    views: Annotated[int | None, typer.Option(help="Evaluation views per test video (default 10).")] = None,
    short_side: Annotated[
        int | None, typer.Option(help="Resize the short side to this (default: the benchmark's, else 128).")
    ] = None,
    crop: Annotated[int | None, typer.Option(help="Square crop size (default: the benchmark's, else 112).")] = None,
    option: Options = None,
    visual_weights: Annotated[
        Path | None, typer.Option(help="Local torchvision R(2+1)D-18 weights (paper model only).")
    ] = None,
    audio_weights: Annotated[
        Path | None, typer.Option(help="Local PANNs ResNet-22 weights (paper model only).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Display name of this run's results on the leaderboard.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from its last checkpoint.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Start over in a run folder avnb wrote before.")] = False,
    quiet: Quiet = False,
) -> None:
    """Train a method on a benchmark and write a run folder with test predictions; every setting is checked before
    anything is decoded, and settings not given come from the benchmark card's recommended protocol."""
    from avnoisebench.harness.settings import plan_run
    from avnoisebench.harness.training import run_training

    if threads is not None and threads < 1:
        raise AvnbError(f"--threads {threads} must be at least 1")
    settings = plan_run(
        folder,
        config,
        method,
        out=out,
        media_root=media_root,
        options=parse_options(option or []),
        track=track,
        model=model,
        init=init,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=device,
        workers=workers,
        cache_dir=cache_dir,
        sampling={"num_frames": frames, "stride": stride, "num_views": views, "short_side": short_side, "crop": crop},
        visual_weights=visual_weights,
        audio_weights=audio_weights,
        name=name,
    )
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    leader = os.environ.get("RANK", "0") == "0"
    with ConsoleProgress(console, quiet or not leader) as progress, interrupted("train", lambda: _kept(out)):
        progress.note(
            f"{settings.method.name} on {settings.folder.name} {settings.config}: {settings.model} "
            f"({settings.init.record.short}), {settings.track} track, {settings.epochs} epochs, lr {settings.lr:g}"
        )
        run = run_training(settings, resume, overwrite, progress)
    if leader:
        console.print(f"run written to {run}; score it with `avnb evaluate {run}`", highlight=False, markup=False)


app.command()(train)


@app.command()
@user_errors
def pretrain(
    folder: Folder,
    out: Annotated[
        Path | None,
        typer.Option(help="Weights file to write (.pt, its card beside it as .json); default: <folder>.weights/."),
    ] = None,
    recipe: Annotated[
        str | None, typer.Option(help="Pretraining recipe (default: the one the card recommends).")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs per modality (default: the recipe's).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the encoders' initialisation, augmentations and batches.")] = 0,
    jobs: Annotated[int, typer.Option(help="1, or 2 to train the two modalities at once in two processes.")] = 2,
    media_root: MediaRoot = DEFAULT_MEDIA_ROOT,
    cache_dir: CacheDirOption = None,
    overwrite: Annotated[bool, typer.Option(help="Pretrain again over an existing weights file.")] = False,
    quiet: Quiet = False,
) -> None:
    """Pretrain the benchmark's CPU encoders label-free (SimCLR per modality) on its training clips only: no label,
    no audio-visual pairing, no test clip; deterministic for a seed and resumable (rerun the same command). Then
    measure the frozen features (k-NN on the test split, k-NN label correction) and write the weights and their card."""
    from avnoisebench.pretrain.benchmark import plan_pretraining, pretrain_folder, training_minutes

    plan = plan_pretraining(folder, media_root, out, recipe, epochs, seed, jobs, cache_dir, overwrite)
    kept = f"its checkpoints are in {plan.workdir}; rerun the same command to resume"
    with ConsoleProgress(console, quiet) as progress, interrupted("pretrain", lambda: kept):
        progress.note(
            f"pretraining {plan.spec.name} ({plan.spec.model}, {plan.spec.epochs} epochs) on {plan.folder.name}"
        )
        card = pretrain_folder(plan, progress)
    quality = card["quality"]
    table = Table("features", "test k-NN accuracy (%)", "k-NN label correction (%)", title="frozen-feature quality")
    for name in ("video", "audio", "fused"):
        correction = quality.get("correction", {}).get(name)
        table.add_row(
            name, f"{100 * quality['test_knn'][name]:.1f}", "" if correction is None else f"{100 * correction:.1f}"
        )
    if "correction" in quality:
        table.add_row(
            f"observed labels ({quality['quality_config']})", "", f"{100 * quality['correction']['observed']:.1f}"
        )
    console.print(table)
    console.print(
        f"wrote {plan.out} and its card; training took {training_minutes(card):.1f} min (resumed runs included); "
        f"train with it: avnb train {plan.folder.path} --init {plan.out} ...",
        highlight=False,
        markup=False,
    )


@app.command("select-lr")
@user_errors
def select_lr_command(
    folder: Folder,
    config: Config,
    method: MethodName,
    lr: Annotated[list[float], typer.Option("--lr", help="A candidate learning rate (repeat for each).")],
    holdout: Annotated[float, typer.Option(help="Share of the training clips held out (per observed class).")] = 0.1,
    media_root: MediaRoot = DEFAULT_MEDIA_ROOT,
    track: Track = None,
    model: Model = None,
    init: Init = None,
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    seed: Seed = 0,
    device: Device = "cpu",
    workers: Workers = 0,
    cache_dir: CacheDirOption = None,
    option: Options = None,
    quiet: Quiet = False,
) -> None:
    """Choose a learning rate on the training split only: train at each candidate on the training clips minus a
    held-out slice and keep the rate whose predictions agree best with the slice's observed (noisy) labels."""
    from avnoisebench.harness.selection import select_lr
    from avnoisebench.harness.settings import plan_run

    settings = plan_run(
        folder,
        config,
        method,
        out=None,
        media_root=media_root,
        options=parse_options(option or []),
        track=track,
        model=model,
        init=init,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr[0],
        seed=seed,
        device=device,
        workers=workers,
        cache_dir=cache_dir,
    )
    with ConsoleProgress(console, quiet) as progress, interrupted("select-lr", lambda: "nothing was kept"):
        choice = select_lr(settings, lr, holdout, progress)
    table = Table("lr", "held-out accuracy (observed labels, %)", title=f"{method} on {settings.folder.name} {config}")
    for score in choice.scores:
        table.add_row(f"{score.lr:g}", f"{score.heldout_accuracy:.2f}")
    console.print(table)
    console.print(
        f"chosen lr {choice.chosen:g} (trained on {choice.trained_on} clips, {choice.heldout} held out; "
        f"{settings.epochs} epochs, {settings.track} track, {settings.model}, init {settings.init.record.short})",
        highlight=False,
        markup=False,
    )


def _kept(out: Path) -> str:
    """What an interrupted run left: its last checkpoint, or nothing."""
    from avnoisebench.runs.folder import RunFolder

    run = RunFolder(out)
    if not run.started:
        return "nothing was kept (the first epoch had not finished)"
    last = run.epochs()[-1]["epoch"] if run.epochs() else "?"
    return f"{out} keeps its checkpoint after epoch {last}; continue with the same command and --resume"


@app.command()
@user_errors
def methods(
    options: Annotated[str | None, typer.Option("--options", help="List this method's options.")] = None,
) -> None:
    """List the registered methods (entry-point group avnoisebench.methods), or one method's options."""
    from avnoisebench.harness.registry import load_method, registered_methods

    if options is not None:
        found = load_method(options)
        table = Table("option", "type", "default", "allowed", "help", title=f"options of {options}")
        for info in found.Options.describe():
            table.add_row(
                info.name,
                info.type,
                str(info.default).lower() if isinstance(info.default, bool) else str(info.default),
                info.allowed,
                info.help,
            )
        console.print(table)
        return
    table = Table("method", "provided by", "summary")
    for method_name, entry in registered_methods().items():
        try:
            paragraph = (entry.load().__doc__ or "").split("\n\n")[0]
            summary = " ".join(re.sub(r"-\n\s*", "-", paragraph).split())  # a line-ending hyphen joins its words
        except Exception as exc:  # a broken third-party plug-in is listed, not fatal
            summary = f"cannot be loaded: {type(exc).__name__}: {exc}"
        table.add_row(method_name, entry.value, summary)
    console.print(table)


@app.command()
@user_errors
def sweep(
    file: Annotated[Path, typer.Argument(help="Sweep file (TOML), e.g. sweeps/paper-avmnist.toml.")],
    jobs: Annotated[int, typer.Option(help="Cells trained at once, each in its own process.")] = 1,
    threads: Annotated[
        int | None, typer.Option(help="Torch threads per cell (default: the CPU cores divided by --jobs).")
    ] = None,
    runs: Annotated[Path | None, typer.Option(help="Folder of the run folders (overrides the file's `runs`).")] = None,
    results: Annotated[Path | None, typer.Option(help="Results log (overrides the file's `results`).")] = None,
    limit: Annotated[int | None, typer.Option(help="Run at most this many of the pending cells (for timing).")] = None,
    dry_run: Annotated[bool, typer.Option(help="List the cells and which are done; train nothing.")] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            help="Run only shard i of n (e.g. 2/4: every 4th cell from the 2nd), appending to its own log; default: "
            "the SLURM array task's shard (SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT), else every cell."
        ),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Run every cell of a sweep file not yet in its results log; rerun the same command to resume."""
    from avnoisebench.sweep import Shard, load_sweep, run_sweep, sweep_cells
    from avnoisebench.sweep.execute import finished_keys

    plan = load_sweep(file, runs, results, Shard.chosen(shard))
    if dry_run:
        cells = sweep_cells(plan)
        done = finished_keys(plan.results, cells)
        for cell in cells:
            s = cell.settings
            mark = "done" if cell.key in done else "todo"
            console.print(
                f"{mark} {cell.key} {cell.label} {s.folder.path} {s.config} seed {s.seed}",
                highlight=False,
                markup=False,
            )
        pending = sum(c.key not in done for c in cells)
        line = f"{len(cells)} cells, {pending} to run; runs in {plan.runs}, results in {plan.results}"
        line = (f"shard {plan.shard}: " if plan.shard else "") + line
        console.print(line, highlight=False, markup=False)
        return
    kept = f"the cells finished so far are in {plan.results}; rerun the same command to go on"
    with ConsoleProgress(console, quiet) as progress, interrupted("sweep", lambda: kept):
        summary = run_sweep(plan, jobs, threads, limit, progress)
    console.print(f"results in {plan.results}; run folders in {plan.runs}", highlight=False, markup=False)
    if summary.failed:
        errors.print(f"{len(summary.failed)} cell(s) failed; fix them and rerun the same command", highlight=False)
        raise typer.Exit(1)


cache_app = typer.Typer(no_args_is_help=True, help="The shared cache of decoded clips (`--track cached`).")
app.add_typer(cache_app, name="cache")
CacheDir = Annotated[
    Path | None, typer.Option(help="Cache folder (default: $AVNB_CACHE_DIR or ~/.cache/avnoisebench, then clips/).")
]


def _cache_dir(given: Path | None) -> Path:
    from avnoisebench.userdirs import cache_root

    return given or cache_root() / "clips"


@cache_app.command("list")
@user_errors
def cache_list(cache_dir: CacheDir = None) -> None:
    """List the cached splits: benchmark, split, clips, size, age."""
    from avnoisebench.harness.cache import list_caches

    entries = list_caches(_cache_dir(cache_dir))
    table = Table("benchmark", "split", "clips", "decodable", "MB", "created", "folder")
    for e in entries:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.created))
        table.add_row(e.benchmark, e.split, str(e.clips), str(e.valid), f"{e.bytes / 2**20:.1f}", created, e.path.name)
    console.print(table)
    console.print(f"{len(entries)} cached split(s) in {_cache_dir(cache_dir)}", highlight=False, markup=False)


@cache_app.command("clear")
@user_errors
def cache_clear(
    cache_dir: CacheDir = None,
    benchmark: Annotated[str | None, typer.Option(help="Only this benchmark's entries.")] = None,
) -> None:
    """Delete cached splits (all, or one benchmark's); they are decoded again when next needed."""
    from avnoisebench.harness.cache import clear_caches

    removed = clear_caches(_cache_dir(cache_dir), benchmark)
    freed = sum(e.bytes for e in removed) / 2**20
    console.print(f"removed {len(removed)} cached split(s), {freed:.1f} MB", highlight=False, markup=False)


@app.command()
@user_errors
def demo(
    out: Annotated[Path, typer.Option(help="Empty folder for the benchmark, media, runs and results.")] = Path(
        "avnb-data/demo"
    ),
    quiet: Quiet = False,
) -> None:
    """Build synthetic-av with label and correspondence noise, train late-fusion and the noise-robust method,
    evaluate both and print the leaderboard; needs no network."""
    from avnoisebench.demo import run_demo
    from avnoisebench.evaluation.results import read_results
    from avnoisebench.report.entries import build_leaderboard
    from avnoisebench.report.leaderboard import render

    began = time.monotonic()
    with ConsoleProgress(console, quiet) as progress:
        results = run_demo(out, progress=progress)
    typer.echo(render(build_leaderboard(read_results(results), reference=False), "md"), nl=False)
    console.print(
        f"done in {time.monotonic() - began:.0f} s; results in {results}, runs in {out / 'runs'}", highlight=False
    )
