"""Pretrained weights from a local file into a module: restricted unpickling and one clear error for a wrong file."""

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from avnoisebench.errors import AvnbError

_SHOWN = 3


def _numpy_globals() -> list:
    """Numpy arrays, scalars and non-object dtypes, under both module spellings (numpy 1 and 2 pickles)."""
    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    spelled = [
        (function, f"{module}.{function.__name__}")
        for function in (multiarray._reconstruct, multiarray.scalar)
        for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    ]
    dtypes = {type(np.dtype(code)) for code in np.typecodes["All"] if code not in "OV"}
    return [np.ndarray, np.dtype, *sorted(dtypes, key=str), *spelled]


def _reason(error: Exception) -> str:
    """A one-line reason from torch.load's error."""
    text = str(error)
    unsafe = re.search(r"Unsupported global: GLOBAL (\S+)|but got <class '([^']+)'>", text)
    if unsafe:
        found = unsafe.group(1) or unsafe.group(2)
        return f"it holds Python objects besides tensors and arrays ({found}), which are not loaded for safety"
    lines = text.strip().splitlines()
    return (lines[0] if lines else type(error).__name__)[:200]


def read_checkpoint(path: str | Path, expected: str) -> object:
    """The object saved in a local PyTorch file, loaded with weights_only=True (tensors, containers, numpy arrays)."""
    path = Path(path)
    if not path.is_file():
        raise AvnbError(f"{path}: no such file; expected {expected}")
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise AvnbError(f"{path}: not a readable PyTorch weights file: {_reason(error)}; expected {expected}") from None


def _listed(keys: list[str]) -> str:
    """Up to a few keys and how many more."""
    more = f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
    return ", ".join(keys[:_SHOWN]) + more


def load_matching(
    module: nn.Module, state: object, *, source: str | Path, expected: str, ignore: tuple[str, ...]
) -> None:
    """Load a state dict into `module` after checking keys and shapes, leaving entries under `ignore` prefixes alone."""
    if not isinstance(state, Mapping) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        holds = (
            f"a dict of {_listed([str(key) for key in state])}" if isinstance(state, Mapping) else type(state).__name__
        )
        raise AvnbError(f"{source}: not a state dict of tensors (it holds {holds}); expected {expected}")
    wanted = {key: value for key, value in module.state_dict().items() if not key.startswith(ignore)}
    given = {key: value for key, value in state.items() if not key.startswith(ignore)}
    missing = [key for key in wanted if key not in given and not key.endswith("num_batches_tracked")]
    unexpected = [key for key in given if key not in wanted]
    mismatched = [
        f"{key} {tuple(given[key].shape)} vs {tuple(wanted[key].shape)}"
        for key in wanted
        if key in given and given[key].shape != wanted[key].shape
    ]
    problems = [
        f"{label} {_listed(keys)}"
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched))
        if keys
    ]
    if problems:
        raise AvnbError(f"{source} does not fit {type(module).__name__}: {'; '.join(problems)}; expected {expected}")
    module.load_state_dict(given, strict=False)
