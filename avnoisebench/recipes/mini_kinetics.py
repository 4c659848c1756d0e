"""mini-Kinetics: the paper's four 50-class Kinetics-400 subsets by real noisy-correspondence level.

Definition: annotations/mini_kinetics.toml (sizes, seed, annotation URLs) and mini_kinetics_classes.csv (the class
lists of the paper's appendix); sources: the Kinetics-400 annotation CSVs (mini_kinetics_sources)."""

import csv
import re
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avnoisebench.dataset.benchmark import Benchmark, Shortfall, format_shortfalls, manifest_table
from avnoisebench.dataset.write import check_destination
from avnoisebench.errors import AvnbError
from avnoisebench.progress import SILENT, Progress
from avnoisebench.recipes.definitions import definition, definition_text
from avnoisebench.recipes.mini_kinetics_sources import KineticsAnnotations, load_kinetics400
from avnoisebench.recipes.recipe import DATA_ROOT, BuildOptions, Recipe, option, write_folder

NAME = "mini-kinetics"
DEFINITION = definition("mini_kinetics")
LEVELS: tuple[int, ...] = tuple(DEFINITION["levels"])
SPLIT_CODES = {"train": 0, "val": 1}
SAMPLING_RULE = (
    "per class, rows sorted by clip_id; numpy.random.default_rng([seed, split_code, zlib.crc32(class_name)])"
    ".choice(rows, size, replace=False); train takes train_per_class, val all rows up to val_per_class"
)


@cache
def class_table() -> tuple[dict[str, str], ...]:
    """Rows of the appendix class lists: level, paper spelling, canonical Kinetics-400 name."""
    return tuple(csv.DictReader(definition_text("mini_kinetics_classes.csv").splitlines()))


def level_classes(level: int) -> list[str]:
    """The 50 canonical Kinetics-400 class names of one noisy-correspondence level (10/20/30/40)."""
    if level not in LEVELS:
        raise AvnbError(f"mini-Kinetics level {level} does not exist; choose one of {list(LEVELS)}")
    return [row["kinetics_name"] for row in class_table() if int(row["level"]) == level]


def parse_levels(text: str) -> tuple[int, ...]:
    """`all`, a fraction (0.1-0.4) or a percentage (10-40) -> the levels in percent."""
    text = text.strip().lower()
    if text == "all":
        return LEVELS
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    percent = value * 100 if value < 1 else value
    if not any(np.isclose(percent, level) for level in LEVELS):
        raise AvnbError(
            f"--nc {text!r} is not a mini-Kinetics level; use 0.1, 0.2, 0.3, 0.4 (or 10, 20, 30, 40) or all"
        )
    return (round(percent),)


def benchmark_name(level: int) -> str:
    """Folder name of one level, e.g. mini-kinetics-nc30."""
    return f"{NAME}-nc{level}"


@dataclass(frozen=True, kw_only=True)
class MiniKineticsOptions(BuildOptions):
    """The settings of one mini-Kinetics build (one or several levels)."""

    levels: tuple[int, ...] = option(
        help="Noisy-correspondence level: 0.1, 0.2, 0.3, 0.4 (or 10-40), or all.", parse=parse_levels, flag="--nc"
    )
    annotations: Path | None = option(
        None, help="Folder with the Kinetics-400 train and val CSVs instead of downloading the official ones."
    )
    root: Path = option(DATA_ROOT, help="Parent folder of the built benchmark folders.")
    out: Path | None = option(None, help="Exact output folder (one level only).")
    train_per_class: int = option(DEFINITION["train_per_class"], help="Training clips per class.")
    val_per_class: int = option(DEFINITION["val_per_class"], help="Most validation clips per class.")
    seed: int = option(DEFINITION["seed"], help="Seed of sampling and label noise.")
    allow_incomplete: bool = option(
        False, help="Build even if classes are short of rows; the shortfall is recorded in the card."
    )

    def __post_init__(self) -> None:
        for level in self.levels:
            level_classes(level)
        if not self.levels:
            raise AvnbError(f"no mini-Kinetics level given; choose from {list(LEVELS)} or all")
        if self.out is not None and len(self.levels) != 1:
            raise AvnbError("--out names the folder of one level; to build several, give their parent with --root")
        if self.train_per_class < 1 or self.val_per_class < 1:
            raise AvnbError("--train-per-class and --val-per-class must be at least 1")

    def targets(self) -> list[Path]:
        """The folder of each level: `out`, or `root`/mini-kinetics-ncNN."""
        return [self.out] if self.out is not None else [self.root / benchmark_name(level) for level in self.levels]


