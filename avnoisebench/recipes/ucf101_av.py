"""UCF101-AV: split 1 of UCF101 restricted to the 51 classes with audio and to videos with an audio track.

Definition: annotations/ucf101_av.toml (split, seed, expected sizes, archive URL), ucf101_av_classes.txt (the 51
classes) and ucf101_av_no_audio.txt (split-1 videos without audio); sources: the UCF101 split lists
(ucf101_av_sources)."""

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from avnoisebench.dataset.benchmark import Benchmark, Shortfall, format_shortfalls, manifest_table
from avnoisebench.dataset.write import check_destination
from avnoisebench.errors import AvnbError
from avnoisebench.progress import SILENT, Progress
from avnoisebench.recipes.definitions import definition, definition_lines
from avnoisebench.recipes.recipe import DATA_ROOT, BuildOptions, Recipe, option, write_folder
from avnoisebench.recipes.ucf101_av_sources import Ucf101Split, load_ucf101_split

NAME = "ucf101-av"
DEFINITION = definition("ucf101_av")


def audio_classes() -> list[str]:
    """The 51 UCF101 classes with audio, spelled as in UCF101's classInd.txt."""
    return definition_lines("ucf101_av_classes.txt")


def videos_without_audio() -> frozenset[str]:
    """Split-1 videos of the audio classes that have no audio track."""
    return frozenset(definition_lines("ucf101_av_no_audio.txt"))


@dataclass(frozen=True, kw_only=True)
class Ucf101AvOptions(BuildOptions):
    """The settings of one UCF101-AV build."""

    annotations: Path | None = option(
        None, help="Folder with the UCF101 split lists (classInd.txt, ...) instead of downloading the official ones."
    )
    out: Path = option(DATA_ROOT / NAME, help="Output folder.")
    seed: int = option(DEFINITION["seed"], help="Seed of the label noise.")
    allow_incomplete: bool = option(
        False, help="Build even if the split lists are not the official ones; the difference is recorded in the card."
    )


def _manifest(entries: list[tuple[str, str]], classes: list[str], split: str) -> pa.Table:
    index = {c: i for i, c in enumerate(classes)}
    videos = [video for _, video in entries]
    return manifest_table(
        {
            "clip_id": videos,
            "youtube_id": pa.nulls(len(videos), pa.string()),
            "time_start": pa.nulls(len(videos), pa.int32()),
            "time_end": pa.nulls(len(videos), pa.int32()),
            "class_name": [cls for cls, _ in entries],
            "clean_label": [index[cls] for cls, _ in entries],
            "path": [f"ucf101/{cls}/{video}.avi" for cls, video in entries],
            "audio_clip_id": videos,
            "source_split": pa.repeat(split, len(videos)),
        }
    )


def ucf101_av_benchmark(options: Ucf101AvOptions, lists: Ucf101Split) -> Benchmark:
    """The clean train/test manifests of UCF101-AV from parsed split lists."""
    by_lower = {name.lower(): name for name in lists.class_names}
    wanted = audio_classes()
    unknown = [c for c in wanted if c.lower() not in by_lower]
    if unknown:
        raise AvnbError(
            f"classInd.txt has no class {', '.join(map(repr, unknown))}; pass the official UCF101 split lists"
        )
    classes = [by_lower[c.lower()] for c in wanted]
    keep = set(classes)
    no_audio = videos_without_audio()
    splits = {
        split: [(c, v) for c, v in entries if c in keep and v not in no_audio]
        for split, entries in (("train", lists.train), ("test", lists.test))
    }
    expected = {"train": DEFINITION["expected_train"], "test": DEFINITION["expected_test"]}
    counts = {split: len(entries) for split, entries in splits.items()}
    if counts != expected and not options.allow_incomplete:
        raise AvnbError(
            f"the split lists give {counts['train']} train / {counts['test']} test videos in the 51 audio classes, "
            f"but UCF101-AV split {DEFINITION['split']} has {expected['train']} / {expected['test']}; pass the "
            f"official UCF101 split lists, or build anyway with --allow-incomplete (the difference is recorded in "
            f"the card)"
        )
    per_class = {
        split: {c: sum(1 for cls, _ in entries if cls == c) for c in classes} for split, entries in splits.items()
    }
    shortfalls = tuple(
        Shortfall(split, c, per_class[split][c], 1) for split in splits for c in classes if not per_class[split][c]
    )
    if shortfalls and not options.allow_incomplete:
        raise AvnbError(f"classes without videos:\n{format_shortfalls(shortfalls)}")
    return Benchmark(
        name=NAME,
        title="UCF101-AV (UCF101 split 1, 51 classes with audio)",
        description=(
            "UCF101 (Soomro et al., 2012) split 1 restricted to the 51 action classes whose videos carry an audio "
            'track, as used by Han et al., "Noise-Tolerant Learning for Audio-Visual Action Recognition": '
            f"{counts['train']} training and {counts['test']} test videos. Nine split-1 training videos of these "
            "classes have no audio track and are left out."
        ),
        class_names=classes,
        train=_manifest(splits["train"], classes, "train"),
        test=_manifest(splits["test"], classes, "test"),
        sources=lists.sources,
        recipe={
            "benchmark": NAME,
            "split": DEFINITION["split"],
            "seed": options.seed,
            "expected": expected,
            "built": counts,
            "excluded_without_audio": sorted(no_audio),
        },
        homepage=DEFINITION["homepage"],
        license="unknown",
        shortfalls=shortfalls,
    )


def build_ucf101_av(options: Ucf101AvOptions, progress: Progress = SILENT) -> list[Path]:
    """Build the UCF101-AV folder: read the split lists, keep the audio classes and videos, add the noise, write."""
    check_destination(options.out, options.overwrite)
    progress.note("reading the UCF101 split lists")
    lists = load_ucf101_split(options.annotations, DEFINITION["split"], DEFINITION["annotations"]["archive"], progress)
    return [write_folder(ucf101_av_benchmark(options, lists), options, options.out, options.seed, progress)]


RECIPE = Recipe(NAME, "UCF101 split 1 restricted to the 51 classes with audio.", Ucf101AvOptions, build_ucf101_av)
