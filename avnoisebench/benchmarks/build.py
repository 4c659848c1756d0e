"""Library entry points behind `avnb build`: read sources, sample, add label noise, write folders."""

from pathlib import Path

from avnoisebench import definitions
from avnoisebench.benchmarks.av_mnist import NAME as AV_MNIST
from avnoisebench.benchmarks.av_mnist import av_mnist_clips, build_av_mnist, write_av_mnist_media
from avnoisebench.benchmarks.mini_kinetics import benchmark_name, build_mini_kinetics
from avnoisebench.benchmarks.synthetic_av import NAME as SYNTHETIC_AV
from avnoisebench.benchmarks.synthetic_av import SyntheticSpec, build_synthetic_av, write_synthetic_media
from avnoisebench.benchmarks.ucf101_av import NAME as UCF101_AV
from avnoisebench.benchmarks.ucf101_av import build_ucf101_av
from avnoisebench.dataset.write import check_destination, write_benchmark
from avnoisebench.errors import AvnbError
from avnoisebench.noise.correspondence import CorrespondenceSpec, parse_correspondence_levels
from avnoisebench.noise.labels import NoiseSpec, parse_noise_configs
from avnoisebench.sources.digits import load_digit_sources
from avnoisebench.sources.kinetics import load_kinetics400
from avnoisebench.sources.ucf101 import load_ucf101_split


def mini_kinetics_folders(
    levels: list[int],
    root: Path,
    annotations: Path | None = None,
    noise: list[NoiseSpec] | None = None,
    train_per_class: int | None = None,
    val_per_class: int | None = None,
    seed: int | None = None,
    allow_incomplete: bool = False,
    overwrite: bool = False,
    out: Path | None = None,
    correspondence: list[CorrespondenceSpec] | None = None,
) -> list[Path]:
    """Build the mini-Kinetics folders of `levels` under `root` (or at `out` for one level)."""
    if out is not None and len(levels) != 1:
        raise AvnbError("--out names the folder of one level; to build several, give their parent with --root")
    noise = parse_noise_configs() if noise is None else noise
    recipe = definitions.recipe("mini_kinetics")
    seed = recipe["seed"] if seed is None else seed
    targets = [out] if out is not None else [root / benchmark_name(level) for level in levels]
    for target in targets:
        check_destination(target, overwrite)
    source = load_kinetics400(annotations, recipe["annotations"])
    benchmarks = build_mini_kinetics(levels, source, train_per_class, val_per_class, seed, allow_incomplete)
    return [
        write_benchmark(b, t, noise, seed, overwrite, correspondence) for b, t in zip(benchmarks, targets, strict=True)
    ]


def ucf101_av_folder(
    out: Path,
    annotations: Path | None = None,
    noise: list[NoiseSpec] | None = None,
    seed: int | None = None,
    allow_incomplete: bool = False,
    overwrite: bool = False,
    correspondence: list[CorrespondenceSpec] | None = None,
) -> Path:
    """Build the UCF101-AV folder at `out`."""
    noise = parse_noise_configs() if noise is None else noise
    recipe = definitions.recipe("ucf101_av")
    seed = recipe["seed"] if seed is None else seed
    check_destination(out, overwrite)
    lists = load_ucf101_split(annotations, recipe["split"], recipe["annotations"]["archive"])
    benchmark = build_ucf101_av(lists, seed, allow_incomplete)
    return write_benchmark(benchmark, out, noise, seed, overwrite, correspondence)


def synthetic_av_folder(
    out: Path,
    media_root: Path,
    classes: int = SyntheticSpec.classes,
    train_per_class: int = SyntheticSpec.train_per_class,
    test_per_class: int = SyntheticSpec.test_per_class,
    seed: int = SyntheticSpec.seed,
    noise: list[NoiseSpec] | None = None,
    overwrite: bool = False,
    correspondence: list[CorrespondenceSpec] | None = None,
) -> Path:
    """Generate the synthetic-av media under `media_root`, then write its benchmark folder at `out`."""
    noise = parse_noise_configs() if noise is None else noise
    spec = SyntheticSpec(classes, train_per_class, test_per_class, seed)
    check_destination(out, overwrite)
    write_synthetic_media(spec, media_root, overwrite)
    return write_benchmark(build_synthetic_av(spec), out, noise, seed, overwrite, correspondence)


def av_mnist_folder(
    out: Path,
    media_root: Path,
    sources: Path | None = None,
    limit: int | None = None,
    noise: list[NoiseSpec] | None = None,
    correspondence: list[CorrespondenceSpec] | None = None,
    overwrite: bool = False,
    jobs: int = 1,
) -> Path:
    """Render the AV-MNIST clips under `media_root` (from `sources` or downloaded), then write its folder at `out`
    with every correspondence level (default nc0-nc40) crossed with every label-noise config."""
    noise = parse_noise_configs() if noise is None else noise
    definition = definitions.recipe("av_mnist")
    levels = (
        parse_correspondence_levels(definition["correspondence_levels"]) if correspondence is None else correspondence
    )
    check_destination(out, overwrite)
    digit_sources = load_digit_sources(sources, definition)
    clips = av_mnist_clips(digit_sources, limit)
    write_av_mnist_media(clips, media_root, overwrite, jobs)
    benchmark = build_av_mnist(digit_sources, clips, limit)
    return write_benchmark(benchmark, out, noise, definition["seed"], overwrite, levels)


DEFAULT_UCF101_AV_FOLDER = Path("avnb-data") / UCF101_AV
DEFAULT_SYNTHETIC_AV_FOLDER = Path("avnb-data") / SYNTHETIC_AV
DEFAULT_AV_MNIST_FOLDER = Path("avnb-data") / AV_MNIST
DEFAULT_MEDIA_ROOT = Path("avnb-data") / "media"
