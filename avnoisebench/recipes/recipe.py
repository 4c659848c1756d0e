"""What every recipe shares: the `Recipe` record the registry holds, the options common to every build (label noise,
synthetic correspondence noise, overwrite), option fields with their command-line help, and the last two steps of a
build (noise step, folder writer)."""

from collections.abc import Callable
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from avnoisebench.dataset.benchmark import Benchmark
from avnoisebench.dataset.write import write_benchmark
from avnoisebench.noise.apply import apply_noise
from avnoisebench.noise.correspondence import CorrespondenceSpec, parse_correspondence_levels
from avnoisebench.noise.labels import DEFAULT_CONFIGS, NoiseSpec, parse_noise_configs
from avnoisebench.progress import Progress

DATA_ROOT = Path("avnb-data")
DEFAULT_MEDIA_ROOT = DATA_ROOT / "media"


def option(default: Any = MISSING, *, help: str, parse: Callable[[Any], Any] | None = None, flag: str = "") -> Any:
    """A field of a recipe's options: its default (none: required), one-line help, and for values that are not
    plain (ints, paths, flags) the parser of the command-line text; `flag` names the option when not `--<field>`."""
    return field(default=default, metadata={"help": help, "parse": parse, "flag": flag})


def parse_noise(extra: list[str] | None) -> tuple[NoiseSpec, ...]:
    """The default label-noise configs followed by the `--noise` ones."""
    return tuple(parse_noise_configs(extra or ()))


def parse_correspondence(texts: list[str] | None) -> tuple[CorrespondenceSpec, ...] | None:
    """The `--nc-synthetic` levels, None when none are given."""
    return None if texts is None else tuple(parse_correspondence_levels(texts))


@dataclass(frozen=True, kw_only=True)
class BuildOptions:
    """What every build takes besides its own sources and sizes: the noise added and whether to replace a folder."""

    noise: tuple[NoiseSpec, ...] = option(
        parse_noise(None),
        help=f"Extra label-noise config (repeatable), e.g. sym50; defaults: {', '.join(DEFAULT_CONFIGS)}.",
        parse=parse_noise,
    )
    nc_synthetic: tuple[CorrespondenceSpec, ...] | None = option(
        None,
        help="Synthetic correspondence-noise level(s), comma-separated or repeated (0.2, 20 or nc20; 0 keeps the "
        "pairs): configs become ncNN-<label config>, NN % of each class's training pairs hearing another class.",
        parse=parse_correspondence,
    )
    overwrite: bool = option(False, help="Replace an existing benchmark folder.")


OptionsT = TypeVar("OptionsT", bound=BuildOptions)


@dataclass(frozen=True)
class Recipe(Generic[OptionsT]):
    """A benchmark recipe: its name (the `avnb build` command), one-line summary, options dataclass and entry point
    `build(options, progress)`, which returns the folders it wrote."""

    name: str
    summary: str
    options: type[OptionsT]
    build: Callable[[OptionsT, Progress], list[Path]]


def write_folder(benchmark: Benchmark, options: BuildOptions, out: Path, seed: int, progress: Progress) -> Path:
    """The last two steps of every build: add the options' noise to `benchmark` (seeded by `seed`), write the folder."""
    configs = len(options.noise) * len(options.nc_synthetic or [None])
    progress.note(f"adding {configs} noise config(s) to {benchmark.name} and writing {out}")
    noisy = apply_noise(benchmark, options.noise, options.nc_synthetic, seed)
    return write_benchmark(noisy, out, options.overwrite)
