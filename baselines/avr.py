"""AV-R: Tian & Xu, "Can audio-visual integration strengthen robustness under multimodal attacks?" (CVPR 2021),
the defense: an audio-visual dissimilarity constraint plus external feature memory banks with ISTA sparse
reconstruction, on the shared encoders and fusion head (docs/methods/avr.md; methods.md section 5).

Chosen readings (methods.md 5.3-5.4): two stages inside the budget (`stage1_fraction`, default half each); stage 1
trains CE + lambda_ms * mean cos(f_v, f_a); each modality's bank holds `bank_size` stage-1 training embeddings drawn
at random (seeded) from `data.extract_features`; stage 2 starts a fresh Adam from the stage-1 weights (as the
official defense run does) and trains CE + lambda_ms * mean cos on the blended features
f~ = mix * D h + (1 - mix) * f, h the ISTA solution of min 0.5 ||D h - f||^2 + sparsity * ||h||_1. The ISTA step
is 0.9 / lambda_max(D^T D) per bank (`ista_step=published` uses the Kinetics-Sounds constants); the solver is
unrolled under autograd (`ista_detach` treats h as a constant). Prediction applies the same blend.
"""

import math
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from avnoisebench.plugin import (
    AvnbError,
    Batch,
    Budget,
    Method,
    Options,
    Predictor,
    RunLog,
    TrainData,
    adam,
    option,
    train_pass,
    unwrap,
)

PUBLISHED_STEPS = {"video": 2e-6, "audio": 5.8e-7}
SPECTRAL_FRACTION = 0.9


def similarity_penalty(f_v: torch.Tensor, f_a: torch.Tensor) -> torch.Tensor:
    """AV-R's dissimilarity term: the mean cosine similarity of paired visual and audio features (minimised)."""
    return F.cosine_similarity(f_v, f_a, dim=1).mean()


def spectral_bound(atoms: torch.Tensor) -> float:
    """lambda_max(D^T D) of the dictionary D whose columns are the rows of `atoms` (M, d)."""
    return float(torch.linalg.matrix_norm(atoms.double(), ord=2) ** 2)


def ista_objective(atoms: torch.Tensor, features: torch.Tensor, codes: torch.Tensor, sparsity: float) -> torch.Tensor:
    """0.5 ||D h - f||^2 + sparsity * ||h||_1 summed over the batch (codes (B, M), features (B, d))."""
    return 0.5 * (codes @ atoms - features).square().sum() + sparsity * codes.abs().sum()


def ista_step(
    atoms: torch.Tensor, features: torch.Tensor, codes: torch.Tensor, step: float, sparsity: float
) -> torch.Tensor:
    """One ISTA update: a gradient step on the reconstruction error, then soft thresholding at step * sparsity."""
    gradient = (codes @ atoms - features) @ atoms.t()
    return F.softshrink(codes - step * gradient, step * sparsity)


@dataclass(frozen=True)
class IstaSettings:
    """The sparse-coding problem and solver: L1 weight, iteration cap, stopping tolerance, gradient through h, and
    plain ISTA or its accelerated form (FISTA, Beck & Teboulle 2009: the same minimiser, O(1/k^2) instead of O(1/k))."""

    sparsity: float = 0.1
    max_iter: int = 2000
    tol: float = 8e-4
    detach: bool = False
    solver: Literal["ista", "fista"] = "ista"


def sparse_codes(atoms: torch.Tensor, features: torch.Tensor, step: float, ista: IstaSettings) -> torch.Tensor:
    """ISTA (or FISTA) codes (B, M) of `features` (B, d) over `atoms` (M, d), from zero until the batch's code change
    is below `ista.tol` or after `ista.max_iter` updates."""
    codes = features.new_zeros(features.shape[0], atoms.shape[0])
    point, momentum = codes, 1.0
    for _ in range(ista.max_iter):
        previous, codes = codes, ista_step(atoms, features, point, step, ista.sparsity)
        if ista.solver == "fista":
            following = (1 + math.sqrt(1 + 4 * momentum**2)) / 2
            point, momentum = codes + (momentum - 1) / following * (codes - previous), following
        else:
            point = codes
        if torch.linalg.vector_norm(codes - previous) < ista.tol:
            break
    return codes


