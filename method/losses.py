"""The proposed method's pieces (docs/methods.md section 2): the cross-modal noise estimate omega (eqs. 2-6), the
omega-weighted instance-level swapped-prediction loss (eqs. 7-11), and the category-level contrastive loss through a
tied-weight autoencoder (eqs. 12-15)."""

import math
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from avnoisebench.plugin import sinkhorn, top_k_neighbours

OmegaNorm = Literal["clip", "affine", "batch_mean", "none"]
OMEGA_NORMS: tuple[str, ...] = get_args(OmegaNorm)
GATHER_BLOCK = 512


def _agreement(
    own: torch.Tensor, other: torch.Tensor, k: int, tau1: float, threshold: float | None, block_size: int | None
) -> torch.Tensor:
    """Mean own-modality S = cos / tau1 of each sample with its k nearest other samples in the other modality (with
    a threshold, only those whose other-modality cosine exceeds it; 0 when none does)."""
    index, similarity = top_k_neighbours(other, k, block_size)
    kept = torch.ones_like(similarity) if threshold is None else (similarity > threshold).to(similarity.dtype)
    omega = torch.empty(len(own), dtype=own.dtype, device=own.device)
    for start in range(0, len(own), GATHER_BLOCK):
        rows = slice(start, start + GATHER_BLOCK)
        cosine = torch.einsum("bkd,bd->bk", own[index[rows]], own[rows])
        omega[rows] = (cosine * kept[rows]).sum(dim=1) / kept[rows].sum(dim=1).clamp_min(1)
    return omega / tau1


