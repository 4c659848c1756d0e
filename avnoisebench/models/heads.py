"""The shared late-fusion head (G-Blend's two-FC head on concatenated features)."""

import torch
from torch import nn


class FusionHead(nn.Module):
    """concat(f_v, f_a) -> optional dropout -> Linear + ReLU -> Linear + ReLU -> Linear to class logits."""

    def __init__(
        self, num_classes: int, video_dim: int = 512, audio_dim: int = 512, hidden_dim: int = 512, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(video_dim + audio_dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim, num_classes)

    def forward(self, f_v: torch.Tensor, f_a: torch.Tensor) -> torch.Tensor:
        """(B, num_classes) logits from (B, video_dim) and (B, audio_dim) features."""
        x = self.dropout(torch.cat([f_v, f_a], dim=1))
        return self.out(torch.relu(self.fc2(torch.relu(self.fc1(x)))))
