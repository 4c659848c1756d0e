"""`avnb train` and `avnb methods`: run a registered method on a benchmark through the harness."""

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from avnoisebench.cli.app import app, console, user_errors
from avnoisebench.errors import AvnbError


def _options(pairs: list[str]) -> dict[str, object]:
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise AvnbError(f"--option {pair!r} is not key=value")
        for kind in (int, float):
            try:
                options[key] = kind(text)
                break
            except ValueError:
                continue
        else:
            options[key] = {"true": True, "false": False}.get(text.lower(), text)
    return options


@user_errors
def train(
    folder: Annotated[Path, typer.Argument(help="Benchmark folder.")],
    config: Annotated[str, typer.Option(help="Label-noise config, e.g. sym40.")],
    method: Annotated[str, typer.Option(help="Registered method (see `avnb methods`).")],
    out: Annotated[Path, typer.Option(help="Run folder to write.")],
    media_root: Annotated[Path, typer.Option(help="Media root holding the benchmark's clips.")] = Path(
        "avnb-data/media"
    ),
    track: Annotated[str, typer.Option(help="raw: decode every step; cached: decode once into arrays.")] = "raw",
    model: Annotated[str, typer.Option(help="Model: r2plus1d18-panns22, small, ...")] = "r2plus1d18-panns22",
    epochs: int = 60,
    batch_size: int = 64,
    lr: float = 5e-5,
    seed: int = 0,
    device: str = "cpu",
    workers: Annotated[int, typer.Option(help="Decoding worker processes.")] = 0,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Shared cache for the cached track (default RUN/cache).")
    ] = None,
    frames: Annotated[int | None, typer.Option(help="Frames per clip (default: the benchmark's, else 8).")] = None,
    stride: Annotated[
        float | None, typer.Option(help="Seconds between frames (default: benchmark's, else 0.25).")
    ] = None,
    views: Annotated[int | None, typer.Option(help="Evaluation views per test video (default 10).")] = None,
    short_side: Annotated[
        int | None, typer.Option(help="Resize the short side to this (default: benchmark's, else 128).")
    ] = None,
    crop: Annotated[int | None, typer.Option(help="Square crop size (default: the benchmark's, else 112).")] = None,
    option: Annotated[list[str] | None, typer.Option("--option", help="Method option key=value (repeatable).")] = None,
    visual_weights: Annotated[Path | None, typer.Option(help="Local visual encoder checkpoint.")] = None,
    audio_weights: Annotated[Path | None, typer.Option(help="Local audio encoder checkpoint.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from its last checkpoint.")] = False,
) -> None:
    """Train a method on a benchmark and write a run folder with test predictions."""
    from avnoisebench.harness.train import TrainSettings, run_training
    from avnoisebench.loaders.decoding import benchmark_decoding

    sampling, audio = benchmark_decoding(
        folder, num_frames=frames, stride=stride, num_views=views, short_side=short_side, crop=crop
    )
    settings = TrainSettings(
        folder=folder,
        config=config,
        method=method,
        media_root=media_root,
        out=out,
        track=track,
        model=model,
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        device=device,
        workers=workers,
        cache_dir=cache_dir,
        sampling=sampling,
        audio=audio,
        method_options=_options(option or []),
        visual_weights=visual_weights,
        audio_weights=audio_weights,
    )
    run = run_training(settings, resume)
    if os.environ.get("RANK", "0") == "0":
        console.print(f"run written to {run}; score it with `avnb evaluate {run}`")


app.command()(train)


@app.command()
@user_errors
def methods() -> None:
    """List the methods registered under the avnoisebench.methods entry point."""
    from avnoisebench.harness.registry import registered_methods

    table = Table("method", "provided by", "summary")
    for name, entry in registered_methods().items():
        try:
            summary = ((entry.load().__doc__ or "").strip().splitlines() or [""])[0]
        except Exception as exc:  # a broken third-party plug-in is listed, not fatal
            summary = f"cannot be loaded: {type(exc).__name__}: {exc}"
        table.add_row(name, entry.value, summary)
    console.print(table)
