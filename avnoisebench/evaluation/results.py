"""The results log: one dated JSON line per evaluated predictions file, appended atomically."""

import json
from dataclasses import MISSING, asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from avnoisebench.errors import AvnbError
from avnoisebench.evaluation.metrics import METRICS
from avnoisebench.jsonl import append_line

DEFAULT_RESULTS = Path("results.jsonl")


@dataclass(frozen=True)
class ResultRecord:
    """One evaluation: which benchmark, config, method (and its options) and seed, its metrics, where it came from."""

    benchmark: str
    benchmark_lock_sha256: str
    config: str | None
    method: str
    seed: int | None
    metrics: dict[str, float]
    run: str | None
    predictions: str
    date: str
    code_version: str
    track: str | None
    run_code_version: str | None = None
    options: dict[str, Any] | None = None


def utc_now() -> str:
    """The current UTC time in ISO 8601, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def append_result(results_path: Path, record: ResultRecord) -> None:
    """Append one record as one line of the results log (locked, so parallel writers never interleave)."""
    append_line(results_path, asdict(record))


_REQUIRED = [f.name for f in fields(ResultRecord) if f.default is MISSING]


def _record(path: Path, number: int, data: Any) -> ResultRecord:
    missing = [name for name in _REQUIRED if not isinstance(data, dict) or name not in data]
    if missing:
        raise AvnbError(
            f"{path} line {number} is not a result record (missing {', '.join(missing)}); "
            f"remove the line or write the log with `avnb evaluate`"
        )
    metrics = data["metrics"]
    if not isinstance(metrics, dict) or not all(isinstance(metrics.get(m), int | float) for m in METRICS):
        raise AvnbError(f"{path} line {number}: metrics must hold numbers {', '.join(METRICS)}; remove or fix the line")
    known = {f.name for f in fields(ResultRecord)}
    return ResultRecord(**{key: value for key, value in data.items() if key in known})


def read_results(path: Path) -> list[ResultRecord]:
    """Every record in file order; a torn last line from an interrupted writer is skipped."""
    if not path.is_file():
        raise AvnbError(f"results log {path} not found; write one with `avnb evaluate ... --results {path}`")
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines) and not text.endswith("\n"):
                continue
            raise AvnbError(f"{path} line {number} is not valid JSON ({exc}); remove or fix that line") from exc
        records.append(_record(path, number, data))
    return records
