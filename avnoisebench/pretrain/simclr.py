"""SimCLR for one modality's encoder: two augmented views of each clip, NT-Xent over the batch, a 2-layer projector
that is discarded; one torch thread, deterministic for a seed, resumable from per-epoch checkpoints."""

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from avnoisebench.media.decode import normalize_video
from avnoisebench.pretrain.augment import augment_audio, augment_video
from avnoisebench.pretrain.checkpoint import Record, TrainState, fingerprint, resume, save
from avnoisebench.pretrain.encoders import MODALITIES, build_encoder, fold_standardisation
from avnoisebench.pretrain.recipe import PretrainSpec

Augmenter = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
# Channels-last convolutions train these encoders 1.25x (video) and 1.6x (audio) faster on one CPU thread.
MEMORY_FORMATS = {"video": torch.channels_last_3d, "audio": torch.channels_last}


@dataclass
class Result:
    """A trained encoder's state dict (taking the harness's inputs), its record, and the log-mel standardisation
    (mean, std) folded into it, if any."""

    state: dict[str, torch.Tensor]
    record: Record
    standardisation: tuple[float, float] | None = None


def projector(in_dim: int, spec: PretrainSpec) -> nn.Module:
    """The 2-layer projection head the contrastive loss reads (Linear, BN, ReLU, Linear)."""
    return nn.Sequential(
        nn.Linear(in_dim, spec.projector_hidden),
        nn.BatchNorm1d(spec.projector_hidden),
        nn.ReLU(inplace=True),
        nn.Linear(spec.projector_hidden, spec.projector_dim),
    )


def nt_xent(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent over 2B projections: row i and row i + B are the two views of one clip, every other row a negative."""
    z = F.normalize(z, dim=1)
    b = len(z) // 2
    logits = (z @ z.t()) / temperature
    logits.fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(b, 2 * b), torch.arange(b)])
    return F.cross_entropy(logits, targets)


def modality_seed(seed: int, modality: str) -> int:
    """The seed of one modality's initialisation and augmentation stream, derived from the run's seed."""
    return int(np.random.SeedSequence([seed, MODALITIES.index(modality)]).generate_state(1)[0])


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread (results then do not depend on the machine's core count)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_modality(
    modality: str,
    array: np.ndarray,
    spec: PretrainSpec,
    seed: int,
    workdir: Path | None,
    report: Callable[..., None],
) -> Result:
    """Train one encoder on its training array, resuming from `workdir/{modality}.pt` when that holds earlier epochs
    of the same run; `report(steps, **status)` hears of every epoch."""
    stream = modality_seed(seed, modality)
    encoder = build_encoder(spec.model, modality, stream).to(memory_format=MEMORY_FORMATS[modality])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stream + 1)
        head = projector(encoder.out_dim, spec)
    optimizer = torch.optim.AdamW(
        [*encoder.parameters(), *head.parameters()], lr=spec.lr, weight_decay=spec.weight_decay
    )
    state = TrainState(encoder, head, optimizer, torch.Generator().manual_seed(stream))
    run = fingerprint(modality, array, spec, seed)
    path = None if workdir is None else Path(workdir) / f"{modality}.pt"
    record = resume(path, run, state) if path is not None and path.is_file() else Record()
    if record.epoch:
        report(record.epoch, phase="resumed")
    data = torch.from_numpy(np.array(array, dtype=np.uint8 if modality == "video" else np.float32))
    standardisation = _standardisation(data) if modality == "audio" and spec.standardise_logmel else None
    augment = _augmenter(modality, spec, standardisation)
    with one_thread():
        for epoch in range(record.epoch, spec.epochs):
            began, cpu = time.perf_counter(), time.process_time()
            loss = _epoch(data, spec, state, augment, epoch)
            record.epoch, record.losses = epoch + 1, [*record.losses, loss]
            record.seconds += time.perf_counter() - began
            record.cpu_seconds += time.process_time() - cpu
            if path is not None:
                save(path, run, record, state)
            report(1, loss=round(loss, 4))
    if standardisation is not None:
        fold_standardisation(encoder, *standardisation)
    weights = {k: v.detach().clone(memory_format=torch.contiguous_format) for k, v in encoder.state_dict().items()}
    return Result(weights, record, standardisation)


def _standardisation(logmel: torch.Tensor) -> tuple[float, float]:
    """Mean and standard deviation of every value of the training log-mels."""
    values = logmel.double()
    return float(values.mean()), float(values.std())


def _epoch(data: torch.Tensor, spec: PretrainSpec, state: TrainState, augment: Augmenter, epoch: int) -> float:
    """One pass in random order over full batches (the remainder waits for a later epoch's order); mean loss."""
    batch = min(spec.batch_size, len(data))
    steps = len(data) // batch
    state.encoder.train()
    state.projector.train()
    order = torch.randperm(len(data), generator=state.generator)
    total = 0.0
    for step in range(steps):
        clips = data[order[step * batch : (step + 1) * batch]]
        views = torch.cat([augment(clips, state.generator), augment(clips, state.generator)])
        for group in state.optimizer.param_groups:
            group["lr"] = spec.lr * 0.5 * (1 + math.cos(math.pi * (epoch * steps + step) / (spec.epochs * steps)))
        loss = nt_xent(state.projector(state.encoder(views)), spec.temperature)
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
        total += loss.item()
    return total / steps


def _augmenter(modality: str, spec: PretrainSpec, standardisation: tuple[float, float] | None) -> Augmenter:
    """Batch -> a random view as the encoder takes it in training: augmented in [0, 1] then normalised (video), or
    augmented in dB then standardised when the recipe asks (audio)."""
    mean, std = standardisation or (0.0, 1.0)

    def view(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if modality == "audio":
            return (augment_audio(batch, spec.audio, generator) - mean) / std
        clips = normalize_video(augment_video(batch, spec.video, generator) * 255.0)
        return clips.contiguous(memory_format=MEMORY_FORMATS["video"])

    return view
