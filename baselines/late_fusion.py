"""Late-fusion CE: the reference method, plain cross-entropy on the fusion head with Adam."""

from torch import nn

from avnoisebench.plugin import (
    Budget,
    Method,
    ModelPredictor,
    Predictor,
    RunLog,
    TrainData,
    cross_entropy_loss,
    train_epochs,
)


class LateFusion(Method):
    """Cross-entropy on the concatenated audio-visual features (G-Blend's fusion head), noisy labels as given."""

    name = "late-fusion"
    order = 0

    def fit(self, model: nn.Module, data: TrainData, budget: Budget, log: RunLog) -> Predictor:
        train_epochs(model, data, budget, log, cross_entropy_loss)
        return ModelPredictor(model)
