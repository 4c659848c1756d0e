"""UCF101-AV: split 1 of UCF101 restricted to the 51 classes with audio and to videos with an audio track."""

import pyarrow as pa

from avnoisebench import definitions
from avnoisebench.dataset.benchmark import Benchmark, Shortfall, format_shortfalls, manifest_table
from avnoisebench.errors import AvnbError
from avnoisebench.sources.ucf101 import Ucf101Split

NAME = "ucf101-av"


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


def build_ucf101_av(lists: Ucf101Split, seed: int | None = None, allow_incomplete: bool = False) -> Benchmark:
    """The clean train/test manifests of UCF101-AV from parsed split lists."""
    recipe = definitions.recipe("ucf101_av")
    seed = recipe["seed"] if seed is None else seed
    by_lower = {name.lower(): name for name in lists.class_names}
    wanted = definitions.ucf101_av_classes()
    unknown = [c for c in wanted if c.lower() not in by_lower]
    if unknown:
        raise AvnbError(
            f"classInd.txt has no class {', '.join(map(repr, unknown))}; pass the official UCF101 split lists"
        )
    classes = [by_lower[c.lower()] for c in wanted]
    keep = set(classes)
    no_audio = definitions.ucf101_av_no_audio()
    splits = {
        split: [(c, v) for c, v in entries if c in keep and v not in no_audio]
        for split, entries in (("train", lists.train), ("test", lists.test))
    }
    expected = {"train": recipe["expected_train"], "test": recipe["expected_test"]}
    counts = {split: len(entries) for split, entries in splits.items()}
    if counts != expected and not allow_incomplete:
        raise AvnbError(
            f"the split lists give {counts['train']} train / {counts['test']} test videos in the 51 audio classes, "
            f"but UCF101-AV split {recipe['split']} has {expected['train']} / {expected['test']}; pass the official "
            f"UCF101 split lists, or build anyway with --allow-incomplete (the difference is recorded in the card)"
        )
    per_class = {
        split: {c: sum(1 for cls, _ in entries if cls == c) for c in classes} for split, entries in splits.items()
    }
    shortfalls = tuple(
        Shortfall(split, c, per_class[split][c], 1) for split in splits for c in classes if not per_class[split][c]
    )
    if shortfalls and not allow_incomplete:
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
            "split": recipe["split"],
            "seed": seed,
            "expected": expected,
            "built": counts,
            "excluded_without_audio": sorted(no_audio),
        },
        homepage=recipe["homepage"],
        license="unknown",
        shortfalls=shortfalls,
    )
