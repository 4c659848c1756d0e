"""The supervised training loop shared by methods that minimise a per-batch loss with Adam, with resume."""

from collections.abc import Callable

import torch
import torch.distributed as dist
from torch import nn

from avnoisebench.harness.data import Batch, TrainData
from avnoisebench.harness.method import Budget, unwrap
from avnoisebench.harness.run import RunLog

StepLoss = Callable[[nn.Module, Batch, int], torch.Tensor]


def cross_entropy_loss(model: nn.Module, batch: Batch, epoch: int) -> torch.Tensor:
    """Plain CE of the fusion logits against the observed labels."""
    return nn.functional.cross_entropy(model(batch.video, batch.audio)[2], batch.label)


def sum_over_processes(values: list[float], device: str) -> list[float]:
    """Element-wise sums of `values` over every process of a distributed run (reduced on `device`, as NCCL needs)."""
    if not dist.is_initialized():
        return values
    totals = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(totals)
    return totals.cpu().tolist()


def train_epochs(model: nn.Module, data: TrainData, budget: Budget, log: RunLog, loss_fn: StepLoss) -> None:
    """Adam over `budget.epochs` epochs of `loss_fn`, checkpointing after each epoch and resuming from the last."""
    optimizer = torch.optim.Adam(model.parameters(), lr=budget.lr)
    start = 0
    state = log.load_checkpoint()
    if state is not None:
        unwrap(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        start = state["epoch"] + 1
    for epoch in range(start, budget.epochs):
        model.train()
        total, seen = 0.0, 0
        for batch in data.batches(epoch):
            loss = loss_fn(model, batch, epoch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch.index)
            seen += len(batch.index)
        total, seen = sum_over_processes([total, seen], budget.device)
        seen = int(seen)
        log.epoch(epoch, loss=total / max(seen, 1), samples=seen)
        log.save_checkpoint(
            {
                "epoch": epoch,
                "model": unwrap(model).state_dict(),
                "optimizer": optimizer.state_dict(),
                "torch_rng": torch.get_rng_state(),
            }
        )
