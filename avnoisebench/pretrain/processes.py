"""Both modalities' pretraining at once, each in its own spawned process on one torch thread, reporting progress
and results to the parent through a queue."""

import multiprocessing
from pathlib import Path

import numpy as np
import torch

from avnoisebench.errors import AvnbError
from avnoisebench.pretrain.encoders import MODALITIES
from avnoisebench.pretrain.recipe import PretrainSpec
from avnoisebench.pretrain.simclr import Result, train_modality
from avnoisebench.progress import Task


def train_in_processes(
    data: dict[str, np.ndarray], spec: PretrainSpec, seed: int, workdir: Path | None, tasks: dict[str, Task]
) -> dict[str, Result]:
    """`train_modality` for every modality in parallel child processes; one child's failure stops the other."""
    context = multiprocessing.get_context("spawn")
    events = context.Queue()
    workers = [
        context.Process(target=_worker, args=(m, data[m], spec, seed, workdir, events), daemon=True) for m in MODALITIES
    ]
    for worker in workers:
        worker.start()
    results: dict[str, Result] = {}
    try:
        while len(results) < len(workers):
            modality, kind, payload = events.get()
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
        for worker in workers:
            if worker.is_alive() and len(results) < len(workers):
                worker.terminate()
            worker.join()
    return results


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
