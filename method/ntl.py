"""NTL, the proposed noise-tolerant method (Han et al., "Noise-Tolerant Learning for Audio-Visual Action Recognition",
arXiv 2205.07611 v1), exactly as docs/methods.md section 2 specifies it (method card: docs/methods/ntl.md).

After a warm-up of plain CE, every epoch (Algorithm 1): estimate the cross-modal agreement omega of every training
pair from whole-set features; one contrastive epoch of the omega-weighted instance-level swapped prediction
(L_ins) plus the category-level contrastive loss through a tied autoencoder (L_cat), which trains the encoders,
both prototype sets and the autoencoder, not the fusion head; rectify the labels by k-NN voting of the observed
labels in the new feature space; one supervised epoch of the hybrid CE (1 - gamma) CE(y) + gamma CE(y_hat).
"""

import time
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, ClassVar, Literal, Self

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from avnoisebench.plugin import (
    AvnbError,
    Batch,
    Budget,
    FusionHead,
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
from method.losses import (
    OmegaNorm,
    TiedAutoencoder,
    batch_weights,
    category_loss,
    instance_loss,
    noise_estimate,
    normalise_omega,
)

PAPER_EPOCHS, PAPER_WARMUP, PAPER_RAMP_END = 60, 5, 20
KINETICS_SCALE_SAMPLES, UCF_K, KINETICS_K = 10_000, 16, 32
PROJECTION_DIM = 128
ACCELERATOR_BLOCK_BATCHES = 4

Features = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class NTLOptions(Options):
    """NTL's hyperparameters (docs/methods.md 2.10), its ablations and the flags of the spec's readings (2.11); the
    None defaults are resolved from the training set and the budget (`resolve`)."""

    method: ClassVar[str] = "ntl"

    ablation: Literal["none", "ins", "cat", "full"] = option(
        "full", "contrastive losses: none (no contrastive phase), ins (L_ins only), cat (L_cat only), full (both)"
    )
    omega: Literal["on", "off"] = option("on", "cross-modal noise estimate omega weighting L_ins; off: every weight 1")
    omega_norm: OmegaNorm = option(
        "clip", "omega to a weight: clip to [0, 1], affine (1 + omega) / 2, batch_mean (clip, / batch mean), none"
    )
    omega_threshold: float | None = option(
        None,
        "threshold mode of eqs. 2-3: only top-k neighbours above this cosine count; none: top-k sets",
        low=-1,
        high=1,
    )
    k: int | None = option(
        None, "neighbours for omega; none: 16, or 32 from 10 000 valid samples on (at most N - 1)", low=1
    )
    k_knn: int | None = option(None, "neighbours for the k-NN label correction; none: k", low=1)
    knn_features: Literal["concat", "fusion_hidden"] = option(
        "concat", "features the correction votes in: [z_v; z_a] / sqrt(2), or the fusion head's last hidden layer"
    )
    tau1: float = option(1.0, "temperature of the similarity S = cos / tau1 (omega, L_cat)", low=0, low_open=True)
    tau2: float = option(0.1, "temperature of the prototype softmax (L_ins, L_cat)", low=0, low_open=True)
    sinkhorn_eps: float = option(0.05, "Sinkhorn entropic regularisation eps (SwAV)", low=0, low_open=True)
    sinkhorn_iters: int = option(3, "Sinkhorn iterations (SwAV)", low=1)
    hard_codes: bool = option(False, "one-hot argmax of the Sinkhorn codes (SeLa-style) instead of soft codes")
    freeze_prototypes: bool = option(False, "keep the instance prototypes fixed in the first contrastive epoch (SwAV)")
    ae_hidden: int | None = option(None, "hidden width of the tied autoencoder; none: batch size / 2", low=1)
    cat_ae: Literal["tied", "identity"] = option("tied", "category autoencoder: tied weights, or identity (ablation)")
    literal_eq13_14: bool = option(False, "keep the printed denominators of eqs. 13-14 (same-category and self terms)")
    cat_entropy_reg: float = option(0.0, "weight of Contrastive Clustering's log K - H(marginal) term (0: off)")
    proj_head: bool = option(False, "SwAV-like projection head d -> d -> 128 for the contrastive losses and omega")
    gamma_schedule: Literal["ramp", "step", "constant"] = option(
        "ramp", "gamma after the warm-up: ramp gamma_start -> gamma_end, step at gamma_ramp_end, or constant gamma"
    )
    gamma: float = option(0.8, "weight of the corrected labels with gamma_schedule=constant", low=0, high=1)
    gamma_start: float = option(0.6, "gamma right after the warm-up (ramp, step)", low=0, high=1)
    gamma_end: float = option(0.8, "gamma from gamma_ramp_end on (ramp, step)", low=0, high=1)
    warmup_epochs: int | None = option(
        None, "epochs of plain CE first; none: round(5 x epochs / 60), at least 1, below the epochs", low=0
    )
    gamma_ramp_end: int | None = option(
        None, "epoch where gamma reaches gamma_end; none: round(20 x epochs / 60), at least the warm-up", low=0
    )
    reuse_knn_features_for_omega: bool = option(
        False, "deviation: next epoch's omega from the k-NN pass's features (one feature pass less, stale omega)"
    )
    feature_source: Literal["extract", "training_pass"] = option(
        "extract",
        "whole-set features for omega and the correction: extract (the spec: a fixed-view eval pass each) or "
        "training_pass (deviation: those the last training pass computed, no extra pass)",
    )
    paper_version: Literal["v1"] = option("v1", "the paper version implemented (later versions changed the method)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.reuse_knn_features_for_omega and self.feature_source == "training_pass":
            raise AvnbError(
                "ntl option reuse_knn_features_for_omega=true applies to feature_source=extract; with "
                "feature_source=training_pass no feature pass is left to save"
            )

    @property
    def contrastive(self) -> bool:
        """Whether epochs after the warm-up have a contrastive phase."""
        return self.ablation != "none"

    @property
    def uses_omega(self) -> bool:
        """Whether omega is estimated (it weighs L_ins only)."""
        return self.omega == "on" and self.ablation in ("ins", "full")

    def resolve(self, data: TrainData, budget: Budget) -> Self:
        """k and k_knn against the valid samples, ae_hidden from the batch size, the warm-up and ramp end scaled from
        the paper's 60 epochs to the budget."""
        num_valid = int(data.valid.sum())
        k = self.k
        if k is None:
            k = max(1, min(KINETICS_K if num_valid >= KINETICS_SCALE_SAMPLES else UCF_K, num_valid - 1))
        k_knn = k if self.k_knn is None else self.k_knn
        for name, value in (("k", k), ("k_knn", k_knn)):
            if not 1 <= value < num_valid:
                raise AvnbError(
                    f"ntl option {name}={value!r} must be a whole number from 1 to {num_valid - 1} (the valid "
                    "samples but one)"
                )
        epochs = budget.epochs
        warmup = self.warmup_epochs
        if warmup is None:
            warmup = min(max(1, round(PAPER_WARMUP * epochs / PAPER_EPOCHS)), max(epochs - 1, 0))
        ramp_end = self.gamma_ramp_end
        if ramp_end is None:
            ramp_end = max(round(PAPER_RAMP_END * epochs / PAPER_EPOCHS), warmup)
        ae_hidden = max(1, budget.batch_size // 2) if self.ae_hidden is None else self.ae_hidden
        return replace(self, k=k, k_knn=k_knn, ae_hidden=ae_hidden, warmup_epochs=warmup, gamma_ramp_end=ramp_end)

    def gamma_at(self, epoch: float) -> float:
        """gamma of epoch `epoch` (from 0) of resolved options: 0 in the warm-up, then the ramp from gamma_start at
        the warm-up's end to gamma_end at gamma_ramp_end, the step there, or the constant gamma."""
        if epoch < self.warmup_epochs:
            return 0.0
        if self.gamma_schedule == "constant":
            return self.gamma
        if self.gamma_schedule == "step":
            return self.gamma_start if epoch < self.gamma_ramp_end else self.gamma_end
        progress = min(1.0, (epoch - self.warmup_epochs) / max(self.gamma_ramp_end - self.warmup_epochs, 1))
        return self.gamma_start + (self.gamma_end - self.gamma_start) * progress


class NTLModules(nn.Module):
    """What the contrastive phase trains besides the encoders: unit-norm instance prototypes C and category
    prototypes C' (K x d), the tied autoencoder over batch-size vectors, and the optional projection head."""

    def __init__(self, feature_dim: int, num_classes: int, batch_size: int, options: NTLOptions, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        dim = PROJECTION_DIM if options.proj_head else feature_dim
        self.instance_prototypes = nn.Parameter(F.normalize(torch.randn(num_classes, dim, generator=generator), dim=1))
        self.category_prototypes = nn.Parameter(F.normalize(torch.randn(num_classes, dim, generator=generator), dim=1))
        self.autoencoder = (
            TiedAutoencoder(batch_size, options.ae_hidden, generator) if options.cat_ae == "tied" else nn.Identity()
        )
        self.projection = nn.Identity()
        if options.proj_head:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
                self.projection = nn.Sequential(
                    nn.Linear(feature_dim, feature_dim),
                    nn.BatchNorm1d(feature_dim),
                    nn.ReLU(inplace=True),
                    nn.Linear(feature_dim, PROJECTION_DIM),
                )

    def embed(self, f: torch.Tensor) -> torch.Tensor:
        """Unit-norm points z of (projected) encoder features."""
        return F.normalize(self.projection(f), dim=1)

    @torch.no_grad()
    def renormalise_(self) -> None:
        """Put both prototype sets back on the unit sphere (before every step, Algorithm 1 lines 6 and 8)."""
        for prototypes in (self.instance_prototypes, self.category_prototypes):
            prototypes.copy_(F.normalize(prototypes, dim=1))


def extract(model: nn.Module, data: TrainData) -> Features:
    """(f_v, f_a) of every sample from the fixed view (no gradients, eval mode), in blocks of one batch on the CPU,
    where small tiles stay in cache (the `small` encoders take 13 % less time than in blocks of 256), and of four
    batches on an accelerator."""
    on_cpu = torch.device(data.device).type == "cpu"
    return data.extract_features(unwrap(model), data.batch_size * (1 if on_cpu else ACCELERATOR_BLOCK_BATCHES))


class PassFeatures:
    """The `feature_source=training_pass` deviation: the latest (f_v, f_a) each sample had in a training pass (train
    mode, that epoch's view, detached), gathered over the processes after each pass; filled once by a whole-set
    extraction when a sample has none yet."""

    def __init__(self) -> None:
        self.f_v: torch.Tensor | None = None
        self.f_a: torch.Tensor | None = None
        self.filled: torch.Tensor | None = None
        self.fresh: torch.Tensor | None = None

    def _allocate(self, num_samples: int, dim: int, device: torch.device) -> None:
        self.f_v, self.f_a = (torch.zeros(num_samples, dim, device=device) for _ in range(2))
        self.filled = torch.zeros(num_samples, dtype=torch.bool, device=device)
        self.fresh = torch.zeros(num_samples, dtype=torch.bool, device=device)

    def record(self, num_samples: int, index: torch.Tensor, f_v: torch.Tensor, f_a: torch.Tensor) -> None:
        """Keep a batch's features (rows `index` of `num_samples`)."""
        if self.f_v is None:
            self._allocate(num_samples, f_v.shape[1], f_v.device)
        index = index.to(f_v.device)
        self.f_v[index], self.f_a[index] = f_v.detach(), f_a.detach()
        self.fresh[index] = True

    def end_pass(self) -> None:
        """Share this pass's rows with every process (each row was computed by one process) and mark them filled."""
        if self.f_v is None:
            return
        if dist.is_initialized():
            fresh = self.fresh.float()
            dist.all_reduce(fresh)
            for features in (self.f_v, self.f_a):
                part = features * self.fresh[:, None]
                dist.all_reduce(part)
                features.copy_(torch.where(fresh[:, None] > 0, part, features))
            self.fresh = fresh > 0
        self.filled |= self.fresh
        self.fresh.zero_()

    def features(self, model: nn.Module, data: TrainData) -> Features:
        """Every sample's latest features; a whole-set extraction first while a valid sample has none."""
        if self.f_v is None or not bool(self.filled[data.valid.to(self.filled.device)].all()):
            f_v, f_a = extract(model, data)
            self._allocate(len(f_v), f_v.shape[1], f_v.device)
            self.f_v, self.f_a = f_v, f_a
            self.filled[data.valid.to(f_v.device)] = True
        return self.f_v, self.f_a

    def state(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """The features as checkpoint state."""
        return None if self.f_v is None else (self.f_v.cpu(), self.f_a.cpu(), self.filled.cpu())

    def load(self, state: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None, device: str) -> None:
        """Restore `state()`."""
        if state is not None:
            f_v, f_a, filled = state
            self._allocate(len(f_v), f_v.shape[1], torch.device(device))
            self.f_v.copy_(f_v)
            self.f_a.copy_(f_a)
            self.filled.copy_(filled)


def contrastive_step(
    model: nn.Module,
    modules: NTLModules,
    options: NTLOptions,
    omega: Features,
    batch: Batch,
    kept: PassFeatures | None = None,
    num_samples: int = 0,
) -> dict[str, torch.Tensor]:
    """L_c = L_ins + L_cat of a batch (or one of them, by ablation) after renormalising the prototypes; the fusion
    head's output enters with weight 0 (no gradient, yet every parameter stays in DDP's reduction). `kept` keeps the
    batch's features (of `num_samples`)."""
    modules.renormalise_()
    f_v, f_a, logits = model(batch.video, batch.audio)
    if kept is not None:
        kept.record(num_samples, batch.index, f_v, f_a)
    z_v, z_a = modules.embed(f_v), modules.embed(f_a)
    values: dict[str, torch.Tensor] = {}
    loss = 0.0 * logits.sum()
    if options.ablation in ("ins", "full"):
        weights = (batch_weights(w[batch.index].to(f_v.device), options.omega_norm) for w in omega)
        values["l_ins"] = instance_loss(
            z_v,
            z_a,
            modules.instance_prototypes,
            *weights,
            options.tau2,
            options.sinkhorn_eps,
            options.sinkhorn_iters,
            options.hard_codes,
        )
        loss = loss + values["l_ins"]
    if options.ablation in ("cat", "full"):
        parts = category_loss(
            z_v,
            z_a,
            modules.category_prototypes,
            modules.autoencoder,
            options.tau1,
            options.tau2,
            options.literal_eq13_14,
            options.cat_entropy_reg,
        )
        values.update(l_cat=parts["loss"], l_cat_r=parts["l_r"], l_cat_c=parts["l_c"])
        loss = loss + parts["loss"]
    return {"loss": loss, **values}


def supervised_step(
    model: nn.Module,
    corrected: torch.Tensor | None,
    gamma: float,
    batch: Batch,
    kept: PassFeatures | None = None,
    num_samples: int = 0,
) -> dict[str, torch.Tensor]:
    """Eq. 18 on the fusion logits: (1 - gamma) CE(y) + gamma CE(y_hat); plain CE(y) without corrected labels.
    `kept` keeps the batch's features (of `num_samples`)."""
    f_v, f_a, logits = model(batch.video, batch.audio)
    if kept is not None:
        kept.record(num_samples, batch.index, f_v, f_a)
    if corrected is None:
        return {"loss": F.cross_entropy(logits, batch.label)}
    return {"loss": hybrid_loss(logits, batch.label, corrected[batch.index].to(logits.device), gamma)}


@torch.no_grad()
def estimate_omega(modules: NTLModules, features: Features, valid: torch.Tensor, options: NTLOptions) -> Features:
    """Normalised (omega_v, omega_a) of every sample in index order (0 where media is missing), on the CPU."""
    was_training = modules.training
    modules.eval()
    z_v, z_a = (modules.embed(f[valid.to(f.device)]) for f in features)
    modules.train(was_training)
    raw = noise_estimate(z_v, z_a, options.k, options.tau1, options.omega_threshold)
    omega = (torch.zeros(len(valid)), torch.zeros(len(valid)))
    for full, part in zip(omega, raw, strict=True):
        full[valid] = normalise_omega(part, options.omega_norm).cpu()
    return omega


@torch.no_grad()
def corrected_labels(model: nn.Module, features: Features, data: TrainData, options: NTLOptions) -> torch.Tensor:
    """y_hat (eq. 17): the majority of the observed labels of each sample's k_knn nearest other samples in
    [z_v; z_a] / sqrt(2) (or the fusion head's last hidden layer), ties to the own label or the most similar
    class; samples without media keep their label."""
    valid = data.valid
    f_v, f_a = (f[valid.to(f.device)] for f in features)
    if options.knn_features == "concat":
        points = rectification_features(f_v, f_a)
    else:
        head = unwrap(model).head
        if not isinstance(head, FusionHead):
            raise AvnbError("ntl option knn_features=fusion_hidden needs the shared FusionHead (fc1, fc2, out)")
        points = torch.relu(head.fc2(torch.relu(head.fc1(torch.cat([f_v, f_a], dim=1)))))
    corrected = data.labels.clone()
    corrected[valid] = knn_rectify(points.cpu(), data.labels[valid], options.k_knn, data.num_classes)
    return corrected


class NTL(Method):
    """NTL (Han et al. 2022): omega-weighted cross-modal swapped prediction and category-level contrast between
    supervised epochs on a mix of noisy and k-NN-corrected labels."""

    name = "ntl"
    Options = NTLOptions
    paper_name = "Ours"
    order = 100
    robust = True

    def fit(self, model: nn.Module, data: TrainData, budget: Budget, log: RunLog) -> Predictor:
        """Warm-up CE, then per epoch omega, a contrastive epoch, k-NN correction and a hybrid supervised epoch."""
        o = self.options.resolve(data, budget)
        num_valid = int(data.valid.sum())
        if o.contrastive and num_valid // data.world_size < budget.batch_size:
            raise AvnbError(
                f"ntl's contrastive phase needs full batches of {budget.batch_size} (the tied autoencoder's input "
                f"size), but each process has {num_valid // data.world_size} samples; lower the batch size"
            )
        inner = unwrap(model)
        modules = NTLModules(inner.feature_dim, data.num_classes, budget.batch_size, o, budget.seed)
        modules.to(budget.device)
        supervised = adam(model.parameters(), budget.lr)
        encoders = [*inner.video_encoder.parameters(), *inner.audio_encoder.parameters()]
        contrastive = adam([*encoders, *modules.parameters()], budget.lr)
        kept = PassFeatures() if o.feature_source == "training_pass" else None
        extra: dict[str, Any] = {"next_omega": None, "pass_features": None}
        start = log.resume(
            {"model": model, "modules": modules}, {"supervised": supervised, "contrastive": contrastive}, extra
        )
        if start == 0:
            log.event("ntl_settings", **o.as_dict())
        if kept is not None:
            kept.load(extra["pass_features"], budget.device)
        next_omega = extra["next_omega"]
        for epoch in range(start, budget.epochs):
            metrics: dict[str, Any] = {"phase": "warm-up" if epoch < o.warmup_epochs else "contrastive+hybrid"}
            corrected = None
            if epoch >= o.warmup_epochs:
                if o.contrastive:
                    omega = self._omega(model, modules, data, o, log, epoch, next_omega or kept, metrics)
                    metrics.update(self._contrastive(model, modules, data, o, contrastive, epoch, omega, kept))
                started = time.perf_counter()
                features = kept.features(model, data) if kept else extract(model, data)
                corrected = corrected_labels(model, features, data, o)
                if o.uses_omega and o.reuse_knn_features_for_omega:
                    next_omega = estimate_omega(modules, features, data.valid, o)
                metrics["knn_s"] = round(time.perf_counter() - started, 3)
                log.corrected_labels(epoch, corrected)
            gamma = o.gamma_at(epoch)
            started = time.perf_counter()
            step = partial(supervised_step, model, corrected, gamma, kept=kept, num_samples=data.num_samples)
            losses = train_pass(model, data, epoch, [supervised], step)
            if kept is not None:
                kept.end_pass()
            metrics.update(losses, gamma=gamma, supervised_s=round(time.perf_counter() - started, 3))
            log.epoch(epoch, **metrics)
            log.checkpoint(
                epoch,
                {"model": model, "modules": modules},
                {"supervised": supervised, "contrastive": contrastive},
                {"next_omega": next_omega, "pass_features": kept.state() if kept else None},
            )
        return ModelPredictor(model)

    @staticmethod
    def _omega(
        model: nn.Module,
        modules: NTLModules,
        data: TrainData,
        options: NTLOptions,
        log: RunLog,
        epoch: int,
        source: Features | PassFeatures | None,
        metrics: dict[str, Any],
    ) -> Features:
        """Pass A: this epoch's omega (ones with omega=off or unused), from reused omega, the last training pass's
        features, or a fresh extraction; logged with its diagnostics."""
        if not options.uses_omega:
            return torch.ones(data.num_samples), torch.ones(data.num_samples)
        started = time.perf_counter()
        if isinstance(source, tuple):
            omega = source
        else:
            features = source.features(model, data) if source else extract(model, data)
            omega = estimate_omega(modules, features, data.valid, options)
        metrics["omega_s"] = round(time.perf_counter() - started, 3)
        for name, scores in (("omega_v", omega[0]), ("omega_a", omega[1]), ("omega", (omega[0] + omega[1]) / 2)):
            log.sample_scores(epoch, name, scores)
        return omega

    @staticmethod
    def _contrastive(
        model: nn.Module,
        modules: NTLModules,
        data: TrainData,
        options: NTLOptions,
        optimizer: torch.optim.Optimizer,
        epoch: int,
        omega: Features,
        kept: PassFeatures | None,
    ) -> dict[str, float]:
        """One contrastive epoch over full batches; with freeze_prototypes, C stays fixed in the first one."""
        frozen = options.freeze_prototypes and epoch == options.warmup_epochs

        def after_backward() -> None:
            average_gradients(modules)
            if frozen:
                modules.instance_prototypes.grad = None

        started = time.perf_counter()
        step = partial(contrastive_step, model, modules, options, omega, kept=kept, num_samples=data.num_samples)
        values = train_pass(model, data, epoch, [optimizer], step, after_backward, drop_last=True)
        if kept is not None:
            kept.end_pass()
        values = {f"contrastive_{name}": value for name, value in values.items()}
        return {**values, "contrastive_s": round(time.perf_counter() - started, 3)}
