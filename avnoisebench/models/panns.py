"""PANNs ResNet-22 audio encoder over precomputed log-mels, with the PANNs checkpoint's module names, and its loader."""

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from avnoisebench.errors import AvnbError
from avnoisebench.models.checkpoints import load_matching, read_checkpoint

MEL_BINS = 64
EMBEDDING_DIM = 2048
_STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))
_CHECKPOINT_ONLY = ("spectrogram_extractor.", "logmel_extractor.", "fc_audioset.")


def _init_conv(layer: nn.Conv2d | nn.Linear) -> None:
    """PANNs' layer initialisation: Xavier-uniform weight, zero bias."""
    nn.init.xavier_uniform_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def _bn(channels: int, weight: float = 1.0) -> nn.BatchNorm2d:
    """A BatchNorm2d with constant weight and zero bias."""
    bn = nn.BatchNorm2d(channels)
    nn.init.constant_(bn.weight, weight)
    nn.init.zeros_(bn.bias)
    return bn


def _conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A bias-free 3x3 convolution, stride 1, same padding."""
    conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
    _init_conv(conv)
    return conv


class SpecAugment(nn.Module):
    """Zeroes random time and mel stripes of (B, 1, T, M) inputs in training mode (torchlibrosa's SpecAugmentation:
    per sample, each stripe's width is uniform in [0, max width), its start uniform over the remaining range).
    Draws from `generator`, or from torch's default generator when None."""

    def __init__(
        self,
        time_width: int = 64,
        time_stripes: int = 2,
        freq_width: int = 8,
        freq_stripes: int = 2,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.time_width, self.time_stripes = time_width, time_stripes
        self.freq_width, self.freq_stripes = freq_width, freq_stripes
        self.generator = generator

    def _keep(self, batch: int, size: int, width: int, stripes: int) -> torch.Tensor:
        """A (batch, size) float mask that is 0 inside the drawn stripes."""
        widths = torch.randint(0, width, (batch, stripes), generator=self.generator).clamp(max=size)
        starts = (torch.rand(batch, stripes, generator=self.generator) * (size - widths)).long()
        position = torch.arange(size)
        inside = (position >= starts[..., None]) & (position < (starts + widths)[..., None])
        return (~inside.any(dim=1)).float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`x` with stripes zeroed in training mode, unchanged in eval mode."""
        if not self.training:
            return x
        batch, _, frames, mels = x.shape
        time_keep = self._keep(batch, frames, self.time_width, self.time_stripes).to(x.device)
        mel_keep = self._keep(batch, mels, self.freq_width, self.freq_stripes).to(x.device)
        return x * time_keep[:, None, :, None] * mel_keep[:, None, None, :]


class ConvBlock(nn.Module):
    """Two 3x3 conv + BN + ReLU layers, then optional average pooling."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, out_channels)
        self.conv2 = _conv3x3(out_channels, out_channels)
        self.bn1 = _bn(out_channels)
        self.bn2 = _bn(out_channels)

    def forward(self, x: torch.Tensor, pool: int) -> torch.Tensor:
        """Block output, average-pooled by `pool` x `pool`."""
        x = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        return F.avg_pool2d(x, pool) if pool > 1 else x


class ResBlock(nn.Module):
    """PANNs' basic residual block: 2x2 average pooling before the first conv when striding, dropout 0.1 between
    the convs, last BN zero-initialised; when striding, the shortcut pools, then 1x1 conv + BN."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride
        self.conv1 = _conv3x3(in_channels, channels)
        self.bn1 = _bn(channels)
        self.conv2 = _conv3x3(channels, channels)
        self.bn2 = _bn(channels, weight=0.0)
        self.downsample = None
        if stride != 1:
            shortcut = nn.Conv2d(in_channels, channels, 1, bias=False)
            _init_conv(shortcut)
            self.downsample = nn.Sequential(nn.AvgPool2d(2), shortcut, _bn(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Block output for a (B, C, T, M) input."""
        out = F.avg_pool2d(x, 2) if self.stride == 2 else x
        out = F.dropout(F.relu(self.bn1(self.conv1(out))), p=0.1, training=self.training)
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


class ResNetStages(nn.Module):
    """Four stages of two basic blocks, widths 64/128/256/512, the last three halving time and mel."""

    def __init__(self) -> None:
        super().__init__()
        in_channels = 64
        for index, (channels, stride) in enumerate(_STAGES, start=1):
            self.add_module(
                f"layer{index}", nn.Sequential(ResBlock(in_channels, channels, stride), ResBlock(channels, channels))
            )
            in_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Output of the last stage."""
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class PANNsResNet22(nn.Module):
    """PANNs ResNet-22 over (B, frames, 64) log-mels, front end skipped; gives the 2048-d embedding (fc1 + ReLU)
    projected to `out_dim` by `proj` (Linear + ReLU). Module names follow the PANNs ResNet22 checkpoint."""

    def __init__(self, out_dim: int = 512, spec_augment: SpecAugment | None = None) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.bn0 = _bn(MEL_BINS)
        self.spec_augmenter = spec_augment or SpecAugment()
        self.conv_block1 = ConvBlock(1, 64)
        self.resnet = ResNetStages()
        self.conv_block_after1 = ConvBlock(512, EMBEDDING_DIM)
        self.fc1 = nn.Linear(EMBEDDING_DIM, EMBEDDING_DIM)
        self.proj = nn.Linear(EMBEDDING_DIM, out_dim)
        _init_conv(self.fc1)
        _init_conv(self.proj)

    def embedding(self, logmel: torch.Tensor) -> torch.Tensor:
        """The (B, 2048) PANNs embedding of (B, frames, 64) log-mels."""
        if logmel.ndim != 3 or logmel.shape[-1] != MEL_BINS:
            raise ValueError(f"expected log-mels of shape (batch, frames, {MEL_BINS}), got {tuple(logmel.shape)}")
        x = self.bn0(logmel.unsqueeze(1).transpose(1, 3)).transpose(1, 3)
        x = self.spec_augmenter(x)
        x = F.dropout(self.conv_block1(x, pool=2), p=0.2, training=self.training)
        x = F.dropout(F.avg_pool2d(self.resnet(x), 2), p=0.2, training=self.training)
        x = F.dropout(self.conv_block_after1(x, pool=1), p=0.2, training=self.training)
        x = x.mean(dim=3)
        x = F.dropout(x.amax(dim=2) + x.mean(dim=2), p=0.5, training=self.training)
        return F.dropout(F.relu(self.fc1(x)), p=0.5, training=self.training)

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        """The (B, out_dim) audio feature (non-negative)."""
        return F.relu(self.proj(self.embedding(logmel)))


def load_panns_checkpoint(model: PANNsResNet22, path: str | Path) -> None:
    """Load a local PANNs ResNet22 checkpoint (dict with "model") into `model`; front-end, AudioSet head and `proj`
    are left alone."""
    expected = "a PANNs ResNet22 checkpoint (ResNet22_mAP=0.430.pth, a dict whose 'model' entry is the state dict)"
    checkpoint = read_checkpoint(path, expected)
    if not isinstance(checkpoint, Mapping) or "model" not in checkpoint:
        raise AvnbError(f"{path}: no 'model' entry; expected {expected}")
    load_matching(model, checkpoint["model"], source=path, expected=expected, ignore=(*_CHECKPOINT_ONLY, "proj."))
