"""The results log: one dated JSON line per evaluation, with structured fields (benchmark, label noise, noisy
correspondence, method and options, model, initial weights, budget, track, seed, metrics) and paths relative to the
log; appended under a lock, read back with old logs migrated (`avnoisebench.evaluation.migrate`), several logs (e.g.
the shards of a sweep) merged, and offered as a pandas DataFrame (`load_results`)."""

import json
import os
import warnings
from collections.abc import Iterable
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from avnoisebench.errors import AvnbError
from avnoisebench.evaluation.metrics import METRICS
from avnoisebench.evaluation.migrate import migrate_record
from avnoisebench.jsonl import append_line, read_jsonl
from avnoisebench.runs.config import variant_label

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_RESULTS = Path("results.jsonl")
FORMAT = 2
SETUP_FIELDS = (
    "benchmark",
    "benchmark_lock_sha256",
    "config",
    "method",
    "method_options",
    "variant",
    "name",
    "model",
    "init_sha256",
    "epochs",
    "lr",
    "batch_size",
    "track",
)
"""The fields that define a leaderboard row: records that differ only in seed and provenance are averaged together."""
TABLE_FIELDS = ("method_options", "variant")
"""Setup fields holding a table (dict), compared by their canonical JSON text; a missing table counts as empty."""


def canonical(table: dict[str, Any] | None) -> str:
    """A table's canonical JSON text (sorted keys), so that equal tables compare equal; None is the empty table."""
    return json.dumps(table or {}, sort_keys=True, default=str)


@dataclass(frozen=True)
class ResultRecord:
    """One evaluation: what was trained and how (the fields that define a leaderboard row, with the seed), its
    metrics, and where it came from. Unknown values (e.g. the model of a predictions file scored on its own) are
    None."""

    benchmark: str
    benchmark_lock_sha256: str
    config: str | None
    method: str
    seed: int | None
    metrics: dict[str, float]
    date: str
    code_version: str
    benchmark_family: str | None = None
    benchmark_variant: str | None = None
    label_noise_mode: str | None = None
    label_noise_rate: float | None = None
    correspondence: float | None = None
    correspondence_kind: str | None = None
    method_options: dict[str, Any] | None = None
    variant: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    model: str | None = None
    init_sha256: str | None = None
    init_source: str | None = None
    init_card: dict[str, Any] | None = None
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    track: str | None = None
    threads: int | None = None
    diagnostics: dict[str, float] = field(default_factory=dict)
    run: str | None = None
    predictions: str | None = None
    run_code_version: str | None = None
    num_classes: int | None = None
    format: int = FORMAT

    def setup(self) -> tuple:
        """Everything that defines the row this record belongs to (the values of SETUP_FIELDS)."""
        return tuple(
            canonical(getattr(self, name)) if name in TABLE_FIELDS else getattr(self, name) for name in SETUP_FIELDS
        )

    def key(self) -> tuple:
        """The setup and the seed: a later record with the same key supersedes an earlier one."""
        return (*self.setup(), self.seed)

    @property
    def label(self) -> str:
        """The display label: the name given to the run, else the method with the values a sweep varied."""
        return self.name or variant_label(self.method, self.variant)


def utc_now() -> str:
    """The current UTC time in ISO 8601, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _relative(path: str | None, log: Path) -> str | None:
    """A path as the results log records it: relative to the log's folder (None stays None)."""
    if path is None:
        return None
    return Path(os.path.relpath(Path(path).resolve(), log.resolve().parent)).as_posix()


def _absolute(path: str | None, log: Path) -> str | None:
    """A recorded path as a path usable here: relative ones count from the log's folder."""
    if path is None or Path(path).is_absolute():
        return path
    return os.path.normpath(log.parent / path)


def append_result(log: Path, record: ResultRecord) -> list[ResultRecord]:
    """Append one record as one line of the results log (locked, so parallel writers never interleave), its run
    and predictions paths relative to the log's folder; returns the earlier records of identical settings and seed
    that it supersedes."""
    if log.is_dir():
        raise AvnbError(f"results log {log} is a folder; pass a file path such as {log / 'results.jsonl'}")
    earlier = [r for r in read_results(log) if r.key() == record.key()] if log.is_file() else []
    stored = replace(record, run=_relative(record.run, log), predictions=_relative(record.predictions, log))
    try:
        append_line(log, asdict(stored))
    except OSError as exc:
        raise AvnbError(f"cannot write the results log {log} ({exc.strerror}); pass a writable --results") from exc
    return earlier


_REQUIRED = [f.name for f in fields(ResultRecord) if f.default is MISSING and f.default_factory is MISSING]


