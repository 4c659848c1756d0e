"""Both modalities' pretraining at once, each in its own spawned process on one torch thread, reporting progress
and results to the parent through a queue."""

import multiprocessing
import queue
from pathlib import Path

import numpy as np
import torch

from avnoisebench.errors import AvnbError
from avnoisebench.pretrain.encoders import MODALITIES
from avnoisebench.pretrain.recipe import PretrainSpec
from avnoisebench.pretrain.simclr import Result, train_modality
from avnoisebench.progress import Task

POLL_SECONDS = 1.0


def train_in_processes(
    data: dict[str, np.ndarray], spec: PretrainSpec, seed: int, workdir: Path | None, tasks: dict[str, Task]
) -> dict[str, Result]:
    """`train_modality` for every modality in parallel child processes; one child's failure stops the other."""
    context = multiprocessing.get_context("spawn")
    events = context.Queue()
    workers = {
        m: context.Process(target=_worker, args=(m, data[m], spec, seed, workdir, events), daemon=True)
        for m in MODALITIES
    }
    for worker in workers.values():
        worker.start()
    results: dict[str, Result] = {}
    try:
        while len(results) < len(workers):
            try:
                modality, kind, payload = events.get(timeout=POLL_SECONDS)
            except queue.Empty:
                _check_alive(workers, results)
                continue
            if kind == "advance":
                steps, status = payload
                tasks[modality].advance(steps, **status)
            elif kind == "done":
                state, record, standardisation = payload
                tensors = {k: torch.from_numpy(v) for k, v in state.items()}
                results[modality] = Result(tensors, record, standardisation)
            else:
                raise AvnbError(f"pretraining the {modality} encoder failed: {payload}")
    finally:
        for worker in workers.values():
            if worker.is_alive() and len(results) < len(workers):
                worker.terminate()
            worker.join()
    return results


def _check_alive(workers: dict[str, multiprocessing.process.BaseProcess], results: dict[str, Result]) -> None:
    """Raise if a worker without a result has stopped on a failure (killed, out of memory) it could not report."""
    for modality, worker in workers.items():
        if modality not in results and not worker.is_alive() and worker.exitcode != 0:
            raise AvnbError(
                f"the process pretraining the {modality} encoder stopped (exit code {worker.exitcode}); "
                "rerun with the same work folder to resume"
            )


def _worker(modality: str, array: np.ndarray, spec: PretrainSpec, seed: int, workdir: Path | None, events) -> None:
    """One modality's pretraining in a child process, every event and the result sent as plain pickles."""

    def report(steps: int = 1, **status: object) -> None:
        events.put((modality, "advance", (steps, status)))

    try:
        result = train_modality(modality, array, spec, seed, workdir, report)
    except AvnbError as error:
        events.put((modality, "error", str(error)))
        return
    except Exception as error:  # sent to the parent, which raises it as one line
        events.put((modality, "error", f"{type(error).__name__}: {error}"))
        return
    state = {k: v.numpy() for k, v in result.state.items()}
    events.put((modality, "done", (state, result.record, result.standardisation)))
