"""Per-epoch checkpoints of one modality's pretraining: plain state dicts and RNG state in a `torch.save` file that
loads with `weights_only=True`, tied to its run by a fingerprint of the data, recipe and seed."""

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from avnoisebench.errors import AvnbError
from avnoisebench.pretrain.recipe import PretrainSpec

FORMAT = 1


@dataclass
class Record:
    """How far a modality's pretraining got: epochs done, wall and CPU seconds spent, mean loss of each epoch."""

    epoch: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    losses: list[float] = field(default_factory=list)


@dataclass
class TrainState:
    """Everything a pretraining epoch changes."""

    encoder: nn.Module
    projector: nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator


def fingerprint(modality: str, array: np.ndarray, spec: PretrainSpec, seed: int) -> str:
    """What a checkpoint must match to be resumed: modality, a digest of the training array, recipe and seed."""
    digest = hashlib.blake2b(np.ascontiguousarray(array).view(np.uint8).data, digest_size=16).hexdigest()
    payload = {"modality": modality, "data": digest, "shape": list(array.shape), "spec": spec.to_dict(), "seed": seed}
    return json.dumps(payload, sort_keys=True)


def save(path: Path, run: str, record: Record, state: TrainState) -> None:
    """Write the checkpoint atomically (a temporary sibling renamed over `path`)."""
    payload = {
        "format": FORMAT,
        "fingerprint": run,
        "record": asdict(record),
        "encoder": state.encoder.state_dict(),
        "projector": state.projector.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "generator": state.generator.get_state(),
    }
    partial = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(payload, partial)
    os.replace(partial, path)


def resume(path: Path, run: str, state: TrainState) -> Record:
    """Load a checkpoint of run `run` into `state` and return its record; refuse a file of another run."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        valid = isinstance(payload, dict) and payload.get("format") == FORMAT
    except Exception as error:  # torch raises several types for truncated or foreign files
        raise AvnbError(f"{path} is not a readable pretraining checkpoint ({error}); delete it to start over") from None
    if not valid or payload.get("fingerprint") != run:
        raise AvnbError(
            f"{path} is a checkpoint of another pretraining (other data, recipe or seed); "
            "use another work folder or delete it to start over"
        )
    state.encoder.load_state_dict(payload["encoder"])
    state.projector.load_state_dict(payload["projector"])
    state.optimizer.load_state_dict(payload["optimizer"])
    state.generator.set_state(payload["generator"])
    return Record(**payload["record"])
