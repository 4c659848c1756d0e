"""Time `avnb build mini-kinetics --nc all` (4 levels x 7 configs) against a pyarrow read+write floor.

The floor reads the same annotation CSVs with pyarrow and writes the same output tables with pyarrow,
nothing else; the ratio is build time / floor time, both measured here in the same run. Two inputs:
the shared annotations as they are (partial train CSV, built with allow_incomplete), and a full-size
train CSV (246,534 rows, all 400 classes) made by resampling the real rows.

    python bench/build.py [--repeats 7]
"""

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from avnoisebench.recipes.mini_kinetics import MiniKineticsOptions, build_mini_kinetics
from avnoisebench.recipes.mini_kinetics_sources import locate_csvs

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kinetics400"
FULL_TRAIN_ROWS = 246_534


def full_size_annotations(source: Path, out: Path, seed: int = 0) -> Path:
    """A train CSV of FULL_TRAIN_ROWS rows over all 400 classes, resampled from the real train and val rows."""
    paths = locate_csvs(source)
    train, val = (pacsv.read_csv(paths[s]) for s in ("train", "val"))
    classes = pc.unique(val["label"]).to_pylist()
    have_train = set(pc.unique(train["label"]).to_pylist())
    rng = np.random.default_rng(seed)
    per_class = np.full(len(classes), FULL_TRAIN_ROWS // len(classes))
    per_class[: FULL_TRAIN_ROWS % len(classes)] += 1
    parts = []
    for name, count in zip(classes, per_class, strict=True):
        pool = train if name in have_train else val
        rows = pool.filter(pc.equal(pool["label"], name))
        pick = rng.integers(0, rows.num_rows, size=count)
        order = np.argsort(pick, kind="stable")
        repeat = np.empty(count, dtype=np.int64)
        repeat[order] = np.arange(count) - np.searchsorted(pick[order], pick[order])
        chosen = rows.take(pa.array(pick))
        shift = pa.array(repeat * 10)
        parts.append(
            pa.table(
                {
                    "label": chosen["label"],
                    "youtube_id": chosen["youtube_id"],
                    "time_start": pc.add(chosen["time_start"], shift),
                    "time_end": pc.add(chosen["time_end"], shift),
                    "split": pa.repeat("train", count),
                    "is_cc": chosen["is_cc"],
                }
            )
        )
    table = pa.concat_tables(parts)
    table = table.take(pa.array(rng.permutation(table.num_rows)))
    out.mkdir(parents=True)
    pacsv.write_csv(table, out / "train.csv")
    shutil.copyfile(paths["val"], out / "val.csv")
    return out


def time_build(annotations: Path, root: Path) -> tuple[float, list[Path]]:
    shutil.rmtree(root, ignore_errors=True)
    start = time.perf_counter()
    options = MiniKineticsOptions(levels=(10, 20, 30, 40), root=root, annotations=annotations, allow_incomplete=True)
    folders = build_mini_kinetics(options)
    return time.perf_counter() - start, folders


def time_floor(annotations: Path, tables: dict[str, pa.Table], out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    paths = locate_csvs(annotations)
    start = time.perf_counter()
    for path in paths.values():
        pacsv.read_csv(path)
    for relative, table in tables.items():
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target)
    return time.perf_counter() - start


def measure(label: str, annotations: Path, work: Path, repeats: int) -> None:
    builds, floors = [], []
    for _ in range(repeats):
        seconds, folders = time_build(annotations, work / "build")
        builds.append(seconds)
    tables = {
        f"{folder.name}/{p.relative_to(folder)}": pq.read_table(p)
        for folder in folders
        for p in sorted(folder.rglob("*.parquet"))
    }
    for _ in range(repeats):
        floors.append(time_floor(annotations, tables, work / "floor"))
    build, floor = statistics.median(builds), statistics.median(floors)
    rows = sum(pq.read_metadata(folder / "data" / "clean" / "train.parquet").num_rows for folder in folders)
    print(
        f"{label:<34} build {build:6.3f} s   floor {floor:6.3f} s   ratio {build / floor:5.2f}   "
        f"({len(tables)} Parquet files, {rows} train rows per config over 4 levels; median of {repeats})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"reference annotations not found at {SHARED}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        full = full_size_annotations(SHARED, work / "full-size")
        measure("shared CSVs (80,000-row train)", SHARED, work, args.repeats)
        measure(f"full-size train CSV ({FULL_TRAIN_ROWS:,} rows)", full, work, args.repeats)


if __name__ == "__main__":
    main()
