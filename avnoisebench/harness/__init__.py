"""The training harness: method plug-in API, training data, run folders."""

from avnoisebench.harness.data import Batch, TrainData
from avnoisebench.harness.method import Budget, Method, ModelPredictor, Predictor
from avnoisebench.harness.run import RunLog

__all__ = ["Batch", "Budget", "Method", "ModelPredictor", "Predictor", "RunLog", "TrainData"]
