"""Small CPU-scale encoders for tiny benchmarks and cached features; like the paper's, their features are
non-negative (final ReLU)."""

import torch
from torch import nn


def _stage(dims: int, in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """Conv (3, stride) + BN + ReLU + 2x max-pool, in 2 or 3 dimensions."""
    conv, bn, pool = {2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d), 3: (nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d)}[dims]
    return nn.Sequential(
        conv(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        bn(out_channels),
        nn.ReLU(inplace=True),
        pool(2, ceil_mode=True),
    )


class SmallVideoEncoder(nn.Module):
    """Three conv stages over (B, 3, T, H, W) normalised clips (T, H, W >= 8), global pool, Linear + ReLU."""

    def __init__(self, out_dim: int = 128, width: int = 16) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.stem = nn.Sequential(
            nn.Conv3d(3, width, (1, 4, 4), stride=(1, 4, 4), bias=False), nn.BatchNorm3d(width), nn.ReLU(inplace=True)
        )
        self.stages = nn.Sequential(_stage(3, width, 2 * width, 1), _stage(3, 2 * width, 4 * width, 1))
        self.fc = nn.Linear(4 * width, out_dim)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        """The (B, out_dim) video feature."""
        x = self.stages(self.stem(clip))
        return torch.relu(self.fc(x.mean(dim=(2, 3, 4))))


class SmallAudioEncoder(nn.Module):
    """Three conv stages over (B, frames, mels) log-mels, averaged over time and into `mel_bands` coarse frequency
    bands (a pitch is a position on the mel axis, which a global pool would lose), then Linear + ReLU."""

    def __init__(self, out_dim: int = 128, width: int = 16, mel_bands: int = 4) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.stages = nn.Sequential(
            _stage(2, 1, width, 2), _stage(2, width, 2 * width, 1), _stage(2, 2 * width, 4 * width, 1)
        )
        self.pool = nn.AdaptiveAvgPool2d((1, mel_bands))
        self.fc = nn.Linear(4 * width * mel_bands, out_dim)

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        """The (B, out_dim) audio feature."""
        x = self.pool(self.stages(logmel.unsqueeze(1)))
        return torch.relu(self.fc(x.flatten(1)))


class MLPEncoder(nn.Module):
    """Two-layer perceptron over cached (B, in_dim) feature vectors: Linear + ReLU, Linear + ReLU."""

    def __init__(self, in_dim: int, out_dim: int = 128, hidden: int = 256) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim), nn.ReLU()
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """The (B, out_dim) feature."""
        return self.net(features)
