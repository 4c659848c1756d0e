"""XDC* : cross-modal deep clustering (Alwassel et al., "Self-Supervised Learning by Cross-Modal Audio-Video
Clustering", NeurIPS 2020) followed by k-NN label rectification and supervised training, as the noise-tolerant paper
(Han et al., arXiv 2205.07611 v1) defines its XDC* baseline; spec: docs/methods.md section 4.

Chosen readings (methods.md 4.4-4.5): XDC is re-run on the training split with its labels hidden, from the model the
harness gives (the shared initialisation), for the first `xdc_fraction` of the epoch budget; each clustering round
(every `recluster_every` epochs, DeepCluster's once per epoch by default) extracts both modalities' features,
PCA-whitens and L2-normalises them (DeepCluster's preprocessing), runs seeded k-means per modality, and trains the
video encoder to predict the *audio* cluster ids and the audio encoder to predict the *video* cluster ids through fresh
linear heads. Labels are then rectified once by k-NN voting with the observed (noisy) labels on [z_v; z_a] / sqrt(2),
and the fusion model is trained with CE on the rectified labels for the rest of the budget (`hybrid_gamma` < 1 or
"schedule" mixes in CE on the noisy labels as in the paper's eq. 18, an ablation).
"""

import math
import time
import warnings
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any, ClassVar, Literal, Self

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import normalized_mutual_info_score
from threadpoolctl import threadpool_limits
from torch import nn

from avnoisebench.plugin import (
    AvnbError,
    Batch,
    Budget,
    Method,
    ModelPredictor,
    Options,
    Predictor,
    RunLog,
    TrainData,
    adam,
    average_gradients,
    hybrid_loss,
    knn_rectify,
    option,
    rectification_features,
    train_pass,
    unwrap,
)

KMEANS_VIDEO, KMEANS_AUDIO, HEADS = 0, 1, 2
GAMMA_START, GAMMA_END, GAMMA_RAMP_EPOCHS = 0.6, 0.8, 15
RELATIVE_VARIANCE_FLOOR = 1e-6