def _record(path: Path, number: int, data: dict[str, Any]) -> ResultRecord:
    data = migrate_record(data) if data.get("format", 1) < FORMAT else data
    missing = [name for name in _REQUIRED if name not in data]
    if missing:
        raise AvnbError(
            f"{path} record {number} is not a result record (missing {', '.join(missing)}); "
            f"remove the line or write the log with `avnb evaluate`"
        )
    metrics = data["metrics"]
    if not isinstance(metrics, dict) or not all(isinstance(metrics.get(m), int | float) for m in METRICS):
        raise AvnbError(f"{path} record {number}: metrics must hold numbers {', '.join(METRICS)}; fix or remove it")
    known = {f.name for f in fields(ResultRecord)}
    values = {key: value for key, value in data.items() if key in known}
    values["run"], values["predictions"] = (
        _absolute(values.get("run"), path),
        _absolute(values.get("predictions"), path),
    )
    return ResultRecord(**values)


def read_results(path: Path) -> list[ResultRecord]:
    """Every record in file order (old formats migrated); a torn last line from an interrupted writer is skipped
    with a warning."""
    if path.is_dir():
        raise AvnbError(f"results log {path} is a folder; pass the .jsonl file")
    if not path.is_file():
        raise AvnbError(f"results log {path} not found; write one with `avnb evaluate ... --results {path}`")
    lines, problems = read_jsonl(path)
    for problem in problems:
        warnings.warn(problem, stacklevel=2)
    return [_record(path, number, data) for number, data in enumerate(lines, 1)]


LogPaths = str | Path | Iterable[str | Path]


def log_files(paths: LogPaths) -> list[Path]:
    """The results logs named by a path or paths: a file as it is, a folder as its `*.jsonl` files by name; each
    once."""
    given = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not given:
        raise AvnbError("no results log given; pass a results .jsonl file, several, or a folder of them")
    files: list[Path] = []
    for path in given:
        found = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
        if not found:
            raise AvnbError(f"folder {path} holds no results log (*.jsonl); pass a log file or a folder of logs")
        files += [f for f in found if f.resolve() not in {known.resolve() for known in files}]
    return files


def _sources(paths: LogPaths) -> list[tuple[Path, ResultRecord]]:
    """Every record in force, with its log: within a log a later record of identical settings and seed supersedes an
    earlier one; across logs (the shards of a sweep run twice) the later-dated one is kept, with a warning."""
    latest: dict[tuple, tuple[Path, ResultRecord]] = {}
    clashes: list[tuple[Path, Path, ResultRecord]] = []
    for log in log_files(paths):
        for record in {r.key(): r for r in read_results(log)}.values():
            earlier = latest.get(record.key())
            if earlier is not None:
                kept = record if record.date >= earlier[1].date else earlier[1]
                clashes.append((earlier[0], log, kept))
                if kept is not record:
                    continue
            latest[record.key()] = (log, record)
    if clashes:
        first, second, kept = clashes[0]
        warnings.warn(
            f"{len(clashes)} record(s) of identical settings and seed are in more than one results log (e.g. "
            f"{kept.label} {kept.config} seed {kept.seed} in {first} and {second}); the later-dated record of each "
            f"is kept",
            stacklevel=3,
        )
    return list(latest.values())


def read_logs(paths: LogPaths) -> list[ResultRecord]:
    """The records in force in one or several results logs or folders of logs (superseded ones left out)."""
    return [record for _, record in _sources(paths)]


def records_frame(records: Iterable[ResultRecord]) -> "pd.DataFrame":
    """Records as a DataFrame: one row per record, its fields as columns in record order with `metrics` spread into
    one column per metric, then the display `label`."""
    import pandas as pd

    names = [f.name for f in fields(ResultRecord)]
    rows = []
    metrics: dict[str, None] = {}
    for record in records:
        row = {name: getattr(record, name) for name in names if name != "metrics"}
        rows.append({**row, **record.metrics, "label": record.label})
        metrics |= dict.fromkeys(record.metrics)
    at = names.index("metrics")
    columns = [*names[:at], *(metrics or dict.fromkeys(METRICS)), *names[at + 1 :], "label"]
    return pd.DataFrame(rows, columns=columns)


def load_results(path_or_paths: LogPaths) -> "pd.DataFrame":
    """The results log(s) as a pandas DataFrame: one row per record in force (a file, several files or a folder of
    logs, merged as `read_logs` does), structured fields as columns, one column per metric, `date` as a UTC timestamp
    and the `log` each record was read from."""
    import pandas as pd

    sources = _sources(path_or_paths)
    frame = records_frame(record for _, record in sources)
    frame["date"] = pd.to_datetime(frame["date"], utc=True, format="ISO8601")
    frame["log"] = [str(log) for log, _ in sources]
    return frame
