"""G-Blend (Wang, Tran, Feiszli, "What Makes Training Multi-Modal Classification Networks Hard?", CVPR 2020): late
fusion with a linear head on each modality's feature besides the fusion head, trained on the weighted sum of the three
cross-entropies, the weights chosen from each branch's overfitting-to-generalisation ratio (docs/methods.md section 3).

Readings taken (the spec's, with its alternatives as options):
- A seeded `holdout` fraction (8 %) of the valid training samples is V; it carries noisy labels like the rest and is
  never trained on (`train_on_holdout=true` adds it back after an offline estimate). T' is a seeded subset of the
  training part T as large as V.
- GBEstimate copies each branch (video encoder + its head, audio encoder + its head, the whole AV model) from the
  current checkpoint, trains the copies with their own CE and a fresh Adam on T for n epochs, and measures the mean
  CE (`metric=accuracy`: the error rate) on T' and V, in eval mode on the fixed view, before and after.
- Weights: w_k proportional to dG_k / dO_k^2 with dG = L^V_N - L^V_{N+n}, dO = O_{N+n} - O_N, O = L^V - L^T'
  (`estimator=multibench`: G = L^V_{N+n}, O = O_{N+n}), normalised to sum 1. Guard rails: G <= 0 gives weight 0,
  O below `epsilon` is clamped to it (and logged), all weights zero falls back to naive AV (0, 0, 1)
  (`fallback=equal`: 1/3 each).
- Offline (default): one estimate from the initial model with n = `estimate_epochs`, then `budget.epochs` epochs of
  blended training. Online: super-epochs of `first_super_epoch` then `super_epoch` epochs, each preceded by an
  estimate from the current checkpoint over the super-epoch's length. Estimation epochs are overhead on top of the
  budget (the spec: 3 x n extra branch-epochs, reported), logged as `gblend-estimate` events.
- Prediction uses the fusion head only. Deviation (documented in docs/methods/gblend.md): after blended training the
  fusion head is fine-tuned for `refit_epochs` epochs with CE on the frozen encoders' features of the training part,
  as MultiBench's G-Blend does; without it a blend that gives the fusion branch weight 0 (its dG <= 0, common under
  label noise) leaves the predicting head untrained. `refit_epochs=0` is the spec taken literally."""

import copy
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from avnoisebench.plugin import (
    AvnbError,
    Budget,
    Method,
    ModelPredictor,
    Options,
    Predictor,
    RunLog,
    TrainData,
    adam,
    option,
    sum_over_processes,
    unwrap,
)
from baselines.unimodal import Unimodal, synced

BRANCHES = ("video", "audio", "av")


