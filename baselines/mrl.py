"""MRL (Hu, Peng, Zhu, Zhen, Lin, "Learning Cross-Modal Retrieval with Noisy Labels", CVPR 2021) as an
audio-visual classifier (docs/methods.md section 7).

Both modalities are mapped onto one unit sphere and classified by a shared set of trained unit-norm class centres
with the robust clustering (RC) loss log(1 - p_y) per modality, plus the label-free multimodal contrastive (MC) loss
that pulls the two modalities of a clip together: L = beta * L_rc + (1 - beta) * L_mc.

Chosen readings (section 7.4): the encoders are fine-tuned (MRL froze its backbones); one observed label per clip
is shared by both modalities; the sphere is the L2-normalised encoder feature (option `projection` adds a linear
layer per modality first, as MRL's own networks end in one); beta 0.7, tau1 = tau2 = 1; the optimiser is the
shared budget's Adam (not MRL's betas (0.5, 0.999) and cosine schedule); centres are renormalised before every
step, as in MRL's code, and once more after training. Prediction averages the two modalities' softmax over the
centres; option `fusion_head` also trains the shared fusion head with the RC loss and predicts with it. The whole
budget is one phase: every epoch optimises the joint loss.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from avnoisebench.plugin import (
    Batch,
    Budget,
    Method,
    Options,
    Predictor,
    RunLog,
    TrainData,
    average_gradients,
    option,
    train_epochs,
    unwrap,
)


def rc_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Robust clustering loss: the batch mean of log(1 - softmax(logits)_target), the log non-target mass."""
    is_target = F.one_hot(target, logits.shape[1]).bool()
    others = torch.logsumexp(logits.masked_fill(is_target, float("-inf")), dim=1)
    return (others - torch.logsumexp(logits, dim=1)).mean()


def mc_loss(embeddings: Sequence[torch.Tensor], tau: float = 1.0) -> torch.Tensor:
    """Multimodal contrastive loss over M modalities' (B, L) unit embeddings: -log of the similarity mass each
    embedding puts on the other modalities of its own instance among all other B*M - 1 embeddings (self excluded),
    counted in both directions of the similarity matrix as MRL's code does (equal, the matrix being symmetric)."""
    stacked = torch.cat(list(embeddings))
    instance = torch.arange(embeddings[0].shape[0], device=stacked.device).repeat(len(embeddings))
    is_self = torch.eye(len(stacked), dtype=torch.bool, device=stacked.device)
    similarity = (stacked @ stacked.t() / tau).masked_fill(is_self, float("-inf"))
    is_positive = (instance[:, None] == instance[None, :]) & ~is_self
    positives = torch.logsumexp(similarity.masked_fill(~is_positive, float("-inf")), dim=1)
    return -2 * (positives - torch.logsumexp(similarity, dim=1)).mean()


def orthogonal_centres(dim: int, num_classes: int, generator: torch.Generator) -> torch.Tensor:
    """(dim, num_classes) class centres with unit columns, orthogonal when num_classes <= dim."""
    centres = nn.init.orthogonal_(torch.empty(dim, num_classes), generator=generator)
    return F.normalize(centres, dim=0)


