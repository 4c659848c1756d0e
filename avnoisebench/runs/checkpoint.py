"""Checkpoints that load with `torch.load(weights_only=True)`: only tensors and plain values (numbers, strings, None,
lists, tuples, dicts) are saved, and the random states that matter (Python, NumPy, torch CPU, CUDA when used) are
stored in those forms."""

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avnoisebench.errors import AvnbError

PLAIN = (bool, int, float, str, type(None))


def check_plain(value: Any, where: str = "checkpoint") -> None:
    """Refuse any value that `torch.load(weights_only=True)` would not load back (a programming error)."""
    if isinstance(value, (torch.Tensor, *PLAIN)):
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str | int):
                raise TypeError(f"{where} has a key {key!r} of type {type(key).__name__}; use str or int keys")
            check_plain(item, f"{where}[{key!r}]")
        return
    raise TypeError(f"{where} is a {type(value).__name__}; checkpoints hold only tensors and plain values")


def random_states() -> dict[str, Any]:
    """Python's, NumPy's global, torch's CPU and (when initialised) CUDA random states, in plain forms."""
    version, internal, gauss = random.getstate()
    legacy = np.random.get_state(legacy=False)
    states: dict[str, Any] = {
        "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "key": torch.from_numpy(legacy["state"]["key"].astype(np.int64)),
            "pos": int(legacy["state"]["pos"]),
            "has_gauss": int(legacy["has_gauss"]),
            "gauss": float(legacy["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_random_states(states: Mapping[str, Any]) -> None:
    """Put back the random states saved by `random_states`."""
    python = states["python"]
    random.setstate((python["version"], tuple(int(v) for v in python["internal"].tolist()), python["gauss"]))
    numpy = states["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": numpy["key"].numpy().astype(np.uint32), "pos": numpy["pos"]},
            "has_gauss": numpy["has_gauss"],
            "gauss": numpy["gauss"],
        }
    )
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(path: Path, state: Mapping[str, Any]) -> None:
    """Write `state` (checked to be plain) to a temporary sibling, then rename it over `path`."""
    check_plain(state)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(dict(state), tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by `save_checkpoint`, loaded with weights_only=True (no code runs from the file)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for unreadable or unsafe files
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise AvnbError(
            f"{path} cannot be loaded safely ({reason}); it is not a checkpoint avnb wrote: delete it (or start the "
            f"run over with --overwrite)"
        ) from None
    if not isinstance(state, dict):
        raise AvnbError(f"{path} holds a {type(state).__name__}, not a checkpoint; delete it or use --overwrite")
    return state
