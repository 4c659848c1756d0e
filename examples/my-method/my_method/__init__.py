"""Generalized cross-entropy (Zhang and Sabuncu, NeurIPS 2018) on the fusion head: a noise-robust loss as a plug-in."""

from typing import Any

import torch
from torch import nn

from avnoisebench.errors import AvnbError
from avnoisebench.harness import Batch, Budget, Method, ModelPredictor, Predictor, RunLog, TrainData
from avnoisebench.harness.loop import train_epochs


def generalized_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, q: float) -> torch.Tensor:
    """Mean of (1 - p_y^q) / q: cross-entropy as q -> 0, mean absolute error at q = 1."""
    p_y = logits.softmax(dim=1).gather(1, labels[:, None]).squeeze(1)
    return ((1 - p_y.clamp_min(1e-7) ** q) / q).mean()


class GeneralizedCE(Method):
    """Generalized cross-entropy (option q in (0, 1]) on the fusion logits, Adam, noisy labels as given."""

    name = "my-method"

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        """q = 0.7, the paper's choice."""
        return {"q": 0.7}

    def fit(self, model: nn.Module, data: TrainData, budget: Budget, log: RunLog) -> Predictor:
        """Train with the harness's resumable Adam loop on the GCE loss; predict with the fusion head."""
        q = self.options["q"]
        if isinstance(q, bool) or not isinstance(q, int | float) or not 0 < q <= 1:
            raise AvnbError(f"my-method option q={q!r} must be a number in (0, 1]; pass e.g. --option q=0.7")

        def loss(model: nn.Module, batch: Batch, epoch: int) -> torch.Tensor:
            return generalized_cross_entropy(model(batch.video, batch.audio)[2], batch.label, float(q))

        train_epochs(model, data, budget, log, loss)
        return ModelPredictor(model)