@torch.no_grad()
def noise_estimate(
    z_v: torch.Tensor,
    z_a: torch.Tensor,
    k: int,
    tau1: float = 1.0,
    threshold: float | None = None,
    block_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(omega_v, omega_a), unnormalised: omega_v_i is the mean S(z_v_j, z_v_i) over the k samples j != i whose audio
    is most similar to i's audio (J_v_i), omega_a_i the mean S(z_a_j, z_a_i) over the video neighbours J_a_i; the
    neighbour search works in tiles of `block_size` rows (None: the largest its memory budget allows)."""
    z_v, z_a = F.normalize(z_v.float(), dim=1), F.normalize(z_a.float(), dim=1)
    return (
        _agreement(z_v, z_a, k, tau1, threshold, block_size),
        _agreement(z_a, z_v, k, tau1, threshold, block_size),
    )


def normalise_omega(omega: torch.Tensor, mode: str) -> torch.Tensor:
    """Whole-set weights from raw omega: clip to [0, 1] (`clip`, and `batch_mean` before its per-batch scaling),
    (1 + omega) / 2 (`affine`), or as is (`none`)."""
    if mode not in OMEGA_NORMS:
        raise ValueError(f"omega normalisation {mode!r} is not one of {', '.join(OMEGA_NORMS)}")
    if mode == "affine":
        return (1 + omega) / 2
    return omega if mode == "none" else omega.clamp(0, 1)


def batch_weights(omega: torch.Tensor, mode: str) -> torch.Tensor:
    """The weights of one batch: with `batch_mean` divided by their batch mean (keeps the loss scale), else as is."""
    return omega / omega.mean().clamp_min(1e-12) if mode == "batch_mean" else omega


def swav_codes(scores: torch.Tensor, eps: float, iterations: int, hard: bool) -> torch.Tensor:
    """Equal-partition codes of a (B, K) score matrix, without gradient: soft Sinkhorn codes or their one-hot argmax."""
    codes = sinkhorn(scores.detach(), eps, iterations)
    return F.one_hot(codes.argmax(dim=1), codes.shape[1]).to(codes.dtype) if hard else codes


def instance_loss(
    z_v: torch.Tensor,
    z_a: torch.Tensor,
    prototypes: torch.Tensor,
    omega_v: torch.Tensor,
    omega_a: torch.Tensor,
    tau2: float = 0.1,
    eps: float = 0.05,
    iterations: int = 3,
    hard: bool = False,
) -> torch.Tensor:
    """L_ins = mean_i [omega_v_i E_v_i + omega_a_i E_a_i] with E_v_i = -sum_k Q_a_ik log softmax(C z_v_i / tau2)_k
    (audio codes supervise video) and E_a_i likewise with the video codes; z unit rows, C unit prototypes (K, d)."""
    scores_v, scores_a = z_v @ prototypes.t(), z_a @ prototypes.t()
    codes_v, codes_a = (swav_codes(s, eps, iterations, hard) for s in (scores_v, scores_a))
    e_v = -(codes_a * F.log_softmax(scores_v / tau2, dim=1)).sum(dim=1)
    e_a = -(codes_v * F.log_softmax(scores_a / tau2, dim=1)).sum(dim=1)
    return (omega_v * e_v + omega_a * e_a).mean()


class TiedAutoencoder(nn.Module):
    """U = relu(W p + b_e), p' = W^T U + b_d over B-vectors p; the decoder weight is the encoder weight's transpose
    (the same storage), and the input size must be the batch size B the autoencoder was built for."""

    def __init__(self, size: int, hidden: int, generator: torch.Generator) -> None:
        super().__init__()
        self.size = size
        bound = 1 / math.sqrt(size)
        self.weight = nn.Parameter(torch.empty(hidden, size).uniform_(-bound, bound, generator=generator))
        self.encoder_bias = nn.Parameter(torch.empty(hidden).uniform_(-bound, bound, generator=generator))
        self.decoder_bias = nn.Parameter(torch.zeros(size))

    @property
    def decoder_weight(self) -> torch.Tensor:
        """W^T, a transposed view of the encoder weight."""
        return self.weight.t()

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        """Reconstructions (..., B) of category representations (..., B)."""
        if p.shape[-1] != self.size:
            raise ValueError(f"the tied autoencoder takes {self.size}-vectors (the batch size), got {p.shape[-1]}")
        return F.linear(torch.relu(F.linear(p, self.weight, self.encoder_bias)), self.decoder_weight, self.decoder_bias)


def category_representations(z: torch.Tensor, prototypes: torch.Tensor, tau2: float) -> torch.Tensor:
    """(K, B): row k is category k's B-vector, column k of P = row-softmax(Z C'^T / tau2)."""
    return F.softmax(z @ prototypes.t() / tau2, dim=1).t()


def _contrast(
    anchor: torch.Tensor, own: torch.Tensor, cross: torch.Tensor, positive_in_own: bool, literal: bool, tau1: float
) -> torch.Tensor:
    """-(1/K) sum_i log exp S(a_i, pos_i) / (sum_j exp S(a_i, own_j) + sum_j exp S(a_i, cross_j)), S = cos / tau1,
    the positive being own_i or cross_i; unless `literal`, j = i is left out of the block without the positive."""
    anchor, own, cross = (F.normalize(x, dim=1) for x in (anchor, own, cross))
    similarity_own, similarity_cross = anchor @ own.t() / tau1, anchor @ cross.t() / tau1
    positive = (similarity_own if positive_in_own else similarity_cross).diagonal()
    if not literal:
        diagonal = torch.eye(len(anchor), dtype=torch.bool, device=anchor.device)
        if positive_in_own:
            similarity_cross = similarity_cross.masked_fill(diagonal, float("-inf"))
        else:
            similarity_own = similarity_own.masked_fill(diagonal, float("-inf"))
    denominator = torch.logsumexp(torch.cat([similarity_own, similarity_cross], dim=1), dim=1)
    return (denominator - positive).mean()


def marginal_entropy_penalty(p: torch.Tensor) -> torch.Tensor:
    """log K - H(mean assignment) of (K, B) category representations (Contrastive Clustering's anti-collapse term)."""
    marginal = p.sum(dim=1) / p.sum()
    return math.log(len(p)) + (marginal * marginal.clamp_min(1e-12).log()).sum()


def category_loss(
    z_v: torch.Tensor,
    z_a: torch.Tensor,
    prototypes: torch.Tensor,
    autoencoder: nn.Module,
    tau1: float = 1.0,
    tau2: float = 0.1,
    literal: bool = False,
    entropy_weight: float = 0.0,
) -> dict[str, torch.Tensor]:
    """L_cat = (l^c_v + l^c_a + l^r_v + l^r_a) / 4 on the category representations p (columns of the prototype
    assignments) and their reconstructions p' = AE(p): l^r anchors p_i with positive p'_i of the same modality,
    l^c anchors p'_i with positive p' of the other modality; plus the optional entropy penalty. Returns the loss and
    its intra- (l_r) and inter-modal (l_c) parts."""
    p_v, p_a = category_representations(z_v, prototypes, tau2), category_representations(z_a, prototypes, tau2)
    r_v, r_a = autoencoder(p_v), autoencoder(p_a)
    l_r = (_contrast(p_v, r_v, r_a, True, literal, tau1) + _contrast(p_a, r_a, r_v, True, literal, tau1)) / 2
    l_c = (_contrast(r_v, r_v, r_a, False, literal, tau1) + _contrast(r_a, r_a, r_v, False, literal, tau1)) / 2
    loss = (l_r + l_c) / 2
    if entropy_weight:
        loss = loss + entropy_weight * (marginal_entropy_penalty(p_v) + marginal_entropy_penalty(p_a))
    return {"loss": loss, "l_r": l_r, "l_c": l_c}
