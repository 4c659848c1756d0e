"""R(2+1)D-18 video encoder with torchvision's `r2plus1d_18` state_dict layout, and its weight loader."""

from pathlib import Path

import torch
from torch import nn

from avnoisebench.models.checkpoints import load_matching, read_checkpoint

FEATURE_DIM = 512
KINETICS_CLASSES = 400
_STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))


class Conv2Plus1D(nn.Sequential):
    """A (2+1)D convolution: spatial (1, 3, 3) conv, BN, ReLU, temporal (3, 1, 1) conv."""

    def __init__(self, in_planes: int, out_planes: int, mid_planes: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv3d(in_planes, mid_planes, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False),
            nn.BatchNorm3d(mid_planes),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid_planes, out_planes, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), bias=False),
        )


class BasicBlock(nn.Module):
    """Residual block of two (2+1)D convolutions; mid-planes keep the parameter count of a full 3x3x3 conv."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        mid_planes = (in_planes * planes * 27) // (in_planes * 9 + 3 * planes)
        self.conv1 = nn.Sequential(
            Conv2Plus1D(in_planes, planes, mid_planes, stride), nn.BatchNorm3d(planes), nn.ReLU(inplace=True)
        )
        self.conv2 = nn.Sequential(Conv2Plus1D(planes, planes, mid_planes), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv3d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm3d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Block output for a (B, C, T, H, W) input."""
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + shortcut)


class R2Plus1D18(nn.Module):
    """R(2+1)D-18 over (B, 3, T, H, W) normalised clips; forward gives the 512-d pooled feature, `classify` the
    Kinetics-400 logits of `fc`, which is kept for the state_dict layout and frozen (forward leaves it unused)."""

    out_dim = FEATURE_DIM

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv3d(3, 45, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
            nn.BatchNorm3d(45),
            nn.ReLU(inplace=True),
            nn.Conv3d(45, 64, (3, 1, 1), padding=(1, 0, 0), bias=False),
            nn.BatchNorm3d(64),
            nn.ReLU(inplace=True),
        )
        in_planes = 64
        for index, (planes, stride) in enumerate(_STAGES, start=1):
            self.add_module(
                f"layer{index}", nn.Sequential(BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes))
            )
            in_planes = planes
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(FEATURE_DIM, KINETICS_CLASSES)
        self._init_weights()
        self.fc.requires_grad_(False)

    def _init_weights(self) -> None:
        """torchvision's initialisation: He (fan-out) convs, unit BN, small-normal linear."""
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm3d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        """The (B, 512) pooled feature (non-negative)."""
        x = self.stem(clip)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x).flatten(1)

    def classify(self, clip: torch.Tensor) -> torch.Tensor:
        """The (B, 400) Kinetics-400 logits of the `fc` layer (meaningful only with Kinetics-400 weights)."""
        return self.fc(self(clip))


def load_torchvision_r2plus1d(model: R2Plus1D18, path: str | Path) -> None:
    """Load a local torchvision r2plus1d_18 state dict file into `model`; its `fc.*` entries are ignored."""
    expected = "a torchvision r2plus1d_18 state dict file (such as r2plus1d_18-91a641e6.pth)"
    load_matching(model, read_checkpoint(path, expected), source=path, expected=expected, ignore=("fc.",))
