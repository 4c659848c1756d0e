"""Training passes shared by the methods: one pass over an epoch's batches with any optimisers, and the supervised
loop that minimises a per-batch loss with Adam over the budget, with resume."""

from collections.abc import Callable, Iterable

import torch
import torch.distributed as dist
from torch import nn

from avnoisebench.harness.budget import Budget
from avnoisebench.harness.data import Batch, TrainData
from avnoisebench.harness.runlog import RunLog

StepLoss = Callable[[nn.Module, Batch, int], torch.Tensor]


def adam(params: Iterable[torch.Tensor] | Iterable[dict], lr: float) -> torch.optim.Adam:
    """Adam at `lr`, fused into one kernel per step (the per-tensor loop costs a small head as much as its
    gradients)."""
    return torch.optim.Adam(params, lr=lr, fused=True)


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


def average_gradients(module: nn.Module) -> None:
    """Average `module`'s gradients over the processes of a distributed run (for modules outside DDP)."""
    if dist.is_initialized():
        for parameter in module.parameters():
            if parameter.grad is not None:
                dist.all_reduce(parameter.grad)
                parameter.grad /= dist.get_world_size()


def train_pass(
    model: nn.Module,
    data: TrainData,
    epoch: int,
    optimizers: list[torch.optim.Optimizer],
    step: Callable[[Batch], dict[str, torch.Tensor]],
    after_backward: Callable[[], None] = lambda: None,
    drop_last: bool = False,
) -> dict[str, float]:
    """One pass over epoch `epoch`'s batches minimising step(batch)["loss"] (with `drop_last`, batches smaller than
    data.batch_size are skipped); returns every value's per-sample mean over all processes and the samples seen."""
    model.train()
    sums: torch.Tensor | None = None
    names: list[str] = []
    for batch in data.batches(epoch):
        if drop_last and len(batch.index) < data.batch_size:
            continue
        values = step(batch)
        for optimizer in optimizers:
            optimizer.zero_grad()
        values["loss"].backward()
        after_backward()
        for optimizer in optimizers:
            optimizer.step()
        names = list(values)
        batch_sums = torch.tensor(
            [float(v.detach()) * len(batch.index) for v in values.values()] + [len(batch.index)], dtype=torch.float64
        )
        sums = batch_sums if sums is None else sums + batch_sums
    sums = torch.zeros(len(names) + 1, dtype=torch.float64) if sums is None else sums
    sums = sum_over_processes(sums.tolist(), data.device)
    seen = int(sums[-1])
    return {**{name: float(sums[i]) / max(seen, 1) for i, name in enumerate(names)}, "samples": seen}


def train_epochs(
    model: nn.Module,
    data: TrainData,
    budget: Budget,
    log: RunLog,
    loss_fn: StepLoss,
    after_backward: Callable[[], None] = lambda: None,
) -> None:
    """Adam over `budget.epochs` epochs of `loss_fn`, checkpointing after each epoch and resuming from the last."""
    optimizer = adam(model.parameters(), budget.lr)
    for epoch in range(log.resume({"model": model}, {"optimizer": optimizer}), budget.epochs):

        def step(batch: Batch, epoch: int = epoch) -> dict[str, torch.Tensor]:
            return {"loss": loss_fn(model, batch, epoch)}

        log.epoch(epoch, **train_pass(model, data, epoch, [optimizer], step, after_backward))
        log.checkpoint(epoch, {"model": model}, {"optimizer": optimizer})
