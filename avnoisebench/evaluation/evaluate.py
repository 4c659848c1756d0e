"""Evaluate a predictions file or a run folder into a result record."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avnoisebench.dataset.folder import open_folder
from avnoisebench.errors import AvnbError
from avnoisebench.evaluation.metrics import clip_video_metrics
from avnoisebench.evaluation.predictions import load_predictions
from avnoisebench.evaluation.results import ResultRecord, utc_now
from avnoisebench.provenance import code_version

RUN_CONFIG = "config.json"
RUN_PREDICTIONS = "predictions.parquet"
RUN_KEYS = ("benchmark_folder", "config", "method", "seed")
TRACKS = ("raw", "cached")


@dataclass(frozen=True)
class Evaluation:
    """A result record and the warnings raised while validating its predictions."""

    record: ResultRecord
    warnings: tuple[str, ...]


def evaluate_predictions(
    predictions: Path,
    folder: Path,
    method: str,
    config: str | None = None,
    seed: int | None = None,
    run: Path | None = None,
    track: str | None = None,
    run_code_version: str | None = None,
    options: dict[str, Any] | None = None,
) -> Evaluation:
    """C@1, C@5 and V@1 of a predictions file on the test split of `folder`, as a result record."""
    if not method.strip():
        raise AvnbError("the method name is empty; name the method whose predictions these are")
    bench = open_folder(folder)
    if config is not None:
        bench.require_config(config)
    if track is not None and track not in TRACKS:
        raise AvnbError(f"track {track!r} is unknown; use one of {', '.join(TRACKS)}")
    loaded = load_predictions(predictions, bench)
    warnings = list(loaded.warnings)
    if config is None:
        warnings.append("no noise config given: the result is listed without one (pass --config, e.g. sym40)")
    record = ResultRecord(
        benchmark=loaded.benchmark,
        benchmark_lock_sha256=loaded.lock_sha256,
        config=config,
        method=method.strip(),
        seed=seed,
        metrics=clip_video_metrics(loaded.scores, loaded.labels, loaded.unscored),
        run=str(run.resolve()) if run else None,
        predictions=str(predictions.resolve()),
        date=utc_now(),
        code_version=code_version(),
        track=track,
        run_code_version=run_code_version,
        options=options,
    )
    return Evaluation(record, tuple(warnings))


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """A run folder's config.json, checked for the keys evaluation needs."""
    path = run_dir / RUN_CONFIG
    if not path.is_file():
        raise AvnbError(f"{run_dir} is not a run folder (no {RUN_CONFIG}); pass a run folder written by `avnb train`")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AvnbError(f"{path} is not valid JSON ({exc}); fix it or train the run again") from exc
    missing = [key for key in RUN_KEYS if not isinstance(config, dict) or key not in config]
    if missing:
        raise AvnbError(f"{path} lacks {', '.join(missing)}; a run's config.json needs {', '.join(RUN_KEYS)}")
    if isinstance(config["seed"], bool) or not isinstance(config["seed"], int):
        raise AvnbError(f"{path}: seed {config['seed']!r} is not an integer; fix it or train the run again")
    return config


def evaluate_run(run_dir: Path, folder: Path | None = None) -> Evaluation:
    """Evaluate a run folder's predictions on its benchmark (or on `folder`, when given)."""
    config = read_run_config(run_dir)
    folder = folder or Path(config["benchmark_folder"])
    if not folder.is_dir():
        raise AvnbError(
            f"{run_dir / RUN_CONFIG} names benchmark folder {folder}, which does not exist here (relative paths "
            f"count from the working directory); pass --benchmark FOLDER"
        )
    return evaluate_predictions(
        run_dir / RUN_PREDICTIONS,
        folder,
        method=str(config["method"]),
        config=config["config"],
        seed=config["seed"],
        run=run_dir,
        track=config.get("track"),
        run_code_version=config.get("code_version"),
        options=config.get("method_options"),
    )


def evaluate_path(
    target: Path,
    folder: Path | None = None,
    method: str | None = None,
    config: str | None = None,
    seed: int | None = None,
) -> Evaluation:
    """Evaluate a run folder, or a predictions file on benchmark `folder` under the name `method`."""
    if target.is_dir():
        given = [
            name
            for name, value in (("--method-name", method), ("--config", config), ("--seed", seed))
            if value is not None
        ]
        if given:
            raise AvnbError(f"{', '.join(given)} come(s) from {target / RUN_CONFIG} for a run folder; leave them out")
        return evaluate_run(target, folder)
    if folder is None or method is None:
        raise AvnbError(
            f"evaluating the predictions file {target} needs --benchmark FOLDER and --method-name NAME "
            f"(or pass a run folder holding {RUN_CONFIG} and {RUN_PREDICTIONS})"
        )
    return evaluate_predictions(target, folder, method, config, seed)
