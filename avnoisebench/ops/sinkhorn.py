"""Sinkhorn-Knopp equal-partition codes (SwAV's procedure)."""

import torch


@torch.no_grad()
def sinkhorn(scores: torch.Tensor, eps: float = 0.05, iterations: int = 3) -> torch.Tensor:
    """Soft codes Q (B, K) for scores (B, K): exp(S / eps), then alternately normalise the prototypes to mass 1/K
    and the samples to mass 1/B; each row of the result sums to 1 and each prototype gets about B/K."""
    batch, prototypes = scores.shape
    q = torch.exp((scores.double() - scores.double().max()) / eps).t()
    q /= q.sum()
    for _ in range(iterations):
        q /= q.sum(dim=1, keepdim=True)
        q /= prototypes
        q /= q.sum(dim=0, keepdim=True)
        q /= batch
    return (q * batch).t().to(scores.dtype)