@dataclass(frozen=True)
class MemoryBank:
    """A fixed dictionary of training embeddings (rows of `atoms`) and its ISTA step size."""

    atoms: torch.Tensor
    step: float

    @classmethod
    def build(cls, atoms: torch.Tensor, step: float | None = None, name: str = "memory") -> "MemoryBank":
        """A bank with the given step, or 0.9 / lambda_max(D^T D) when None; ISTA needs step * lambda_max < 1."""
        bound = spectral_bound(atoms)
        if bound == 0.0:
            raise AvnbError(f"the {name} bank's embeddings are all zero; stage 1 learnt no features, train longer")
        step = SPECTRAL_FRACTION / bound if step is None else step
        if step * bound >= 1.0:
            raise AvnbError(
                f"ISTA step {step:g} is too large for the {name} bank (lambda_max(D^T D) = {bound:g}, so the step must"
                f" be below {1 / bound:g}); use ista_step=spectral"
            )
        return cls(atoms.detach(), step)

    def blend(self, features: torch.Tensor, mix: float, ista: IstaSettings) -> torch.Tensor:
        """mix * D h + (1 - mix) * f, h the sparse code of f; h is a constant under `ista.detach`."""
        if ista.detach:
            with torch.no_grad():
                codes = sparse_codes(self.atoms, features.detach(), self.step, ista)
        else:
            codes = sparse_codes(self.atoms, features, self.step, ista)
        return mix * (codes @ self.atoms) + (1 - mix) * features


