"""The shared training budget a method gets: epochs, batch size, learning rate, device, seed."""

import math
from dataclasses import dataclass

from avnoisebench.errors import AvnbError


@dataclass(frozen=True)
class Budget:
    """The shared training budget: epochs, batch size, learning rate, device, seed (paper defaults), checked."""

    epochs: int = 60
    batch_size: int = 64
    lr: float = 5e-5
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "epochs": isinstance(self.epochs, int) and self.epochs >= 1,
            "batch_size": isinstance(self.batch_size, int) and self.batch_size >= 1,
            "lr": isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr > 0,
            "seed": isinstance(self.seed, int) and self.seed >= 0,
        }
        rules = {
            "epochs": "a whole number of at least 1",
            "batch_size": "a whole number of at least 1",
            "lr": "a positive finite number",
            "seed": "a whole number of at least 0",
        }
        for name, ok in checks.items():
            value = getattr(self, name)
            if not ok or isinstance(value, bool):
                flag = name.replace("_", "-")
                raise AvnbError(f"--{flag} {value!r} must be {rules[name]}")
