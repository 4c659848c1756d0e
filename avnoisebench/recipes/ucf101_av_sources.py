"""UCF101-AV's sources, the UCF101 train/test split lists: locate, download (official archive) and parse them."""

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from avnoisebench.dataset.benchmark import SourceFile
from avnoisebench.errors import AvnbError
from avnoisebench.progress import SILENT, Progress
from avnoisebench.sources.fetch import cache_dir, fetch

_ARCHIVE_FOLDER = "ucfTrainTestlist"


@dataclass(frozen=True)
class Ucf101Split:
    """One official split: class index names and the (class folder, video name) entries of train and test."""

    class_names: tuple[str, ...]
    train: tuple[tuple[str, str], ...]
    test: tuple[tuple[str, str], ...]
    sources: tuple[SourceFile, ...]


def _list_names(split: int) -> tuple[str, str, str]:
    return "classInd.txt", f"trainlist0{split}.txt", f"testlist0{split}.txt"


def _find_lists(directory: Path, split: int) -> list[Path]:
    if not directory.is_dir():
        raise AvnbError(f"annotation folder {directory} does not exist; pass the folder that holds classInd.txt")
    for folder in (directory, directory / _ARCHIVE_FOLDER):
        paths = [folder / name for name in _list_names(split)]
        if all(p.is_file() for p in paths):
            return paths
    missing = [name for name in _list_names(split) if not (directory / name).is_file()]
    raise AvnbError(
        f"{directory}: missing UCF101 split list(s) {', '.join(missing)}; pass the folder of the official "
        f"UCF101TrainTestSplits-RecognitionTask archive (or its {_ARCHIVE_FOLDER}/ folder)"
    )


def _extract_lists(archive: Path, split: int) -> list[Path]:
    out = cache_dir() / "ucf101"
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    try:
        with zipfile.ZipFile(archive) as zf:
            for name in _list_names(split):
                target = out / name
                if not target.is_file():
                    partial = target.with_name(name + ".part")
                    partial.write_bytes(zf.read(f"{_ARCHIVE_FOLDER}/{name}"))
                    os.replace(partial, target)
                paths.append(target)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise AvnbError(f"{archive}: not the UCF101 split archive ({exc}); delete it and run again") from exc
    return paths


def _entries(path: Path) -> list[tuple[int, list[str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AvnbError(f"{path}: not a text file ({exc}); pass the UCF101 split lists") from exc
    return [(n, line.split()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _video(path: Path, lineno: int, field: str) -> tuple[str, str]:
    parts = field.split("/")
    if len(parts) != 2 or not parts[1].startswith("v_") or not parts[1].endswith(".avi"):
        raise AvnbError(f"{path}:{lineno}: {field!r} is not a UCF101 entry of the form Class/v_Class_gXX_cYY.avi")
    return parts[0], parts[1][: -len(".avi")]


def parse_split(
    class_index: Path, train_list: Path, test_list: Path
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """Parse classInd, trainlist and testlist files (LF or CRLF) into names and (class, video) entries."""
    names = []
    for lineno, fields in _entries(class_index):
        if len(fields) != 2 or not fields[0].isdigit() or int(fields[0]) != len(names) + 1:
            raise AvnbError(f"{class_index}:{lineno}: expected '<index> <ClassName>' numbered from 1")
        names.append(fields[1])
    train = []
    for lineno, fields in _entries(train_list):
        if len(fields) != 2:
            raise AvnbError(f"{train_list}:{lineno}: expected 'Class/v_video.avi <label>'")
        train.append(_video(train_list, lineno, fields[0]))
    test = []
    for lineno, fields in _entries(test_list):
        if len(fields) != 1:
            raise AvnbError(f"{test_list}:{lineno}: expected 'Class/v_video.avi'")
        test.append(_video(test_list, lineno, fields[0]))
    return tuple(names), tuple(train), tuple(test)


def load_ucf101_split(
    annotations_dir: Path | None, split: int, archive_url: str, progress: Progress = SILENT
) -> Ucf101Split:
    """Read split `split` of UCF101 from `annotations_dir`, or from the official archive (downloaded once)."""
    if annotations_dir is None:
        archive = fetch(archive_url, "ucf101/UCF101TrainTestSplits-RecognitionTask.zip", "--annotations", progress)
        paths = _extract_lists(archive, split)
        origin = archive_url
    else:
        paths = _find_lists(annotations_dir, split)
        origin = "local"
    names, train, test = parse_split(*paths)
    sources = tuple(SourceFile.of(f"ucf101/{p.name}", p, origin) for p in paths)
    return Ucf101Split(class_names=names, train=train, test=test, sources=sources)
