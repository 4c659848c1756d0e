"""NTL, the proposed noise-tolerant method (Han et al., "Noise-Tolerant Learning for Audio-Visual Action Recognition",
arXiv 2205.07611 v1), exactly as docs/methods.md section 2 specifies it (method card: docs/methods/ntl.md).

After a warm-up of plain CE, every epoch (Algorithm 1): estimate the cross-modal agreement omega of every training
pair from whole-set features; one contrastive epoch of the omega-weighted instance-level swapped prediction
(L_ins) plus the category-level contrastive loss through a tied autoencoder (L_cat), which trains the encoders,
both prototype sets and the autoencoder, not the fusion head; rectify the labels by k-NN voting of the observed
labels in the new feature space; one supervised epoch of the hybrid CE (1 - gamma) CE(y) + gamma CE(y_hat).
"""

import time
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from avnoisebench.errors import AvnbError
from avnoisebench.harness import Batch, Budget, Method, ModelPredictor, Predictor, RunLog, TrainData
from avnoisebench.harness.loop import average_gradients, train_pass
from avnoisebench.harness.method import unwrap
from avnoisebench.models import FusionHead
from avnoisebench.ops import knn_rectify
from avnoisebench.ops.rectify import hybrid_loss, rectification_features
from method.losses import (
    OMEGA_NORMS,
    TiedAutoencoder,
    batch_weights,
    category_loss,
    instance_loss,
    noise_estimate,
    normalise_omega,
)

ABLATIONS = ("none", "ins", "cat", "full")
GAMMA_SCHEDULES = ("ramp", "step", "constant")
KNN_FEATURES = ("concat", "fusion_hidden")
CAT_AE = ("tied", "identity")
PAPER_EPOCHS, PAPER_WARMUP, PAPER_RAMP_END = 60, 5, 20
KINETICS_SCALE_SAMPLES, UCF_K, KINETICS_K = 10_000, 16, 32
PROJECTION_DIM = 128


