"""The method plug-in API: a Method fits a model on noisy training data within a budget and returns a predictor."""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import torch
from torch import nn

if TYPE_CHECKING:
    from avnoisebench.harness.data import TrainData
    from avnoisebench.harness.run import RunLog


@dataclass(frozen=True)
class Budget:
    """The shared training budget: epochs, batch size, learning rate, device, seed (paper defaults)."""

    epochs: int = 60
    batch_size: int = 64
    lr: float = 5e-5
    device: str = "cpu"
    seed: int = 0


class Predictor(Protocol):
    """Maps a batch of normalised clips (B, 3, T, H, W) and log-mels (B, frames, mels) to logits (B, K)."""

    def __call__(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor: ...


def unwrap(model: nn.Module) -> nn.Module:
    """The AVModel inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


class ModelPredictor:
    """The fusion logits of an AVModel in eval mode, without gradients (a DDP wrapper is taken off, so that
    prediction on one process needs no collective calls)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = unwrap(model)

    @torch.no_grad()
    def __call__(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        self.model.eval()
        return self.model(video, audio)[2]


class Method(ABC):
    """A training method. Subclasses set `name`, take their options as keyword arguments, and implement fit."""

    name: ClassVar[str]

    def __init__(self, **options: Any) -> None:
        unknown = set(options) - set(self.default_options())
        if unknown:
            from avnoisebench.errors import AvnbError

            raise AvnbError(
                f"method {self.name!r} has no option(s) {', '.join(sorted(unknown))}; "
                f"its options are {', '.join(sorted(self.default_options())) or 'none'}"
            )
        self.options = {**self.default_options(), **options}

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        """Method-specific options and their defaults."""
        return {}

    @abstractmethod
    def fit(self, model: nn.Module, data: "TrainData", budget: Budget, log: "RunLog") -> Predictor:
        """Train `model` on `data` (noisy labels only) within `budget`, logging each epoch; return a predictor."""
