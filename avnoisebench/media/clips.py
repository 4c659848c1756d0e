"""The clips a benchmark folder refers to: one row per clip_id with its media path and source window."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from avnoisebench.dataset.layout import TEST_FILE, config_names, read_card_metadata, train_file

CLIP_COLUMNS = ["clip_id", "path", "class_name", "youtube_id", "time_start", "time_end", "source_split"]


def benchmark_clips(folder: Path) -> pa.Table:
    """Every clip of a benchmark folder (train and test), with a `split` column, sorted by clip_id."""
    config = config_names(read_card_metadata(folder))[0]
    parts = []
    for split, relative in (("train", train_file(config)), ("test", TEST_FILE)):
        table = pq.read_table(folder / relative, columns=CLIP_COLUMNS)
        parts.append(table.append_column("split", pa.repeat(split, table.num_rows)))
    return pa.concat_tables(parts).sort_by("clip_id")
