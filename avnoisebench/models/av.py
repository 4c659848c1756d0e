"""The audio-visual model every method trains: two encoders into a common feature space and a fusion head."""

import torch
from torch import nn


class AVModel(nn.Module):
    """Video and audio encoders with equal `out_dim` (the common `feature_dim`) and a head over both features."""

    def __init__(self, video_encoder: nn.Module, audio_encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        if video_encoder.out_dim != audio_encoder.out_dim:
            raise ValueError(
                f"encoders must share one feature dimension, got video {video_encoder.out_dim}"
                f" and audio {audio_encoder.out_dim}"
            )
        self.video_encoder = video_encoder
        self.audio_encoder = audio_encoder
        self.head = head
        self.feature_dim: int = video_encoder.out_dim

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(f_v, f_a, logits) for a batch of video inputs and audio inputs."""
        f_v = self.video_encoder(video)
        f_a = self.audio_encoder(audio)
        return f_v, f_a, self.head(f_v, f_a)
