"""The method plug-in API: a Method fits a model on noisy training data within a budget and returns a predictor."""

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import torch
from torch import nn

from avnoisebench.errors import AvnbError
from avnoisebench.harness.budget import Budget
from avnoisebench.harness.options import NoOptions, Options

if TYPE_CHECKING:
    from avnoisebench.harness.data import TrainData
    from avnoisebench.harness.runlog import RunLog


class Predictor(Protocol):
    """Maps a batch of normalised clips (B, 3, T, H, W) and log-mels (B, frames, mels), or on the features track
    feature vectors (B, Dv) and (B, Da), to logits (B, K). A predictor may also offer `summary() -> dict` of numbers
    about its test-time behaviour (e.g. AdaMML's modality usage); the harness logs them with the `predict` event."""

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
    """A training method. Subclasses set `name` (the entry-point name), `Options` (a frozen `Options` dataclass),
    optionally `display_name` (tables), `paper_name` (its row in the paper's tables), `order` (its place in tables)
    and `robust` (whether it targets label noise), and implement `fit`."""

    name: ClassVar[str]
    display_name: ClassVar[str | None] = None
    paper_name: ClassVar[str | None] = None
    order: ClassVar[int] = 1000
    robust: ClassVar[bool] = False
    Options: ClassVar[type[Options]] = NoOptions

    def __init__(self, options: Options | None = None, /, **values: Any) -> None:
        if options is not None and values:
            raise TypeError("pass an Options instance or option values, not both")
        if options is not None and not isinstance(options, self.Options):
            raise AvnbError(f"method {self.name!r} takes {self.Options.__name__}, not {type(options).__name__}")
        self.options = options if options is not None else self.Options.from_values(values, self.name)

    @classmethod
    def title(cls) -> str:
        """The name shown in tables."""
        return cls.display_name or cls.name

    @abstractmethod
    def fit(self, model: nn.Module, data: "TrainData", budget: Budget, log: "RunLog") -> Predictor:
        """Train `model` on `data` (noisy labels only) within `budget`, logging each epoch; return a predictor."""