@dataclass(frozen=True)
class NTLSettings:
    """The method's options with every default resolved for one training set and budget."""

    ablation: str
    omega: bool
    omega_norm: str
    omega_threshold: float | None
    k: int
    k_knn: int
    knn_features: str
    tau1: float
    tau2: float
    sinkhorn_eps: float
    sinkhorn_iters: int
    hard_codes: bool
    freeze_prototypes: bool
    ae_hidden: int
    cat_ae: str
    literal_eq13_14: bool
    cat_entropy_reg: float
    proj_head: bool
    gamma_schedule: str
    gamma: float
    gamma_start: float
    gamma_end: float
    warmup_epochs: int
    gamma_ramp_end: int
    reuse_knn_features_for_omega: bool

    @property
    def contrastive(self) -> bool:
        """Whether epochs after the warm-up have a contrastive phase."""
        return self.ablation != "none"

    @property
    def uses_omega(self) -> bool:
        """Whether omega is estimated (it weighs L_ins only)."""
        return self.omega and self.ablation in ("ins", "full")

    def gamma_at(self, epoch: int) -> float:
        """gamma of epoch `epoch` (from 0): 0 in the warm-up, then the ramp from gamma_start at the warm-up's end to
        gamma_end at gamma_ramp_end, the step there, or the constant gamma."""
        if epoch < self.warmup_epochs:
            return 0.0
        if self.gamma_schedule == "constant":
            return self.gamma
        if self.gamma_schedule == "step":
            return self.gamma_start if epoch < self.gamma_ramp_end else self.gamma_end
        progress = min(1.0, (epoch - self.warmup_epochs) / max(self.gamma_ramp_end - self.warmup_epochs, 1))
        return self.gamma_start + (self.gamma_end - self.gamma_start) * progress

    @classmethod
    def parse(cls, options: dict[str, Any], epochs: int, batch_size: int, num_valid: int) -> "NTLSettings":
        """Validated settings; unset k, k_knn, ae_hidden, warmup_epochs and gamma_ramp_end get the spec's values,
        the epoch counts scaled from the paper's 60 epochs to `epochs`."""
        o = dict(options)

        def refuse(name: str, rule: str) -> AvnbError:
            return AvnbError(f"ntl option {name}={o[name]!r} {rule}")

        for name, choices in (
            ("ablation", ABLATIONS),
            ("omega", ("on", "off")),
            ("omega_norm", OMEGA_NORMS),
            ("gamma_schedule", GAMMA_SCHEDULES),
            ("knn_features", KNN_FEATURES),
            ("cat_ae", CAT_AE),
            ("paper_version", ("v1",)),
        ):
            if o[name] not in choices:
                raise refuse(name, f"must be one of {', '.join(choices)}")
        for name in ("hard_codes", "freeze_prototypes", "literal_eq13_14", "proj_head", "reuse_knn_features_for_omega"):
            if not isinstance(o[name], bool):
                raise refuse(name, "must be true or false")
        for name in ("tau1", "tau2", "sinkhorn_eps"):
            if isinstance(o[name], bool) or not isinstance(o[name], int | float) or o[name] <= 0:
                raise refuse(name, "must be a positive number")
        for name in ("gamma", "gamma_start", "gamma_end"):
            if isinstance(o[name], bool) or not isinstance(o[name], int | float) or not 0 <= o[name] <= 1:
                raise refuse(name, "must be a number in [0, 1]")
        if isinstance(o["cat_entropy_reg"], bool) or not isinstance(o["cat_entropy_reg"], int | float):
            raise refuse("cat_entropy_reg", "must be a number (0 turns the entropy term off)")
        threshold = o["omega_threshold"]
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)):
            raise refuse("omega_threshold", "must be a cosine in [-1, 1] or null (top-k neighbour sets)")
        if o["k"] is None:
            o["k"] = KINETICS_K if num_valid >= KINETICS_SCALE_SAMPLES else UCF_K
            o["k"] = max(1, min(o["k"], num_valid - 1))
        o["k_knn"] = o["k"] if o["k_knn"] is None else o["k_knn"]
        for name in ("k", "k_knn"):
            if isinstance(o[name], bool) or not isinstance(o[name], int) or not 1 <= o[name] < num_valid:
                raise refuse(name, f"must be a whole number from 1 to {num_valid - 1} (the valid samples but one)")
        o["ae_hidden"] = max(1, batch_size // 2) if o["ae_hidden"] is None else o["ae_hidden"]
        if o["warmup_epochs"] is None:
            o["warmup_epochs"] = min(max(1, round(PAPER_WARMUP * epochs / PAPER_EPOCHS)), max(epochs - 1, 0))
        if o["gamma_ramp_end"] is None:
            o["gamma_ramp_end"] = max(round(PAPER_RAMP_END * epochs / PAPER_EPOCHS), o["warmup_epochs"])
        for name in ("sinkhorn_iters", "ae_hidden", "warmup_epochs", "gamma_ramp_end"):
            least = 0 if name in ("warmup_epochs", "gamma_ramp_end") else 1
            if isinstance(o[name], bool) or not isinstance(o[name], int) or o[name] < least:
                raise refuse(name, f"must be a whole number of at least {least}")
        o["omega"] = o["omega"] == "on"
        del o["paper_version"]
        for name in ("tau1", "tau2", "sinkhorn_eps", "gamma", "gamma_start", "gamma_end", "cat_entropy_reg"):
            o[name] = float(o[name])
        return cls(**o)


class NTLModules(nn.Module):
    """What the contrastive phase trains besides the encoders: unit-norm instance prototypes C and category
    prototypes C' (K x d), the tied autoencoder over batch-size vectors, and the optional projection head."""

    def __init__(self, feature_dim: int, num_classes: int, batch_size: int, settings: NTLSettings, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        dim = PROJECTION_DIM if settings.proj_head else feature_dim
        self.instance_prototypes = nn.Parameter(F.normalize(torch.randn(num_classes, dim, generator=generator), dim=1))
        self.category_prototypes = nn.Parameter(F.normalize(torch.randn(num_classes, dim, generator=generator), dim=1))
        self.autoencoder = (
            TiedAutoencoder(batch_size, settings.ae_hidden, generator) if settings.cat_ae == "tied" else nn.Identity()
        )
        self.projection = nn.Identity()
        if settings.proj_head:
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


def contrastive_step(
    model: nn.Module, modules: NTLModules, settings: NTLSettings, omega: tuple[torch.Tensor, torch.Tensor], batch: Batch
) -> dict[str, torch.Tensor]:
    """L_c = L_ins + L_cat of a batch (or one of them, by ablation) after renormalising the prototypes; the fusion
    head's output enters with weight 0 (no gradient, yet every parameter stays in DDP's reduction)."""
    modules.renormalise_()
    f_v, f_a, logits = model(batch.video, batch.audio)
    z_v, z_a = modules.embed(f_v), modules.embed(f_a)
    values: dict[str, torch.Tensor] = {}
    loss = 0.0 * logits.sum()
    if settings.ablation in ("ins", "full"):
        weights = (batch_weights(w[batch.index].to(f_v.device), settings.omega_norm) for w in omega)
        values["l_ins"] = instance_loss(
            z_v,
            z_a,
            modules.instance_prototypes,
            *weights,
            settings.tau2,
            settings.sinkhorn_eps,
            settings.sinkhorn_iters,
            settings.hard_codes,
        )
        loss = loss + values["l_ins"]
    if settings.ablation in ("cat", "full"):
        parts = category_loss(
            z_v,
            z_a,
            modules.category_prototypes,
            modules.autoencoder,
            settings.tau1,
            settings.tau2,
            settings.literal_eq13_14,
            settings.cat_entropy_reg,
        )
        values.update(l_cat=parts["loss"], l_cat_r=parts["l_r"], l_cat_c=parts["l_c"])
        loss = loss + parts["loss"]
    return {"loss": loss, **values}


def supervised_step(
    model: nn.Module, corrected: torch.Tensor | None, gamma: float, batch: Batch
) -> dict[str, torch.Tensor]:
    """Eq. 18 on the fusion logits: (1 - gamma) CE(y) + gamma CE(y_hat); plain CE(y) without corrected labels."""
    logits = model(batch.video, batch.audio)[2]
    if corrected is None:
        return {"loss": F.cross_entropy(logits, batch.label)}
    return {"loss": hybrid_loss(logits, batch.label, corrected[batch.index].to(logits.device), gamma)}


@torch.no_grad()
def estimate_omega(
    modules: NTLModules, features: tuple[torch.Tensor, torch.Tensor], valid: torch.Tensor, settings: NTLSettings
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised (omega_v, omega_a) of every sample in index order (0 where media is missing), on the CPU."""
    was_training = modules.training
    modules.eval()
    z_v, z_a = (modules.embed(f[valid.to(f.device)]) for f in features)
    modules.train(was_training)
    raw = noise_estimate(z_v, z_a, settings.k, settings.tau1, settings.omega_threshold)
    omega = (torch.zeros(len(valid)), torch.zeros(len(valid)))
    for full, part in zip(omega, raw, strict=True):
        full[valid] = normalise_omega(part, settings.omega_norm).cpu()
    return omega


@torch.no_grad()
def corrected_labels(
    model: nn.Module, features: tuple[torch.Tensor, torch.Tensor], data: TrainData, settings: NTLSettings
) -> torch.Tensor:
    """y_hat (eq. 17): the majority of the observed labels of each sample's k_knn nearest other samples in
    [z_v; z_a] / sqrt(2) (or the fusion head's last hidden layer), ties to the own label or the most similar
    class; samples without media keep their label."""
    valid = data.valid
    f_v, f_a = (f[valid.to(f.device)] for f in features)
    if settings.knn_features == "concat":
        points = rectification_features(f_v, f_a)
    else:
        head = unwrap(model).head
        if not isinstance(head, FusionHead):
            raise AvnbError("ntl option knn_features=fusion_hidden needs the shared FusionHead (fc1, fc2, out)")
        points = torch.relu(head.fc2(torch.relu(head.fc1(torch.cat([f_v, f_a], dim=1)))))
    corrected = data.labels.clone()
    corrected[valid] = knn_rectify(points.cpu(), data.labels[valid], settings.k_knn, data.num_classes)
    return corrected


class NTL(Method):
    """NTL (Han et al. 2022): omega-weighted cross-modal swapped prediction and category-level contrast between
    supervised epochs on a mix of noisy and k-NN-corrected labels."""

    name = "ntl"

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        """The spec's hyperparameters (docs/methods.md 2.10) and its ablation and reading flags; null values are
        resolved from the data and budget (see docs/methods/ntl.md)."""
        return {
            "ablation": "full",
            "omega": "on",
            "omega_norm": "clip",
            "omega_threshold": None,
            "k": None,
            "k_knn": None,
            "knn_features": "concat",
            "tau1": 1.0,
            "tau2": 0.1,
            "sinkhorn_eps": 0.05,
            "sinkhorn_iters": 3,
            "hard_codes": False,
            "freeze_prototypes": False,
            "ae_hidden": None,
            "cat_ae": "tied",
            "literal_eq13_14": False,
            "cat_entropy_reg": 0.0,
            "proj_head": False,
            "gamma_schedule": "ramp",
            "gamma": 0.8,
            "gamma_start": 0.6,
            "gamma_end": 0.8,
            "warmup_epochs": None,
            "gamma_ramp_end": None,
            "reuse_knn_features_for_omega": False,
            "paper_version": "v1",
        }

    def fit(self, model: nn.Module, data: TrainData, budget: Budget, log: RunLog) -> Predictor:
        """Warm-up CE, then per epoch omega, a contrastive epoch, k-NN correction and a hybrid supervised epoch."""
        num_valid = int(data.valid.sum())
        settings = NTLSettings.parse(self.options, budget.epochs, budget.batch_size, num_valid)
        if settings.contrastive and num_valid // data.world_size < budget.batch_size:
            raise AvnbError(
                f"ntl's contrastive phase needs full batches of {budget.batch_size} (the tied autoencoder's input "
                f"size), but each process has {num_valid // data.world_size} samples; lower the batch size"
            )
        inner = unwrap(model)
        modules = NTLModules(inner.feature_dim, data.num_classes, budget.batch_size, settings, budget.seed)
        modules.to(budget.device)
        supervised = torch.optim.Adam(model.parameters(), lr=budget.lr)
        encoders = [*inner.video_encoder.parameters(), *inner.audio_encoder.parameters()]
        contrastive = torch.optim.Adam([*encoders, *modules.parameters()], lr=budget.lr)
        start, next_omega = 0, None
        state = log.load_checkpoint()
        if state is None:
            log.event("ntl_settings", paper_version="v1", **asdict(settings))
        else:
            inner.load_state_dict(state["model"])
            modules.load_state_dict(state["modules"])
            supervised.load_state_dict(state["supervised_optimizer"])
            contrastive.load_state_dict(state["contrastive_optimizer"])
            torch.set_rng_state(state["torch_rng"])
            start, next_omega = state["epoch"] + 1, state["next_omega"]
        for epoch in range(start, budget.epochs):
            metrics, corrected = {}, None
            if epoch >= settings.warmup_epochs:
                if settings.contrastive:
                    omega = self._omega(model, modules, data, settings, log, epoch, next_omega, metrics)
                    metrics.update(self._contrastive(model, modules, data, settings, contrastive, epoch, omega))
                started = time.perf_counter()
                features = data.extract_features(inner)
                corrected = corrected_labels(model, features, data, settings)
                if settings.uses_omega and settings.reuse_knn_features_for_omega:
                    next_omega = estimate_omega(modules, features, data.valid, settings)
                metrics["knn_s"] = round(time.perf_counter() - started, 3)
                log.corrected_labels(epoch, corrected)
            gamma = settings.gamma_at(epoch)
            started = time.perf_counter()
            losses = train_pass(model, data, epoch, [supervised], partial(supervised_step, model, corrected, gamma))
            metrics.update(losses, gamma=gamma, supervised_s=round(time.perf_counter() - started, 3))
            log.epoch(epoch, **metrics)
            log.save_checkpoint(
                {
                    "epoch": epoch,
                    "model": inner.state_dict(),
                    "modules": modules.state_dict(),
                    "supervised_optimizer": supervised.state_dict(),
                    "contrastive_optimizer": contrastive.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "next_omega": next_omega,
                }
            )
        return ModelPredictor(model)

    @staticmethod
    def _omega(
        model: nn.Module,
        modules: NTLModules,
        data: TrainData,
        settings: NTLSettings,
        log: RunLog,
        epoch: int,
        reused: tuple[torch.Tensor, torch.Tensor] | None,
        metrics: dict[str, Any],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pass A: this epoch's omega (ones with omega=off or unused), logged with its diagnostics."""
        if not settings.uses_omega:
            return torch.ones(data.num_samples), torch.ones(data.num_samples)
        started = time.perf_counter()
        omega = reused or estimate_omega(modules, data.extract_features(unwrap(model)), data.valid, settings)
        metrics["omega_s"] = round(time.perf_counter() - started, 3)
        for name, scores in (("omega_v", omega[0]), ("omega_a", omega[1]), ("omega", (omega[0] + omega[1]) / 2)):
            log.sample_scores(epoch, name, scores)
        return omega

    @staticmethod
    def _contrastive(
        model: nn.Module,
        modules: NTLModules,
        data: TrainData,
        settings: NTLSettings,
        optimizer: torch.optim.Optimizer,
        epoch: int,
        omega: tuple[torch.Tensor, torch.Tensor],
    ) -> dict[str, float]:
        """One contrastive epoch over full batches; with freeze_prototypes, C stays fixed in the first one."""
        frozen = settings.freeze_prototypes and epoch == settings.warmup_epochs

        def after_backward() -> None:
            average_gradients(modules)
            if frozen:
                modules.instance_prototypes.grad = None

        started = time.perf_counter()
        step = partial(contrastive_step, model, modules, settings, omega)
        values = train_pass(model, data, epoch, [optimizer], step, after_backward, drop_last=True)
        values = {f"contrastive_{name}": value for name, value in values.items()}
        return {**values, "contrastive_s": round(time.perf_counter() - started, 3)}