@dataclass(frozen=True)
class Defense:
    """Both modalities' memory banks and the blend applied to their features."""

    video: MemoryBank
    audio: MemoryBank
    mix: float
    ista: IstaSettings

    def __call__(self, f_v: torch.Tensor, f_a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The blended (f~_v, f~_a)."""
        return self.video.blend(f_v, self.mix, self.ista), self.audio.blend(f_a, self.mix, self.ista)

    def state(self) -> dict[str, Any]:
        """The banks as checkpoint state."""
        return {"video": (self.video.atoms.cpu(), self.video.step), "audio": (self.audio.atoms.cpu(), self.audio.step)}

    @classmethod
    def from_state(cls, state: dict[str, Any], mix: float, ista: IstaSettings, device: str) -> "Defense":
        """The defense whose banks a checkpoint holds."""
        video, audio = (MemoryBank(atoms.to(device), step) for atoms, step in (state["video"], state["audio"]))
        return cls(video, audio, mix, ista)


def defended_forward(
    model: nn.Module, video: torch.Tensor, audio: torch.Tensor, defense: Defense | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(f_v, f_a, logits) through the (possibly wrapped) model; with a defense, the blended features and the head's
    logits on them."""
    f_v, f_a, logits = model(video, audio)
    if defense is None:
        return f_v, f_a, logits
    f_v, f_a = defense(f_v, f_a)
    return f_v, f_a, unwrap(model).head(f_v, f_a)


def avr_loss(
    model: nn.Module, batch: Batch, defense: Defense | None, lambda_ms: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(CE + lambda_ms * mean cosine, CE, mean cosine) of a batch against its observed labels."""
    f_v, f_a, logits = defended_forward(model, batch.video, batch.audio, defense)
    ce = F.cross_entropy(logits, batch.label)
    similarity = similarity_penalty(f_v, f_a)
    return ce + lambda_ms * similarity, ce, similarity


class DefendedPredictor:
    """Fusion logits on the bank-blended features, in eval mode, without gradients."""

    def __init__(self, model: nn.Module, defense: Defense) -> None:
        self.model, self.defense = unwrap(model), defense

    @torch.no_grad()
    def __call__(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        self.model.eval()
        return defended_forward(self.model, video, audio, self.defense)[2]


def _avr_step(model: nn.Module, defense: Defense | None, lambda_ms: float, batch: Batch) -> dict[str, torch.Tensor]:
    """The AV-R loss of one batch with its CE and cosine terms."""
    loss, ce, similarity = avr_loss(model, batch, defense, lambda_ms)
    return {"loss": loss, "ce": ce, "similarity": similarity}


@dataclass(frozen=True)
class AVROptions(Options):
    """AV-R's published constants (Kinetics-Sounds blend 0.6) and the spec's stage split (docs/methods.md 5.3)."""

    method: ClassVar[str] = "avr"

    lambda_ms: float = option(1.0, "weight of the audio-visual dissimilarity term mean cos(f_v, f_a)", low=0)
    bank_size: int = option(1024, "stage-1 training embeddings per memory bank (at most the valid samples)", low=1)
    mix: float = option(0.6, "blend a: a * D h + (1 - a) * f (0: no bank, 1: the reconstruction only)", low=0, high=1)
    sparsity: float = option(0.1, "L1 weight lambda of the ISTA sparse code", low=0)
    ista_max_iter: int = option(2000, "at most this many ISTA updates per batch", low=1)
    ista_tol: float = option(8e-4, "ISTA stops when a batch's code changes by less than this", low=0)
    ista_step: Literal["spectral", "published"] = option(
        "spectral", "ISTA step: 0.9 / lambda_max(D^T D) per bank, or the published Kinetics-Sounds constants"
    )
    ista_detach: bool = option(False, "treat the sparse code as a constant (no gradient through the unrolled ISTA)")
    ista_solver: Literal["ista", "fista"] = option(
        "ista", "ista (published) or fista: the same sparse code, accelerated (Beck & Teboulle 2009)"
    )
    stage1_fraction: float = option(
        0.5,
        "share of the epochs in stage 1 (CE + dissimilarity, no banks)",
        low=0,
        high=1,
        low_open=True,
        high_open=True,
    )

    @property
    def ista(self) -> IstaSettings:
        """The solver settings."""
        return IstaSettings(self.sparsity, self.ista_max_iter, self.ista_tol, self.ista_detach, self.ista_solver)

    def stage1_epochs(self, epochs: int) -> int:
        """Epochs of stage 1 (CE + dissimilarity without banks); the rest of the budget is stage 2."""
        if epochs < 2:
            raise AvnbError(f"avr trains in two stages and needs at least 2 epochs, got {epochs}")
        return min(epochs - 1, max(1, round(epochs * self.stage1_fraction)))


class AVR(Method):
    """AV-R (Tian & Xu, CVPR 2021): CE + audio-visual dissimilarity, then ISTA memory-bank feature blending."""

    name = "avr"
    Options = AVROptions
    paper_name = "AV-R"
    order = 40

    def build_defense(self, model: nn.Module, data: TrainData, seed: int) -> Defense:
        """Banks of `bank_size` training embeddings per modality, drawn at random (seeded) from the valid samples."""
        o = self.options
        f_v, f_a = data.extract_features(model)
        valid = torch.nonzero(data.valid).squeeze(1)
        order = torch.randperm(len(valid), generator=torch.Generator().manual_seed(seed))
        rows = valid[order[: o.bank_size]].to(f_v.device)
        published = o.ista_step == "published"
        video, audio = (
            MemoryBank.build(f[rows], PUBLISHED_STEPS[name] if published else None, name)
            for name, f in (("video", f_v), ("audio", f_a))
        )
        return Defense(video, audio, o.mix, o.ista)

    def fit(self, model: nn.Module, data: TrainData, budget: Budget, log: RunLog) -> Predictor:
        """Stage 1 without banks, then banks from the stage-1 model and stage 2 with the blend; resumable."""
        o = self.options
        stage1 = o.stage1_epochs(budget.epochs)
        optimizer = adam(model.parameters(), budget.lr)
        state: dict[str, Any] = {"banks": None}
        start = log.resume({"model": model}, {"optimizer": optimizer}, state)
        defense = None if state["banks"] is None else Defense.from_state(state["banks"], o.mix, o.ista, budget.device)
        for epoch in range(start, budget.epochs):
            if epoch == stage1:
                defense = self.build_defense(model, data, budget.seed)
                optimizer = adam(model.parameters(), budget.lr)
                log.event(
                    "memory_banks",
                    size=len(defense.video.atoms),
                    step_video=defense.video.step,
                    step_audio=defense.audio.step,
                )
            stage = 1 if defense is None else 2
            metrics = train_pass(model, data, epoch, [optimizer], partial(_avr_step, model, defense, o.lambda_ms))
            log.epoch(epoch, phase=f"stage {stage}", stage=stage, **metrics)
            banks = None if defense is None else defense.state()
            log.checkpoint(epoch, {"model": model}, {"optimizer": optimizer}, {"banks": banks})
        assert defense is not None, "stage 2 always runs (stage1_epochs < epochs) and checkpoints its banks"
        return DefendedPredictor(model, defense)