@dataclass(frozen=True)
class GBlendOptions(Options):
    """G-Blend's schedule, estimator and guard rails (docs/methods.md 3.4)."""

    method: ClassVar[str] = "gblend"

    mode: Literal["offline", "online"] = option(
        "offline", "offline: one estimate from the initial model; online: one per super-epoch"
    )
    holdout: float = option(
        0.08, "fraction of the valid training samples held out as V", low=0, high=1, low_open=True, high_open=True
    )
    estimate_epochs: int = option(10, "epochs n each branch copy trains per offline estimate", low=1)
    first_super_epoch: int = option(10, "online: epochs of the first super-epoch (the warm-up)", low=1)
    super_epoch: int = option(5, "online: epochs of every later super-epoch", low=1)
    estimator: Literal["delta", "multibench"] = option(
        "delta", "G and O: the paper's deltas between N and N+n, or MultiBench's values at N+n"
    )
    metric: Literal["loss", "accuracy"] = option("loss", "what G and O measure: mean CE, or the error rate")
    epsilon: float = option(1e-4, "overfitting O below this is clamped to it (and logged)", low=0, low_open=True)
    fallback: Literal["av", "equal"] = option("av", "weights when every branch gets 0: naive AV (0, 0, 1) or 1/3 each")
    train_on_holdout: bool = option(False, "offline: train the blend on V too once the estimate is made")
    refit_epochs: int = option(
        25, "epochs fine-tuning the fusion head on frozen features after training (0: the spec literally)", low=0
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.train_on_holdout and self.mode == "online":
            raise AvnbError("gblend train_on_holdout=true needs mode=offline: online estimates need an untrained V")


@dataclass(frozen=True)
class Measure:
    """A branch's loss (or error) on the training probe T' and on the held-out part V at one checkpoint."""

    train: float
    valid: float

    @property
    def overfitting(self) -> float:
        """O = L^V - L^T'."""
        return self.valid - self.train


@dataclass(frozen=True)
class BlendWeights:
    """The normalised branch weights and how they came about (which overfitting values were clamped, fallback)."""

    weights: dict[str, float]
    clamped: tuple[str, ...] = ()
    fallback: bool = False


def generalisation_and_overfitting(before: Measure, after: Measure, estimator: str = "delta") -> tuple[float, float]:
    """(G, O) of one branch between checkpoints N and N+n: the paper's deltas, or MultiBench's end values."""
    if estimator == "multibench":
        return after.valid, after.overfitting
    return before.valid - after.valid, after.overfitting - before.overfitting


def blend_weights(
    gains: dict[str, float], overfits: dict[str, float], epsilon: float = 1e-4, fallback: str = "av"
) -> BlendWeights:
    """Weights proportional to G / O^2 normalised to sum 1, with the spec's guard rails (G <= 0 -> 0, O clamped
    below at `epsilon`, all zero -> naive AV or equal weights)."""
    raw, clamped = {}, []
    for branch in gains:
        overfit = overfits[branch]
        if overfit < epsilon:
            clamped.append(branch)
            overfit = epsilon
        raw[branch] = gains[branch] / overfit**2 if gains[branch] > 0 else 0.0
    total = sum(raw.values())
    if total > 0:
        return BlendWeights({k: v / total for k, v in raw.items()}, tuple(clamped))
    naive = {k: 1.0 / len(raw) for k in raw} if fallback == "equal" else {k: float(k == "av") for k in raw}
    return BlendWeights(naive, tuple(clamped), fallback=True)


def blended_loss(
    logits: dict[str, torch.Tensor], labels: torch.Tensor, weights: dict[str, float]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """sum_k w_k CE(logits_k, y) and the per-branch CEs."""
    parts = {k: nn.functional.cross_entropy(logits[k], labels) for k in BRANCHES}
    return sum(weights[k] * parts[k] for k in BRANCHES), parts


def seeded_rng(seed: int, purpose: str) -> np.random.Generator:
    """A generator for `purpose` that no epoch permutation (seeded by [seed, epoch]) shares."""
    return np.random.default_rng([seed, *purpose.encode()])


def holdout_split(valid: torch.Tensor, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of the valid sample indices into the training part T and the held-out part V (`fraction`)."""
    indices = np.flatnonzero(valid.numpy())
    size = round(fraction * len(indices))
    if not 0 < size < len(indices):
        raise AvnbError(
            f"G-Blend hold-out {fraction} of {len(indices)} usable training samples leaves no held-out or no "
            "training sample; use a holdout fraction in (0, 1) that gives both at least one"
        )
    order = seeded_rng(seed, "gblend-holdout").permutation(indices)
    return np.sort(order[size:]), np.sort(order[:size])


def restricted(data: TrainData, keep: np.ndarray) -> TrainData:
    """The same training data with only the samples `keep` usable (batches never yield the others)."""
    view = copy.copy(data)
    mask = torch.zeros_like(data.valid)
    mask[torch.from_numpy(keep)] = True
    view.valid = data.valid & mask
    return view


class UnimodalHeads(nn.Module):
    """G-Blend's per-modality linear heads: f_v -> K and f_a -> K logits."""

    def __init__(self, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.video = nn.Linear(feature_dim, num_classes)
        self.audio = nn.Linear(feature_dim, num_classes)

    def forward(self, f_v: torch.Tensor, f_a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(video logits, audio logits)."""
        return self.video(f_v), self.audio(f_a)


class FusionLogits(nn.Module):
    """The fusion logits of an AV model: the naive AV branch."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """(B, K) fusion logits."""
        return self.model(video, audio)[2]


def branch_copies(net: nn.Module, heads: UnimodalHeads) -> dict[str, nn.Module]:
    """Independent copies of the three branches at the current checkpoint, each mapping (video, audio) -> logits."""
    return {
        "video": Unimodal(copy.deepcopy(net.video_encoder), copy.deepcopy(heads.video), "video"),
        "audio": Unimodal(copy.deepcopy(net.audio_encoder), copy.deepcopy(heads.audio), "audio"),
        "av": FusionLogits(copy.deepcopy(net)),
    }


@torch.no_grad()
def measure(
    branches: dict[str, nn.Module], data: TrainData, indices: np.ndarray, metric: str = "loss", block_size: int = 256
) -> dict[str, float]:
    """Each branch's mean CE (or error rate) over `indices`, in eval mode on the fixed view."""
    for branch in branches.values():
        branch.eval()
    share = indices[data.rank :: data.world_size]
    chunks = [share[i : i + block_size] for i in range(0, len(share), block_size)]
    sums = torch.zeros(len(branches) + 1, dtype=torch.float64)
    for index, video, audio in data.source.batches(chunks, None):
        video, audio, labels = video.to(data.device), audio.to(data.device), data.labels[index].to(data.device)
        for slot, branch in enumerate(branches.values()):
            logits = branch(video, audio)
            if metric == "accuracy":
                sums[slot] += float((logits.argmax(1) != labels).sum())
            else:
                sums[slot] += float(nn.functional.cross_entropy(logits, labels, reduction="sum"))
        sums[-1] += len(index)
    sums = torch.tensor(sum_over_processes(sums.tolist(), data.device), dtype=torch.float64)
    for branch in branches.values():
        branch.train()
    return {k: float(sums[slot] / sums[-1]) for slot, k in enumerate(branches)}


def measure_split(
    branches: dict[str, nn.Module], data: TrainData, probe: np.ndarray, holdout: np.ndarray, metric: str
) -> dict[str, Measure]:
    """Each branch's Measure on T' (`probe`) and V (`holdout`)."""
    train, valid = measure(branches, data, probe, metric), measure(branches, data, holdout, metric)
    return {k: Measure(train[k], valid[k]) for k in branches}


def train_copies(branches: dict[str, nn.Module], data: TrainData, epochs: range, lr: float) -> None:
    """Train every branch copy with its own CE and Adam over the same batches of `data` for `epochs`."""
    synced_branches = {k: synced(b) for k, b in branches.items()}
    optimisers = {k: adam(b.parameters(), lr) for k, b in branches.items()}
    for epoch in epochs:
        for batch in data.batches(epoch):
            for k, branch in synced_branches.items():
                loss = nn.functional.cross_entropy(branch(batch.video, batch.audio), batch.label)
                optimisers[k].zero_grad()
                loss.backward()
                optimisers[k].step()


def blended_epoch(
    model: nn.Module,
    heads: nn.Module,
    data: TrainData,
    epoch: int,
    optimizer: torch.optim.Optimizer,
    weights: dict[str, float],
) -> dict[str, float]:
    """One epoch of the weighted three-branch CE; the epoch's mean blended and per-branch losses."""
    model.train()
    heads.train()
    sums = torch.zeros(len(BRANCHES) + 2, dtype=torch.float64)
    for batch in data.batches(epoch):
        f_v, f_a, fused = model(batch.video, batch.audio)
        video, audio = heads(f_v, f_a)
        loss, parts = blended_loss({"video": video, "audio": audio, "av": fused}, batch.label, weights)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        n = len(batch.index)
        sums += torch.tensor(
            [float(loss.detach()) * n, *(float(parts[k].detach()) * n for k in BRANCHES), n], dtype=torch.float64
        )
    sums = torch.tensor(sum_over_processes(sums.tolist(), data.device), dtype=torch.float64)
    seen = max(float(sums[-1]), 1.0)
    branch_losses = {f"loss_{k}": float(sums[1 + i]) / seen for i, k in enumerate(BRANCHES)}
    return {"loss": float(sums[0]) / seen, **branch_losses, "samples": int(sums[-1])}


def refit_fusion_head(net: nn.Module, data: TrainData, indices: np.ndarray, epochs: int, budget: Budget) -> float:
    """Fine-tune the fusion head with CE on the frozen encoders' features of `indices`; the last epoch's mean loss."""
    f_v, f_a = data.extract_features(net)
    labels = data.labels.to(data.device)
    optimizer = adam(net.head.parameters(), budget.lr)
    rng = seeded_rng(data.seed, "gblend-refit")
    net.head.train()
    losses = []
    for _ in range(epochs):
        losses = []
        for rows in torch.from_numpy(rng.permutation(indices)).to(data.device).split(budget.batch_size):
            loss = nn.functional.cross_entropy(net.head(f_v[rows], f_a[rows]), labels[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()) * len(rows))
    return sum(losses) / max(len(indices), 1)


class GBlend(Method):
    """G-Blend: per-modality and fusion heads trained on a loss blend weighted by each branch's overfitting-to-
    generalisation ratio on a held-out 8 % of the training split; predicts with the fusion head."""

    name = "gblend"
    Options = GBlendOptions
    paper_name = "G-Blend"
    order = 10

    def estimation_window(self, epoch: int) -> tuple[int, int]:
        """(N, n): the weights used at `epoch` are estimated at epoch N over n epochs (offline: N = 0 and n =
        estimate_epochs; online: N starts the super-epoch holding `epoch` and n is its length)."""
        if self.options.mode == "offline":
            return 0, self.options.estimate_epochs
        first, length = self.options.first_super_epoch, self.options.super_epoch
        if epoch < first:
            return 0, first
        return first + (epoch - first) // length * length, length

    def estimate(
        self,
        net: nn.Module,
        heads: UnimodalHeads,
        data: TrainData,
        split: tuple[np.ndarray, np.ndarray],
        epochs: range,
        lr: float,
    ) -> tuple[BlendWeights, dict[str, Any]]:
        """GBEstimate from the current checkpoint: the blend weights and what they came from."""
        train_part, holdout = split
        size = min(len(holdout), len(train_part))
        probe = np.sort(seeded_rng(data.seed, "gblend-probe").choice(train_part, size, replace=False))
        branches = branch_copies(net, heads)
        metric = self.options.metric
        before = measure_split(branches, data, probe, holdout, metric)
        train_copies(branches, restricted(data, train_part), epochs, lr)
        after = measure_split(branches, data, probe, holdout, metric)
        pairs = {k: generalisation_and_overfitting(before[k], after[k], self.options.estimator) for k in BRANCHES}
        gains, overfits = {k: g for k, (g, _) in pairs.items()}, {k: o for k, (_, o) in pairs.items()}
        result = blend_weights(gains, overfits, self.options.epsilon, self.options.fallback)
        details = {
            "G": gains,
            "O": overfits,
            "before": {k: vars(m) for k, m in before.items()},
            "after": {k: vars(m) for k, m in after.items()},
        }
        return result, details

    def fit(self, model: nn.Module, data: TrainData, budget: Budget, log: RunLog) -> Predictor:
        net = unwrap(model)
        heads = UnimodalHeads(net.feature_dim, data.num_classes).to(budget.device)
        synced_heads = synced(heads)
        o = self.options
        split = holdout_split(data.valid, o.holdout, data.seed)
        blend_data = data if o.train_on_holdout else restricted(data, split[0])
        optimizer = adam([*net.parameters(), *heads.parameters()], budget.lr)
        modules, optimizers = {"model": net, "heads": heads}, {"optimizer": optimizer}
        state: dict[str, Any] = {"weights": {}, "estimated_at": -1}
        start = log.resume(modules, optimizers, state)
        weights, estimated_at = state["weights"], state["estimated_at"]
        for epoch in range(start, budget.epochs):
            first, length = self.estimation_window(epoch)
            if first != estimated_at:
                result, details = self.estimate(net, heads, data, split, range(first, first + length), budget.lr)
                weights, estimated_at = result.weights, first
                log.event(
                    "gblend-estimate",
                    epoch=first,
                    estimate_epochs=length,
                    weights=weights,
                    clamped=list(result.clamped),
                    fallback=result.fallback,
                    **details,
                )
            metrics = blended_epoch(model, synced_heads, blend_data, epoch, optimizer, weights)
            log.epoch(epoch, **metrics, **{f"w_{k}": w for k, w in weights.items()})
            log.checkpoint(epoch, modules, optimizers, {"weights": weights, "estimated_at": estimated_at})
        if o.refit_epochs:
            kept = np.flatnonzero(blend_data.valid.numpy())
            loss = refit_fusion_head(net, blend_data, kept, o.refit_epochs, budget)
            log.event("gblend-refit", epochs=o.refit_epochs, loss=loss)
        return ModelPredictor(model)