def class_slug(name: str) -> str:
    """A class name as a safe folder name: lower case, runs of other characters as '_'."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def clip_ids(table: pa.Table) -> pa.Array:
    """Kinetics clip ids `{youtube_id}_{start:06d}_{end:06d}`."""
    padded = [pc.utf8_lpad(pc.cast(table[c], pa.string()), 6, "0") for c in ("time_start", "time_end")]
    return pc.binary_join_element_wise(table["youtube_id"], *padded, "_")


class _SplitIndex:
    """One annotation split restricted to the wanted classes, sorted by clip_id and grouped by class."""

    def __init__(self, table: pa.Table, classes: list[str], split: str) -> None:
        wanted = pa.array(classes)
        rows = table.filter(pc.is_in(table["label"], value_set=wanted))
        rows = rows.append_column("clip_id", clip_ids(rows)).sort_by("clip_id")
        if pc.count_distinct(rows["clip_id"]).as_py() != len(rows):
            counts = pc.value_counts(rows["clip_id"])
            repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
            raise AvnbError(
                f"the Kinetics {split} CSV lists clip(s) {repeated[:3].to_pylist()} more than once; "
                f"remove the duplicate rows"
            )
        codes = pc.index_in(rows["label"], value_set=wanted).to_numpy()
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(classes) + 1))
        self.rows = rows
        self.split = split
        self.groups = {c: order[bounds[i] : bounds[i + 1]] for i, c in enumerate(classes)}

    def sample(self, name: str, size: int, seed: int) -> np.ndarray:
        """Positions of up to `size` rows of class `name`, chosen by the seeded rule."""
        rows = self.groups[name]
        if len(rows) <= size:
            return rows
        rng = np.random.default_rng([seed, SPLIT_CODES[self.split], zlib.crc32(name.encode())])
        return rng.choice(rows, size=size, replace=False)


def _manifest(index: _SplitIndex, classes: list[str], size: int, seed: int) -> pa.Table:
    taken = np.concatenate([index.sample(c, size, seed) for c in classes])
    rows = index.rows.take(pa.array(taken, type=pa.int64()))
    label = pc.index_in(rows["label"], value_set=pa.array(classes))
    slugs = pa.array([class_slug(c) for c in classes]).take(label)
    files = pc.binary_join_element_wise(rows["clip_id"], ".mp4", "")
    path = pc.binary_join_element_wise(f"kinetics400/{index.split}", slugs, files, "/")
    return manifest_table(
        {
            "clip_id": rows["clip_id"],
            "youtube_id": rows["youtube_id"],
            "time_start": pc.cast(rows["time_start"], pa.int32()),
            "time_end": pc.cast(rows["time_end"], pa.int32()),
            "class_name": rows["label"],
            "clean_label": pc.cast(label, pa.int64()),
            "path": path,
            "audio_clip_id": rows["clip_id"],
            "source_split": pa.repeat(index.split, len(rows)),
        }
    )


def mini_kinetics_benchmarks(options: MiniKineticsOptions, annotations: KineticsAnnotations) -> list[Benchmark]:
    """The clean train/test manifests of the options' levels, sampled from Kinetics-400 annotations."""
    train_per_class, val_per_class, seed = options.train_per_class, options.val_per_class, options.seed
    per_level = {level: level_classes(level) for level in options.levels}
    wanted = [c for classes in per_level.values() for c in classes]
    known = set(pc.unique(annotations.train["label"]).to_pylist()) | set(
        pc.unique(annotations.val["label"]).to_pylist()
    )
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise AvnbError(
            f"the annotation CSVs have no rows at all for {len(unknown)} mini-Kinetics class(es): "
            f"{', '.join(map(repr, unknown))}; pass Kinetics-400 annotation CSVs (class names as in Kinetics-400)"
        )
    sizes = {"train": train_per_class, "val": val_per_class}
    indexes = {split: _SplitIndex(annotations.split(split), wanted, split) for split in sizes}
    shortfalls = {
        level: [
            Shortfall(split, c, len(indexes[split].groups[c]), sizes[split])
            for split in sizes
            for c in classes
            if len(indexes[split].groups[c]) < (sizes[split] if split == "train" else 1)
        ]
        for level, classes in per_level.items()
    }
    if not options.allow_incomplete and any(shortfalls.values()):
        report = "\n".join(
            f"mini-Kinetics level {level}%: {len(short)} class(es) short of rows (split, class: available of asked):\n"
            + format_shortfalls(short)
            for level, short in shortfalls.items()
            if short
        )
        raise AvnbError(
            f"{report}\nPass the complete Kinetics-400 annotation CSVs (or leave out --annotations to download "
            f"the official ones), ask for fewer clips with --train-per-class, or build anyway with "
            f"--allow-incomplete (the shortfall is recorded in the dataset card)."
        )
    return [
        Benchmark(
            name=benchmark_name(level),
            title=f"mini-Kinetics, {level}% noisy correspondence",
            description=(
                f'One of the four mini-Kinetics subsets of Han et al., "Noise-Tolerant Learning for Audio-Visual '
                f'Action Recognition": the 50 Kinetics-400 classes whose videos have about {level}% real '
                f"audio-visual noisy correspondence (the paper's appendix), {train_per_class} training clips per "
                f"class sampled from the Kinetics-400 train split and up to {val_per_class} clips per class from "
                f"the Kinetics-400 validation split, which serves as the test split."
            ),
            class_names=classes,
            train=_manifest(indexes["train"], classes, train_per_class, seed),
            test=_manifest(indexes["val"], classes, val_per_class, seed),
            sources=annotations.sources,
            recipe={
                "benchmark": NAME,
                "noisy_correspondence_level": level,
                "train_per_class": train_per_class,
                "val_per_class": val_per_class,
                "seed": seed,
                "sampling": SAMPLING_RULE,
                "split_codes": SPLIT_CODES,
            },
            homepage=DEFINITION["homepage"],
            license=DEFINITION["license"],
            shortfalls=tuple(shortfalls[level]),
        )
        for level, classes in per_level.items()
    ]


def build_mini_kinetics(options: MiniKineticsOptions, progress: Progress = SILENT) -> list[Path]:
    """Build the folders of the options' levels: read the Kinetics-400 CSVs, sample, add the noise, write."""
    targets = options.targets()
    for target in targets:
        check_destination(target, options.overwrite)
    progress.note("reading the Kinetics-400 annotation CSVs")
    annotations = load_kinetics400(options.annotations, DEFINITION["annotations"], progress)
    benchmarks = mini_kinetics_benchmarks(options, annotations)
    return [
        write_folder(bench, options, target, options.seed, progress)
        for bench, target in zip(benchmarks, targets, strict=True)
    ]


RECIPE = Recipe(
    NAME,
    "mini-Kinetics of the paper's appendix at one or all noisy-correspondence levels.",
    MiniKineticsOptions,
    build_mini_kinetics,
)
