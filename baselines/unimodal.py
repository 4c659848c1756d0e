"""Unimodal references (the "RGB-only" / "audio-only" rows of G-Blend, Wang, Tran, Feiszli, CVPR 2020): cross-entropy
on a linear head over one modality's feature, f_v or f_a alone; the predictor uses that head.

The linear head is G-Blend's per-modality head (docs/methods.md section 3.2: Linear(feature_dim -> K) on the pooled
feature); the other encoder and the fusion head are left untouched. The whole budget trains the one branch."""

from typing import ClassVar

import torch
import torch.distributed as dist
from torch import nn

from avnoisebench.plugin import Batch, Budget, Method, Predictor, RunLog, TrainData, train_epochs, unwrap

MODALITIES = ("video", "audio")


class Unimodal(nn.Module):
    """One modality's encoder and a linear head: (video, audio) -> logits from that modality alone."""

    def __init__(self, encoder: nn.Module, head: nn.Module, modality: str) -> None:
        super().__init__()
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        self.encoder, self.head, self.modality = encoder, head, modality

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """(B, K) logits of the chosen modality's input."""
        return self.head(self.encoder(video if self.modality == "video" else audio))


class LogitsPredictor:
    """The logits of a (video, audio) -> logits module in eval mode, without gradients (a DDP wrapper taken off)."""

    def __init__(self, module: nn.Module) -> None:
        self.module = unwrap(module)

    @torch.no_grad()
    def __call__(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        self.module.eval()
        return self.module(video, audio)


def synced(module: nn.Module) -> nn.Module:
    """`module` wrapped in DistributedDataParallel when a process group is running (gradients averaged), else itself."""
    return nn.parallel.DistributedDataParallel(module) if dist.is_initialized() else module


def logits_cross_entropy(module: nn.Module, batch: Batch, epoch: int) -> torch.Tensor:
    """CE of a (video, audio) -> logits module against the observed labels."""
    return nn.functional.cross_entropy(module(batch.video, batch.audio), batch.label)


class _UnimodalMethod(Method):
    """CE on a linear head over one modality's feature."""

    modality: ClassVar[str]

    def fit(self, model: nn.Module, data: TrainData, budget: Budget, log: RunLog) -> Predictor:
        net = unwrap(model)
        head = nn.Linear(net.feature_dim, data.num_classes).to(budget.device)
        branch = Unimodal(getattr(net, f"{self.modality}_encoder"), head, self.modality)
        train_epochs(synced(branch), data, budget, log, logits_cross_entropy)
        return LogitsPredictor(branch)


class VideoOnly(_UnimodalMethod):
    """Video-only reference: CE on a linear head over f_v; the audio is ignored."""

    name = "video-only"
    modality = "video"
    order = 1


class AudioOnly(_UnimodalMethod):
    """Audio-only reference: CE on a linear head over f_a; the video is ignored."""

    name = "audio-only"
    modality = "audio"
    order = 2