class ClassCentres(nn.Module):
    """MRL's shared class centres over the unit-normalised (optionally linearly projected) video and audio features;
    calling it on unit embeddings (B, dim) gives the centre logits c_k . z / tau1."""

    def __init__(self, dim: int, num_classes: int, tau1: float, projection: bool, generator: torch.Generator) -> None:
        super().__init__()
        self.centres = nn.Parameter(orthogonal_centres(dim, num_classes, generator))
        self.tau1 = tau1
        self.projections = nn.ModuleList(nn.Linear(dim, dim) if projection else nn.Identity() for _ in range(2))

    def embed(self, f_v: torch.Tensor, f_a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The video and audio features as points of the common unit sphere."""
        z_v, z_a = (F.normalize(p(f), dim=1) for p, f in zip(self.projections, (f_v, f_a), strict=True))
        return z_v, z_a

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(B, K) centre logits of (B, dim) unit embeddings."""
        return z @ self.centres / self.tau1

    def bounded(self, logits: torch.Tensor) -> torch.Tensor:
        """The fusion head's logits read as a point of the unit sphere in R^K scored against the K one-hot centres
        (L2-normalised, divided by tau1): RC needs bounded logits, being unbounded below otherwise."""
        return F.normalize(logits, dim=1) / self.tau1

    @torch.no_grad()
    def renormalise_(self) -> None:
        """Put every centre back on the unit sphere."""
        self.centres.div_(self.centres.norm(dim=0, keepdim=True))


class MRLLoss:
    """The per-batch MRL objective on a ModuleDict {"model": AVModel (maybe DDP-wrapped), "centres": ClassCentres}:
    beta * (RC video + RC audio [+ RC fusion head]) + (1 - beta) * MC."""

    def __init__(self, beta: float, tau2: float, fusion_head: bool) -> None:
        self.beta, self.tau2, self.fusion_head = beta, tau2, fusion_head

    def __call__(self, modules: nn.ModuleDict, batch: Batch, epoch: int) -> torch.Tensor:
        """The loss of one batch, after putting the centres back on the unit sphere."""
        centres = modules["centres"]
        centres.renormalise_()
        f_v, f_a, logits = modules["model"](batch.video, batch.audio)
        z_v, z_a = centres.embed(f_v, f_a)
        rc = rc_loss(centres(z_v), batch.label) + rc_loss(centres(z_a), batch.label)
        # An unused head would stall DistributedDataParallel's gradient reduction, so it enters with weight 0.
        rc = rc + (rc_loss(centres.bounded(logits), batch.label) if self.fusion_head else 0.0 * logits.sum())
        return self.beta * rc + (1 - self.beta) * mc_loss((z_v, z_a), self.tau2)


class MRLPredictor:
    """Log of the mean of the video and audio softmax over the class centres (MRL's native prediction), or with
    `fusion_head` the fusion head's bounded logits as trained."""

    def __init__(self, model: nn.Module, centres: ClassCentres, fusion_head: bool) -> None:
        self.model, self.centres, self.fusion_head = unwrap(model), centres, fusion_head

    @torch.no_grad()
    def __call__(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """(B, K) logits."""
        self.model.eval()
        f_v, f_a, logits = self.model(video, audio)
        if self.fusion_head:
            return self.centres.bounded(logits)
        log_probs = torch.stack([F.log_softmax(self.centres(z), dim=1) for z in self.centres.embed(f_v, f_a)])
        return torch.logsumexp(log_probs, dim=0) - math.log(len(log_probs))


@dataclass(frozen=True)
class MRLOptions(Options):
    """MRL's loss weights and temperatures (docs/methods.md 7.4) and its two adaptation flags."""

    method: ClassVar[str] = "mrl"

    beta: float = option(0.7, "weight of the RC loss; the MC loss gets 1 - beta", low=0, high=1)
    tau1: float = option(1.0, "temperature of the RC softmax over the class centres", low=0, low_open=True)
    tau2: float = option(1.0, "temperature of the MC contrastive softmax", low=0, low_open=True)
    projection: bool = option(False, "a linear layer per modality before normalising onto the sphere")
    fusion_head: bool = option(False, "also train the shared fusion head with RC and predict with it")


class MRL(Method):
    """MRL (CVPR 2021): shared unit-norm class centres, robust clustering loss and multimodal contrastive loss."""

    name = "mrl"
    Options = MRLOptions
    paper_name = "MRL"
    order = 20
    robust = True

    def fit(self, model: nn.Module, data: TrainData, budget: Budget, log: RunLog) -> Predictor:
        """Train encoders and centres (and the head with fusion_head) jointly for budget.epochs; predict."""
        o = self.options
        generator = torch.Generator().manual_seed(budget.seed)
        centres = ClassCentres(unwrap(model).feature_dim, data.num_classes, o.tau1, o.projection, generator)
        centres.to(budget.device)
        loss = MRLLoss(o.beta, o.tau2, o.fusion_head)
        modules = nn.ModuleDict({"model": model, "centres": centres})
        train_epochs(modules, data, budget, log, loss, partial(average_gradients, centres))
        centres.renormalise_()
        return MRLPredictor(model, centres, o.fusion_head)
