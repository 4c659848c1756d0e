"""`avnb build`, `avnb verify`, `avnb info`: benchmark folders."""

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from avnoisebench.benchmarks.build import (
    DEFAULT_AV_MNIST_FOLDER,
    DEFAULT_MEDIA_ROOT,
    DEFAULT_SYNTHETIC_AV_FOLDER,
    DEFAULT_UCF101_AV_FOLDER,
    av_mnist_folder,
    mini_kinetics_folders,
    synthetic_av_folder,
    ucf101_av_folder,
)
from avnoisebench.benchmarks.mini_kinetics import parse_levels
from avnoisebench.benchmarks.synthetic_av import SyntheticSpec
from avnoisebench.cli.app import app, console, errors, user_errors
from avnoisebench.dataset.info import summarize
from avnoisebench.dataset.verify import verify_folder
from avnoisebench.noise.correspondence import CorrespondenceSpec, parse_correspondence_levels
from avnoisebench.noise.labels import DEFAULT_CONFIGS, parse_noise_configs

build_app = typer.Typer(
    no_args_is_help=True, help="Build a benchmark folder (Parquet manifests with frozen label noise)."
)
app.add_typer(build_app, name="build")

Annotations = Annotated[
    Path | None,
    typer.Option(help="Folder with local annotation files instead of downloading the official ones."),
]
Noise = Annotated[
    list[str] | None,
    typer.Option(
        "--noise", help=f"Extra label-noise config (repeatable), e.g. sym50; defaults: {', '.join(DEFAULT_CONFIGS)}."
    ),
]
Seed = Annotated[int | None, typer.Option(help="Seed of sampling and label noise (default: the recipe's).")]
AllowIncomplete = Annotated[
    bool, typer.Option(help="Build even if classes are short of rows; the shortfall is recorded in the card.")
]
Overwrite = Annotated[bool, typer.Option(help="Replace an existing benchmark folder.")]
NcSynthetic = Annotated[
    list[str] | None,
    typer.Option(
        "--nc-synthetic",
        help="Synthetic correspondence-noise level(s), comma-separated or repeated (0.2, 20 or nc20; 0 keeps the "
        "pairs): configs become ncNN-<label config>, NN % of each class's training pairs hearing another class.",
    ),
]


def _levels(texts: list[str] | None) -> list[CorrespondenceSpec] | None:
    return None if texts is None else parse_correspondence_levels(texts)


def _report(folders: list[Path]) -> None:
    for folder in folders:
        summary = summarize(folder)
        sizes = ", ".join(f"{n} {split}" for split, n in summary.splits.items())
        console.print(f"built {folder}: {summary.num_classes} classes, {sizes}, {len(summary.configs)} configs")


@build_app.command("mini-kinetics")
@user_errors
def build_mini_kinetics_command(
    nc: Annotated[str, typer.Option(help="Noisy-correspondence level: 0.1, 0.2, 0.3, 0.4 (or 10-40), or all.")],
    annotations: Annotations = None,
    root: Annotated[Path, typer.Option(help="Parent folder of the built benchmark folders.")] = Path("avnb-data"),
    out: Annotated[Path | None, typer.Option(help="Exact output folder (one level only).")] = None,
    train_per_class: Annotated[int | None, typer.Option(help="Training clips per class (default 400).")] = None,
    val_per_class: Annotated[int | None, typer.Option(help="Most validation clips per class (default 50).")] = None,
    seed: Seed = None,
    noise: Noise = None,
    allow_incomplete: AllowIncomplete = False,
    overwrite: Overwrite = False,
    nc_synthetic: NcSynthetic = None,
) -> None:
    """mini-Kinetics of the paper's appendix at one or all noisy-correspondence levels."""
    folders = mini_kinetics_folders(
        parse_levels(nc),
        root,
        annotations,
        parse_noise_configs(noise or ()),
        train_per_class,
        val_per_class,
        seed,
        allow_incomplete,
        overwrite,
        out,
        _levels(nc_synthetic),
    )
    _report(folders)


@build_app.command("ucf101-av")
@user_errors
def build_ucf101_av_command(
    annotations: Annotations = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = DEFAULT_UCF101_AV_FOLDER,
    seed: Seed = None,
    noise: Noise = None,
    allow_incomplete: AllowIncomplete = False,
    overwrite: Overwrite = False,
    nc_synthetic: NcSynthetic = None,
) -> None:
    """UCF101 split 1 restricted to the 51 classes with audio."""
    noise_configs = parse_noise_configs(noise or ())
    levels = _levels(nc_synthetic)
    folder = ucf101_av_folder(out, annotations, noise_configs, seed, allow_incomplete, overwrite, levels)
    _report([folder])


