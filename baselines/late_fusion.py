"""Late-fusion CE: the reference method, plain cross-entropy on the fusion head with Adam."""

from torch import nn

from avnoisebench.harness import Budget, Method, ModelPredictor, Predictor, RunLog, TrainData
from avnoisebench.harness.loop import cross_entropy_loss, train_epochs


class LateFusion(Method):
    """Cross-entropy on the concatenated audio-visual features (G-Blend's fusion head), noisy labels as given."""

    name = "late-fusion"

    def fit(self, model: nn.Module, data: TrainData, budget: Budget, log: RunLog) -> Predictor:
        train_epochs(model, data, budget, log, cross_entropy_loss)
        return ModelPredictor(model)
