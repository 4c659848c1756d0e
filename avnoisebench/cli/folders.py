"""`avnb build <recipe>`, `avnb verify`, `avnb info`: benchmark folders. `avnb build` has one command per recipe
of the registry, whose options are the fields of the recipe's options dataclass (with their help)."""

import inspect
import typing
from collections.abc import Callable
from dataclasses import MISSING, Field, fields
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from avnoisebench.cli.app import app, console, errors, user_errors
from avnoisebench.cli.progress import ConsoleProgress
from avnoisebench.dataset.benchmark import describe_shortfalls
from avnoisebench.dataset.folder import BenchmarkFolder
from avnoisebench.dataset.info import summarize
from avnoisebench.dataset.layout import CARD
from avnoisebench.dataset.verify import verify_folder
from avnoisebench.recipes.recipe import BuildOptions, Recipe
from avnoisebench.recipes.registry import RECIPES

build_app = typer.Typer(
    no_args_is_help=True, help="Build a benchmark folder (Parquet manifests with frozen label noise)."
)
app.add_typer(build_app, name="build")

COMMON = {item.name for item in fields(BuildOptions)}
Quiet = Annotated[bool, typer.Option("--quiet", help="Show no progress, only the result.")]


def _parameter(item: Field, kind: Any) -> inspect.Parameter:
    """The command-line option of one options field: typed as the field, or as its parser's input when it has one
    (then None, the default, leaves the field at its own default)."""
    parse = item.metadata["parse"]
    flags = [item.metadata["flag"]] if item.metadata["flag"] else []
    if parse is not None:
        kind = next(iter(typing.get_type_hints(parse).values()))
    default = inspect.Parameter.empty if item.default is MISSING else None if parse else item.default
    annotation = Annotated[kind, typer.Option(*flags, help=item.metadata["help"])]
    return inspect.Parameter(item.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _options(recipe: Recipe, values: dict[str, Any]) -> BuildOptions:
    """The recipe's options from the command line's values: parsed where the field has a parser, left at the field's
    default where such an option was not given."""
    given = {}
    for item in fields(recipe.options):
        parse, value = item.metadata["parse"], values[item.name]
        if parse is None:
            given[item.name] = value
        elif value is not None:
            given[item.name] = parse(value)
    return recipe.options(**given)


def _incomplete(bench: BenchmarkFolder) -> str:
    """What an incomplete build leads with: how many classes are short, and where the card lists them."""
    return (
        f"INCOMPLETE: {describe_shortfalls(bench.shortfalls, bench.num_classes)}; {len(bench.shortfalls)} "
        f"class/split shortfall(s) listed in the Shortfall table of {bench.path / CARD}"
    )


def _report(folder: Path) -> None:
    bench = BenchmarkFolder(folder)
    summary = summarize(bench)
    sizes = ", ".join(f"{n} {split}" for split, n in summary.splits.items())
    built = f"built {folder}: {summary.num_classes} classes, {sizes}, {len(summary.configs)} configs"
    if bench.shortfalls:
        console.print(f"[bold yellow]{escape(_incomplete(bench))}[/]; {escape(built)}", highlight=False)
    else:
        console.print(built, highlight=False, markup=False)


def _command(recipe: Recipe) -> Callable[..., None]:
    """`avnb build <recipe.name>`: its options from the recipe's options dataclass (own ones first), and --quiet."""
    hints = typing.get_type_hints(recipe.options)
    items = sorted(fields(recipe.options), key=lambda item: item.name in COMMON)
    parameters = [_parameter(item, hints[item.name]) for item in items]
    parameters.append(inspect.Parameter("quiet", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Quiet))

    def command(**values: Any) -> None:
        quiet = values.pop("quiet")
        options = _options(recipe, values)
        with ConsoleProgress(console, quiet) as progress:
            folders = recipe.build(options, progress)
        for folder in folders:
            _report(folder)

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__doc__ = recipe.summary
    command.__name__ = f"build_{recipe.name.replace('-', '_')}"
    return command


for _recipe in RECIPES.values():
    build_app.command(_recipe.name)(user_errors(_command(_recipe)))


@app.command()
@user_errors
def verify(
    folder: Annotated[Path, typer.Argument(help="Benchmark folder (from `avnb build`) to check.")],
) -> None:
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
def info(
    folder: Annotated[Path, typer.Argument(help="Benchmark folder (from `avnb build`) to summarise.")],
) -> None:
    """Summarise a benchmark folder: shortfall first if incomplete, classes, split sizes, configs, realised noise."""
    bench = BenchmarkFolder(folder)
    summary = summarize(bench)
    if bench.shortfalls:
        console.print(f"[bold yellow]{escape(_incomplete(bench))}[/]", highlight=False)
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
