"""mini-Kinetics' sources, the Kinetics-400 annotation CSVs: locate, download, read and validate them as Arrow
tables."""

import csv
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from avnoisebench.dataset.benchmark import SourceFile
from avnoisebench.errors import AvnbError
from avnoisebench.progress import SILENT, Progress
from avnoisebench.sources.fetch import fetch

REQUIRED_COLUMNS = ("label", "youtube_id", "time_start", "time_end")
SPLIT_SPELLINGS = {"train": ("train",), "val": ("val", "validate", "validation")}
_ID_PATTERN = "^[A-Za-z0-9_-]+$"


@dataclass(frozen=True)
class KineticsAnnotations:
    """The train and validation annotation tables with the digests of the files they came from."""

    train: pa.Table
    val: pa.Table
    sources: tuple[SourceFile, ...]

    def split(self, name: str) -> pa.Table:
        """The table of split `train` or `val`."""
        return {"train": self.train, "val": self.val}[name]


def locate_csvs(directory: Path) -> dict[str, Path]:
    """Find exactly one train CSV and one val/validate CSV in `directory`."""
    if not directory.is_dir():
        raise AvnbError(
            f"annotation folder {directory} does not exist; pass the folder that holds the Kinetics-400 CSVs"
        )
    csvs = sorted(p for p in directory.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
    found = {}
    for split, spellings in SPLIT_SPELLINGS.items():
        matches = [p for p in csvs if any(s in p.stem.lower() for s in spellings)]
        if len(matches) != 1:
            what = "no" if not matches else f"{len(matches)} ({', '.join(p.name for p in matches)})"
            raise AvnbError(
                f"{directory}: found {what} {split} annotation CSV; expected exactly one file whose name contains "
                f"{' or '.join(repr(s) for s in spellings)}, e.g. train.csv and val.csv (or validate.csv)"
            )
        found[split] = matches[0]
    return found


def read_kinetics_csv(path: Path, split: str) -> pa.Table:
    """Read one Kinetics annotation CSV into columns label, youtube_id, time_start, time_end (validated)."""
    if not path.is_file():
        raise AvnbError(f"annotation file {path} does not exist")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
    except UnicodeDecodeError as exc:
        raise AvnbError(f"{path}: not a text CSV file ({exc}); pass the Kinetics annotation CSV") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise AvnbError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(header) or 'nothing'}. "
            f"A Kinetics annotation CSV has the header label,youtube_id,time_start,time_end[,split,is_cc]"
        )
    types = {"label": pa.string(), "youtube_id": pa.string(), "time_start": pa.int64(), "time_end": pa.int64()}
    if "split" in header:
        types["split"] = pa.string()
    options = pacsv.ConvertOptions(column_types=types, include_columns=list(types), strings_can_be_null=True)
    try:
        table = pacsv.read_csv(path, convert_options=options)
    except pa.ArrowInvalid as exc:
        raise AvnbError(f"{path}: not a readable Kinetics annotation CSV ({exc})") from exc
    _check_rows(path, table, split)
    label = pc.utf8_trim(pc.utf8_trim_whitespace(table["label"]), '"')
    return pa.table(
        {
            "label": label,
            "youtube_id": table["youtube_id"],
            "time_start": table["time_start"],
            "time_end": table["time_end"],
        }
    )


def _check_rows(path: Path, table: pa.Table, split: str) -> None:
    for column in REQUIRED_COLUMNS:
        if table[column].null_count:
            raise AvnbError(
                f"{path}: column {column} has {table[column].null_count} empty value(s); fix or drop those rows"
            )
    bad_ids = pc.invert(pc.match_substring_regex(table["youtube_id"], _ID_PATTERN))
    if pc.any(bad_ids).as_py():
        examples = table.filter(bad_ids)["youtube_id"].to_pylist()[:3]
        raise AvnbError(f"{path}: youtube_id values {examples} are not YouTube ids (letters, digits, '-', '_')")
    if pc.any(pc.less_equal(table["time_end"], table["time_start"])).as_py():
        raise AvnbError(f"{path}: some rows have time_end <= time_start; the file is not a Kinetics annotation CSV")
    if "split" in table.column_names:
        values = set(pc.unique(pc.fill_null(table["split"], "")).to_pylist())
        unexpected = values - set(SPLIT_SPELLINGS[split])
        if unexpected:
            raise AvnbError(
                f"{path}: given as the {split} annotations but its split column holds {sorted(unexpected)}; "
                f"pass the {split} CSV"
            )


def load_kinetics400(
    annotations_dir: Path | None, urls: dict[str, str], progress: Progress = SILENT
) -> KineticsAnnotations:
    """Read the Kinetics-400 train/val CSVs from `annotations_dir`, or from the cache (downloading once)."""
    if annotations_dir is None:
        paths = {
            split: fetch(urls[split], f"kinetics400/{split}.csv", "--annotations", progress)
            for split in SPLIT_SPELLINGS
        }
        origins = {split: urls[split] for split in paths}
    else:
        paths = locate_csvs(annotations_dir)
        origins = {split: "local" for split in paths}
    tables = {split: read_kinetics_csv(path, split) for split, path in paths.items()}
    sources = tuple(SourceFile.of(f"kinetics400/{paths[s].name}", paths[s], origins[s]) for s in SPLIT_SPELLINGS)
    return KineticsAnnotations(train=tables["train"], val=tables["val"], sources=sources)