def stream(seed: int, *keys: int) -> torch.Generator:
    """A CPU generator seeded from the run seed and a tuple of stream keys (purpose, round)."""
    state = np.random.SeedSequence([seed, *keys]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def pca_whiten(features: torch.Tensor, dim: int) -> torch.Tensor:
    """Features projected on their top `dim` principal components (those with non-negligible variance), whitened and
    L2-normalised, as DeepCluster prepares features for k-means; `dim` 0 only L2-normalises."""
    x = features.double()
    if dim:
        centred = x - x.mean(dim=0)
        variance, vectors = torch.linalg.eigh(centred.t() @ centred / max(len(x) - 1, 1))
        variance, vectors = variance.flip(0), vectors.flip(1)
        keep = max(1, min(dim, int((variance > RELATIVE_VARIANCE_FLOOR * variance[0]).sum())))
        x = centred @ vectors[:, :keep] / (variance[:keep].clamp_min(0) + 1e-12).sqrt()
    return F.normalize(x, dim=1).float()


@dataclass(frozen=True)
class KMeansResult:
    """Cluster id of every point and the centroids of one k-means."""

    labels: torch.Tensor
    centroids: torch.Tensor


def stream_seed(seed: int, *keys: int) -> int:
    """An integer seed (for scikit-learn) from the run seed and a tuple of stream keys (purpose, round)."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1, dtype=np.uint32)[0])


def kmeans(points: torch.Tensor, k: int, seed: int, iterations: int = 20) -> KMeansResult:
    """scikit-learn's k-means (Lloyd, k-means++ seeding, one initialisation, at most `iterations` steps, empty clusters
    relocated to far points), seeded, on as many threads as torch uses."""
    points = points.float().cpu()
    if not 1 <= k <= len(points):
        raise ValueError(f"k-means with k = {k} on {len(points)} points")
    fitted = KMeans(k, init="k-means++", n_init=1, max_iter=iterations, random_state=seed, algorithm="lloyd")
    with threadpool_limits(limits=torch.get_num_threads()), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct points than k: some clusters stay empty
        labels = fitted.fit_predict(points.numpy())
    return KMeansResult(torch.from_numpy(labels.astype(np.int64)), torch.from_numpy(fitted.cluster_centers_))


def normalized_mutual_information(a: torch.Tensor, b: torch.Tensor) -> float:
    """NMI (arithmetic-mean normalisation, scikit-learn's) of two labelings of the same points."""
    return float(normalized_mutual_info_score(a.numpy(), b.numpy()))


@dataclass(frozen=True)
class Targets:
    """Per-sample pseudo-labels of one round (-1 where a sample has no media) and their CE weights: the video head
    learns the audio cluster ids, the audio head the video cluster ids."""

    video: torch.Tensor
    audio: torch.Tensor
    video_weight: torch.Tensor
    audio_weight: torch.Tensor


def balance_weights(labels: torch.Tensor, k: int, balance: bool) -> torch.Tensor:
    """Per-sample CE weights that make every cluster count equally (the expectation of DeepCluster's uniform sampling
    over pseudo-classes), or ones."""
    if not balance:
        return torch.ones(len(labels))
    valid = labels >= 0
    counts = torch.bincount(labels[valid], minlength=k).float()
    weights = torch.zeros(len(labels))
    weights[valid] = int(valid.sum()) / (k * counts[labels[valid]])
    return weights


def cross_modal_targets(
    f_v: torch.Tensor,
    f_a: torch.Tensor,
    valid: torch.Tensor,
    k: int,
    seeds: tuple[int, int],
    pca_dim: int = 256,
    iterations: int = 20,
    balance: bool = True,
) -> tuple[Targets, KMeansResult, KMeansResult]:
    """One clustering round over the valid samples: k-means of the audio features gives the video head's targets,
    k-means of the video features the audio head's; returns the targets and the (video, audio) k-means results."""
    video_seed, audio_seed = seeds
    video = kmeans(pca_whiten(f_v[valid].cpu(), pca_dim), k, video_seed, iterations)
    audio = kmeans(pca_whiten(f_a[valid].cpu(), pca_dim), k, audio_seed, iterations)
    video_targets = torch.full((len(valid),), -1, dtype=torch.long)
    audio_targets = torch.full((len(valid),), -1, dtype=torch.long)
    video_targets[valid], audio_targets[valid] = audio.labels, video.labels
    targets = Targets(
        video_targets,
        audio_targets,
        balance_weights(video_targets, k, balance),
        balance_weights(audio_targets, k, balance),
    )
    return targets, video, audio


def fresh_heads(dim: int, k: int, generator: torch.Generator, device: str = "cpu") -> nn.ModuleDict:
    """New linear heads `video` and `audio` (dim -> k), drawn like nn.Linear's default init from `generator`."""
    heads = nn.ModuleDict({"video": nn.Linear(dim, k, device="meta"), "audio": nn.Linear(dim, k, device="meta")})
    heads = heads.to_empty(device="cpu")
    bound = 1 / math.sqrt(dim)
    with torch.no_grad():
        for parameter in heads.parameters():
            parameter.uniform_(-bound, bound, generator=generator)
    return heads.to(device)


def _weighted_ce(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return (F.cross_entropy(logits, targets, reduction="none") * weights).mean()


def xdc_loss(model: nn.Module, heads: nn.ModuleDict, batch: Batch, targets: Targets) -> dict[str, torch.Tensor]:
    """CE(g_v(f_v), audio cluster id) + CE(g_a(f_a), video cluster id) of a batch, and its two parts."""
    f_v, f_a, logits = model(batch.video, batch.audio)
    device = f_v.device
    loss_video = _weighted_ce(
        heads["video"](f_v), targets.video[batch.index].to(device), targets.video_weight[batch.index].to(device)
    )
    loss_audio = _weighted_ce(
        heads["audio"](f_a), targets.audio[batch.index].to(device), targets.audio_weight[batch.index].to(device)
    )
    # The fusion head is not trained here; its zero-weighted output keeps every parameter in DDP's reduction.
    return {"loss": loss_video + loss_audio + 0.0 * logits.sum(), "loss_video": loss_video, "loss_audio": loss_audio}


def rectify_labels(model: nn.Module, data: TrainData, k: int) -> torch.Tensor:
    """Labels by k-NN majority vote of the observed (noisy) labels in the model's [z_v; z_a] space (samples without
    media keep their label)."""
    f_v, f_a = data.extract_features(unwrap(model))
    valid = data.valid
    rectified = data.labels.clone()
    features = rectification_features(f_v[valid].cpu(), f_a[valid].cpu())
    rectified[valid] = knn_rectify(features, data.labels[valid], k, data.num_classes)
    return rectified


def supervised_loss(model: nn.Module, rectified: torch.Tensor, gamma: float, batch: Batch) -> dict[str, torch.Tensor]:
    """The supervised phase's loss of a batch: eq. 18 on the fusion logits with the rectified labels."""
    logits = model(batch.video, batch.audio)[2]
    return {"loss": hybrid_loss(logits, batch.label, rectified[batch.index].to(logits.device), gamma)}


def xdc_epoch_count(epochs: int, fraction: float) -> int:
    """Epochs of the clustering phase: round(fraction x epochs), leaving at least one supervised epoch."""
    return max(0, min(round(fraction * epochs), epochs - 1))


@dataclass(frozen=True)
class XDCOptions(Options):
    """XDC*'s budget split, clustering and rectification settings (docs/methods.md 4.4); `clusters` K or 2K is
    resolved against the number of classes."""

    method: ClassVar[str] = "xdc"

    xdc_fraction: float = option(
        1 / 3, "share of the epochs spent clustering (the rest is supervised)", low=0, high=1, high_open=True
    )
    clusters: int | Literal["K", "2K"] = option(
        64, "k of k-means: a number from 2 to the valid samples, or K / 2K (the number of classes, twice it)", low=2
    )
    recluster_every: int = option(1, "epochs per clustering round (DeepCluster: 1)", low=1)
    kmeans_iterations: int = option(20, "at most this many Lloyd assignment steps per k-means", low=1)
    pca_dim: int = option(256, "PCA-whitening dimensions before k-means (0: only L2-normalise)", low=0)
    cluster_balance: Literal["weight", "none"] = option(
        "weight", "weight: every cluster counts equally in the CE (DeepCluster's uniform sampling); none: plain CE"
    )
    knn_k: int = option(16, "neighbours voting in the k-NN label rectification (at most the valid samples - 1)", low=1)
    hybrid_gamma: float | Literal["schedule"] = option(
        1.0, "weight of the rectified labels in eq. 18 (1: CE on them only), or schedule (0.6 -> 0.8)", low=0, high=1
    )

    def resolve(self, data: TrainData, budget: Budget) -> Self:
        """`clusters` as a number (K, 2K: multiples of the classes), checked with knn_k against the valid samples."""
        num_valid = int(data.valid.sum())
        clusters = self.clusters
        if clusters in ("K", "2K"):
            clusters = data.num_classes * (2 if clusters == "2K" else 1)
        if not 2 <= clusters <= num_valid:
            raise AvnbError(f"xdc: clusters={self.clusters!r} must be K, 2K or a number from 2 to {num_valid}")
        if not self.knn_k < num_valid:
            raise AvnbError(f"xdc: knn_k={self.knn_k!r} must be a number from 1 to {num_valid - 1}")
        return replace(self, clusters=clusters)

    def gamma(self, supervised_epoch: int) -> float:
        """The weight of the rectified labels in the supervised phase's `supervised_epoch`-th epoch (from 0)."""
        if self.hybrid_gamma != "schedule":
            return float(self.hybrid_gamma)
        return GAMMA_START + (GAMMA_END - GAMMA_START) * min(1.0, supervised_epoch / GAMMA_RAMP_EPOCHS)


class XDC(Method):
    """XDC*: cross-modal k-means pseudo-labelling of the encoders, then k-NN label rectification and CE (Alwassel et al.
    2020; Han et al. 2022)."""

    name = "xdc"
    Options = XDCOptions
    paper_name = "XDC*"
    order = 30
    robust = True

    def fit(self, model: nn.Module, data: TrainData, budget: Budget, log: RunLog) -> Predictor:
        """Cluster phase for the first part of the budget, rectify the labels once, CE on them for the rest."""
        o = self.options.resolve(data, budget)
        xdc_epochs = xdc_epoch_count(budget.epochs, o.xdc_fraction)
        inner = unwrap(model)
        encoders = [*inner.video_encoder.parameters(), *inner.audio_encoder.parameters()]
        heads = fresh_heads(inner.feature_dim, o.clusters, stream(budget.seed, HEADS, 0), budget.device)
        modules = {"model": model, "heads": heads}
        optimizers = {
            "optimizer": adam(encoders, budget.lr),
            "head_optimizer": adam(heads.parameters(), budget.lr),
            "supervised_optimizer": adam(model.parameters(), budget.lr),
        }
        state: dict[str, Any] = {"targets": None, "rectified": None}
        start = log.resume(modules, optimizers, state)
        if start == 0:
            log.event("xdc_budget", xdc_epochs=xdc_epochs, supervised_epochs=budget.epochs - xdc_epochs)
        targets = None if state["targets"] is None else Targets(**state["targets"])
        for epoch in range(start, xdc_epochs):
            round_, fresh = divmod(epoch, o.recluster_every)
            metrics: dict[str, float] = {}
            if fresh == 0:
                targets, metrics = self._cluster(model, data, o, budget.seed, round_)
                heads = fresh_heads(inner.feature_dim, o.clusters, stream(budget.seed, HEADS, round_), budget.device)
                modules["heads"] = heads
                optimizers["head_optimizer"] = adam(heads.parameters(), budget.lr)
            losses = train_pass(
                model,
                data,
                epoch,
                [optimizers["optimizer"], optimizers["head_optimizer"]],
                partial(xdc_loss, model, heads, targets=targets),
                partial(average_gradients, heads),
            )
            log.epoch(epoch, phase="clustering", **losses, **metrics)
            log.checkpoint(epoch, modules, optimizers, {"targets": asdict(targets), "rectified": None})
        rectified = state["rectified"]
        if rectified is None:
            rectified = self._rectify(model, data, o, log, max(start, xdc_epochs))
        for epoch in range(max(start, xdc_epochs), budget.epochs):
            gamma = o.gamma(epoch - xdc_epochs)
            step = partial(supervised_loss, model, rectified, gamma)
            losses = train_pass(model, data, epoch, [optimizers["supervised_optimizer"]], step)
            log.epoch(epoch, phase="supervised", **losses, **({} if o.hybrid_gamma == 1.0 else {"gamma": gamma}))
            log.checkpoint(epoch, modules, optimizers, {"targets": None, "rectified": rectified})
        return ModelPredictor(model)

    @staticmethod
    def _cluster(
        model: nn.Module, data: TrainData, options: XDCOptions, seed: int, round_: int
    ) -> tuple[Targets, dict[str, float]]:
        """One clustering round: features, k-means per modality, cross-modal targets and what the round looked like."""
        started = time.perf_counter()
        f_v, f_a = data.extract_features(unwrap(model))
        extracted = time.perf_counter()
        seeds = (stream_seed(seed, KMEANS_VIDEO, round_), stream_seed(seed, KMEANS_AUDIO, round_))
        targets, video, audio = cross_modal_targets(
            f_v,
            f_a,
            data.valid,
            options.clusters,
            seeds,
            options.pca_dim,
            options.kmeans_iterations,
            options.cluster_balance == "weight",
        )
        metrics = {
            "round": round_,
            "extract_s": round(extracted - started, 3),
            "kmeans_s": round(time.perf_counter() - extracted, 3),
            "smallest_cluster": int(min(torch.bincount(r.labels).min() for r in (video, audio))),
            "cluster_nmi_av": round(normalized_mutual_information(video.labels, audio.labels), 4),
        }
        return targets, metrics

    @staticmethod
    def _rectify(model: nn.Module, data: TrainData, options: XDCOptions, log: RunLog, epoch: int) -> torch.Tensor:
        """The labels rectified once after the clustering phase, logged as the `rectify` event and, against the hidden
        truth, as `corrected_labels` at the first supervised epoch."""
        started = time.perf_counter()
        rectified = rectify_labels(model, data, options.knn_k)
        log.corrected_labels(epoch, rectified)
        changed = float((rectified != data.labels)[data.valid].float().mean())
        log.event(
            "rectify",
            knn_k=options.knn_k,
            changed=round(changed, 4),
            seconds=round(time.perf_counter() - started, 3),
        )
        return rectified
