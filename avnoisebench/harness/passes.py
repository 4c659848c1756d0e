"""One training pass over the batches of an epoch with several optimisers, shared by multi-phase methods."""

from collections.abc import Callable

import torch
import torch.distributed as dist
from torch import nn

from avnoisebench.harness.data import Batch, TrainData
from avnoisebench.harness.loop import sum_over_processes


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