@build_app.command("synthetic-av")
@user_errors
def build_synthetic_av_command(
    out: Annotated[Path, typer.Option(help="Output folder.")] = DEFAULT_SYNTHETIC_AV_FOLDER,
    media_root: Annotated[
        Path, typer.Option(help="Media root that receives the generated clips and their status records.")
    ] = DEFAULT_MEDIA_ROOT,
    classes: Annotated[int, typer.Option(help="Number of classes, 2 to 12.")] = SyntheticSpec.classes,
    train_per_class: Annotated[int, typer.Option(help="Training clips per class.")] = SyntheticSpec.train_per_class,
    test_per_class: Annotated[int, typer.Option(help="Test clips per class.")] = SyntheticSpec.test_per_class,
    seed: Annotated[int, typer.Option(help="Seed of the clips and the label noise.")] = SyntheticSpec.seed,
    noise: Noise = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing folder and clips of another build.")] = False,
    nc_synthetic: NcSynthetic = None,
) -> None:
    """A small generated benchmark with real media: moving shapes with tones, for testing training code."""
    folder = synthetic_av_folder(
        out,
        media_root,
        classes,
        train_per_class,
        test_per_class,
        seed,
        parse_noise_configs(noise or ()),
        overwrite,
        _levels(nc_synthetic),
    )
    _report([folder])


@build_app.command("av-mnist")
@user_errors
def build_av_mnist_command(
    out: Annotated[Path, typer.Option(help="Output folder.")] = DEFAULT_AV_MNIST_FOLDER,
    media_root: Annotated[
        Path, typer.Option(help="Media root that receives the rendered clips and their status records.")
    ] = DEFAULT_MEDIA_ROOT,
    sources: Annotated[
        Path | None,
        typer.Option(help="Folder holding mnist/t10k-*.gz and fsdd/recordings/ instead of downloading them."),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Keep this many samples per split (stratified by digit).")] = None,
    jobs: Annotated[int, typer.Option(help="Processes rendering and encoding clips.")] = 2,
    noise: Noise = None,
    nc_synthetic: Annotated[
        list[str] | None,
        typer.Option("--nc-synthetic", help="Correspondence-noise levels (default nc0,nc10,nc20,nc30,nc40)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing folder and clips of another build.")] = False,
) -> None:
    """AV-MNIST-NC: MNIST digits seen and FSDD digits spoken, as real clips, with correspondence and label noise."""
    folder = av_mnist_folder(
        out, media_root, sources, limit, parse_noise_configs(noise or ()), _levels(nc_synthetic), overwrite, jobs
    )
    _report([folder])


@app.command()
@user_errors
def verify(folder: Path) -> None:
    """Re-check every file of a benchmark folder against its lock file; exit 1 on any mismatch."""
    problems = verify_folder(folder)
    for problem in problems:
        errors.print(f"[red]{problem}[/]", highlight=False)
    if problems:
        errors.print(f"{folder}: {len(problems)} problem(s)")
        raise typer.Exit(1)
    console.print(f"{folder}: all files match the lock file")


@app.command()
@user_errors
def info(folder: Path) -> None:
    """Summarise a benchmark folder: classes, split sizes, configs, realised noise."""
    summary = summarize(folder)
    console.print(f"[bold]{summary.title}[/] ({summary.name}): {summary.num_classes} classes")
    sizes = Table("split", "examples")
    for split, n in summary.splits.items():
        sizes.add_row(split, str(n))
    console.print(sizes)
    paired = any(c.mismatched is not None for c in summary.configs)
    configs = Table("config", "mode", "rate", "noisy", "realised rate", *(["mismatched pairs"] if paired else []))
    for c in summary.configs:
        cells = [c.name, c.label_noise.mode, f"{c.label_noise.rate:g}", str(c.num_noisy), f"{c.realised_rate:.4f}"]
        configs.add_row(*cells, *([str(c.mismatched or 0)] if paired else []))
    console.print(configs)
    if summary.shortfall:
        console.print(f"[yellow]{summary.shortfall} class/split shortfall(s) recorded in README.md[/]")
