"""Generalized cross-entropy (Zhang and Sabuncu, NeurIPS 2018) on the fusion head: a noise-robust loss as a plug-in."""

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from avnoisebench.plugin import (
    Batch,
    Budget,
    Method,
    ModelPredictor,
    Options,
    Predictor,
    RunLog,
    TrainData,
    option,
    train_epochs,
)


def generalized_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, q: float) -> torch.Tensor:
    """Mean of (1 - p_y^q) / q: cross-entropy as q -> 0, mean absolute error at q = 1."""
    p_y = logits.softmax(dim=1).gather(1, labels[:, None]).squeeze(1)
    return ((1 - p_y.clamp_min(1e-7) ** q) / q).mean()


@dataclass(frozen=True)
class GCEOptions(Options):
    """The options of generalized cross-entropy."""

    method: ClassVar[str] = "my-method"

    q: float = option(
        0.7, "exponent q: cross-entropy as q -> 0, mean absolute error at 1", low=0, high=1, low_open=True
    )


class GeneralizedCE(Method):
    """Generalized cross-entropy (option q in (0, 1]) on the fusion logits, Adam, noisy labels as given."""

    name = "my-method"
    Options = GCEOptions
    display_name = "GCE"
    robust = True

    def fit(self, model: nn.Module, data: TrainData, budget: Budget, log: RunLog) -> Predictor:
        """Train with the harness's resumable Adam loop on the GCE loss; predict with the fusion head."""
        q = self.options.q

        def loss(model: nn.Module, batch: Batch, epoch: int) -> torch.Tensor:
            return generalized_cross_entropy(model(batch.video, batch.audio)[2], batch.label, q)

        train_epochs(model, data, budget, log, loss)
        return ModelPredictor(model)
