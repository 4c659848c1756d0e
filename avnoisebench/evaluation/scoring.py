"""Score a run folder or a predictions file into a result record (C@1, C@5, V@1 on the clean test split)."""

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from avnoisebench.dataset.folder import BenchmarkFolder, open_folder
from avnoisebench.errors import AvnbError
from avnoisebench.evaluation.mechanisms import run_diagnostics
from avnoisebench.evaluation.metrics import clip_video_metrics
from avnoisebench.evaluation.predictions import load_predictions
from avnoisebench.evaluation.results import ResultRecord, utc_now
from avnoisebench.provenance import code_version
from avnoisebench.runs.config import RunConfig
from avnoisebench.runs.folder import CONFIG, PREDICTIONS, RunFolder


@dataclass(frozen=True)
class Evaluation:
    """A result record and the warnings raised while validating its predictions."""

    record: ResultRecord
    warnings: tuple[str, ...]


def evaluate_predictions(
    predictions: Path,
    folder: Path | BenchmarkFolder,
    method: str,
    config: str | None = None,
    seed: int | None = None,
    name: str | None = None,
) -> Evaluation:
    """C@1, C@5 and V@1 of a predictions file on the test split of `folder`, as a result record (its training
    settings unknown: a predictions file does not say how it was trained)."""
    if not method.strip():
        raise AvnbError("the method name is empty; name the method whose predictions these are")
    bench = open_folder(folder)
    noise = bench.config(bench.require_config(config)) if config is not None else None
    loaded = load_predictions(predictions, bench)
    warnings = list(loaded.warnings)
    if config is None:
        warnings.append("no noise config given: the result is listed without one (pass --config, e.g. sym40)")
    record = ResultRecord(
        benchmark=bench.name,
        benchmark_lock_sha256=bench.lock_sha256,
        config=config,
        method=method.strip(),
        seed=seed,
        metrics=clip_video_metrics(loaded.scores, loaded.labels, loaded.unscored),
        date=utc_now(),
        code_version=code_version(),
        benchmark_family=bench.family,
        benchmark_variant=bench.variant,
        label_noise_mode=noise.label_noise.mode if noise else None,
        label_noise_rate=noise.label_noise.rate if noise else None,
        correspondence=noise.correspondence if noise else None,
        correspondence_kind=noise.correspondence_kind if noise else None,
        name=name,
        predictions=str(predictions.resolve()),
        num_classes=bench.num_classes,
    )
    return Evaluation(record, tuple(warnings))


def evaluate_run(run_dir: Path, folder: Path | None = None, name: str | None = None) -> Evaluation:
    """Evaluate a run folder's predictions on its benchmark (or on `folder`, when given); `name` tags the record with
    a display name (else the run's own, if it was given one)."""
    run = RunFolder(run_dir)
    config = run.config
    folder = folder or Path(config.benchmark_folder)
    if not folder.is_dir():
        raise AvnbError(
            f"{run_dir / CONFIG} names benchmark folder {folder}, which does not exist here (relative paths "
            f"count from the working directory); pass --benchmark FOLDER"
        )
    if not run.predictions.is_file():
        raise AvnbError(f"{run_dir} has no {PREDICTIONS}: the run did not finish; resume it with `avnb train --resume`")
    evaluation = evaluate_predictions(run.predictions, folder, config.method, config.config, config.seed)
    fields = {"name": name or config.name, "run": str(run_dir.resolve()), "diagnostics": run_diagnostics(run)}
    return Evaluation(replace(evaluation.record, **{**run_fields(config), **fields}), evaluation.warnings)


def run_fields(config: RunConfig) -> dict[str, Any]:
    """The fields of a run's result record that its config gives: how it was trained, and by which code."""
    return {
        "method_options": config.method_options,
        "variant": config.variant,
        "name": config.name,
        "model": config.model,
        "init_sha256": config.init.sha256,
        "init_source": config.init.source,
        "init_card": config.init.card,
        "epochs": config.epochs,
        "lr": config.lr,
        "batch_size": config.batch_size,
        "track": config.track,
        "threads": config.threads,
        "run_code_version": config.code_version,
    }


def run_result_key(config: RunConfig) -> tuple:
    """The key (setup and seed) of the record that evaluating a run will append, known before the run trains."""
    fields = {"metrics": {}, "date": "", "code_version": ""}
    record = ResultRecord(
        config.benchmark,
        config.benchmark_lock_sha256,
        config.config,
        config.method,
        config.seed,
        **fields,
        **run_fields(config),
    )
    return record.key()


def evaluate_path(
    target: Path,
    folder: Path | None = None,
    method: str | None = None,
    config: str | None = None,
    seed: int | None = None,
    name: str | None = None,
) -> Evaluation:
    """Evaluate a run folder, or a predictions file on benchmark `folder` under the name `method`."""
    if target.is_dir():
        given = [
            flag
            for flag, value in (("--method-name", method), ("--config", config), ("--seed", seed))
            if value is not None
        ]
        if given:
            raise AvnbError(
                f"{', '.join(given)} come(s) from {target / CONFIG} for a run folder; leave them out (tag the run's "
                f"results with --name instead)"
            )
        return evaluate_run(target, folder, name)
    if folder is None or method is None:
        raise AvnbError(
            f"evaluating the predictions file {target} needs --benchmark FOLDER and --method-name NAME "
            f"(or pass a run folder holding {CONFIG} and {PREDICTIONS})"
        )
    return evaluate_predictions(target, folder, method, config, seed, name)
