"""The public plug-in API: everything a training method needs, in one import.

A method is a package that subclasses `Method`, declares its `Options`, and registers one entry point in the group
`avnoisebench.methods` (docs/new-method.md). Baselines and the paper's method use exactly this module, as a
third-party method would.
"""

from avnoisebench.errors import AvnbError
from avnoisebench.harness.budget import Budget
from avnoisebench.harness.data import Batch, TrainData
from avnoisebench.harness.loop import (
    adam,
    average_gradients,
    cross_entropy_loss,
    sum_over_processes,
    train_epochs,
    train_pass,
)
from avnoisebench.harness.method import Method, ModelPredictor, Predictor, unwrap
from avnoisebench.harness.options import Options, option
from avnoisebench.harness.runlog import RunLog
from avnoisebench.models import FusionHead
from avnoisebench.models.small import SmallAudioEncoder, SmallVideoEncoder
from avnoisebench.ops import knn_rectify, sinkhorn, top_k_neighbours
from avnoisebench.ops.rectify import hybrid_loss, rectification_features

__all__ = [
    "AvnbError",
    "Batch",
    "Budget",
    "FusionHead",
    "Method",
    "ModelPredictor",
    "Options",
    "Predictor",
    "RunLog",
    "SmallAudioEncoder",
    "SmallVideoEncoder",
    "TrainData",
    "adam",
    "average_gradients",
    "cross_entropy_loss",
    "hybrid_loss",
    "knn_rectify",
    "option",
    "rectification_features",
    "sinkhorn",
    "sum_over_processes",
    "top_k_neighbours",
    "train_epochs",
    "train_pass",
    "unwrap",
]
