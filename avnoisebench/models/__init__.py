"""The model zoo: paper backbones (R(2+1)D-18, PANNs ResNet-22), small and tiny CPU encoders, the fusion head,
`build_model`."""

from pathlib import Path

from avnoisebench.errors import AvnbError
from avnoisebench.models.av import AVModel
from avnoisebench.models.heads import FusionHead
from avnoisebench.models.panns import PANNsResNet22, SpecAugment, load_panns_checkpoint
from avnoisebench.models.r2plus1d import R2Plus1D18, load_torchvision_r2plus1d
from avnoisebench.models.small import MLPEncoder, SmallAudioEncoder, SmallVideoEncoder

MODEL_NAMES = ("r2plus1d18-panns22", "small", "tiny", "mlp")
PAPER_FEATURE_DIM = 512
PAPER_HEAD_HIDDEN = 512  # the fusion head's hidden width over the paper's backbones
SMALL_FEATURE_DIM = 128
CONV_SIZES = {"small": (16, SMALL_FEATURE_DIM), "tiny": (8, 64)}  # (conv width, default feature size)


def build_model(
    name: str,
    num_classes: int,
    feature_dim: int | None = None,
    visual_weights: str | Path | None = None,
    audio_weights: str | Path | None = None,
    *,
    video_dim: int | None = None,
    audio_dim: int | None = None,
    head_hidden: int | None = None,
    head_dropout: float = 0.0,
) -> AVModel:
    """An `AVModel` by name; pretrained weights (paper backbones only) come from the given local files, and the
    `mlp` model needs the cached features' `video_dim` and `audio_dim`. The fusion head's hidden width defaults to
    512 (the paper's) over encoders and to the concatenated feature width over the `mlp` projections, whose own
    hidden width is their output width: a projection head sized to its 128-d inputs, not to 512-d backbones."""
    if name not in MODEL_NAMES:
        raise AvnbError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    if name != "r2plus1d18-panns22" and (visual_weights or audio_weights):
        raise AvnbError(f"model {name!r} takes no pretrained weights; only r2plus1d18-panns22 does")
    if name == "r2plus1d18-panns22":
        if feature_dim not in (None, PAPER_FEATURE_DIM):
            raise AvnbError(f"model {name!r} has {PAPER_FEATURE_DIM}-d features (R(2+1)D-18), not {feature_dim}")
        video, audio = R2Plus1D18(), PANNsResNet22(out_dim=PAPER_FEATURE_DIM)
        if visual_weights:
            load_torchvision_r2plus1d(video, visual_weights)
        if audio_weights:
            load_panns_checkpoint(audio, audio_weights)
    elif name in CONV_SIZES:
        width, default_dim = CONV_SIZES[name]
        dim = feature_dim or default_dim
        video, audio = SmallVideoEncoder(dim, width), SmallAudioEncoder(dim, width)
    else:
        if video_dim is None or audio_dim is None:
            raise AvnbError("model 'mlp' runs on cached features: give video_dim and audio_dim (their lengths)")
        dim = feature_dim or SMALL_FEATURE_DIM
        video, audio = MLPEncoder(video_dim, dim, hidden=dim), MLPEncoder(audio_dim, dim, hidden=dim)
        head_hidden = head_hidden or video.out_dim + audio.out_dim
    head = FusionHead(num_classes, video.out_dim, audio.out_dim, head_hidden or PAPER_HEAD_HIDDEN, head_dropout)
    return AVModel(video, audio, head)


__all__ = [
    "MODEL_NAMES",
    "AVModel",
    "FusionHead",
    "MLPEncoder",
    "PANNsResNet22",
    "R2Plus1D18",
    "SmallAudioEncoder",
    "SmallVideoEncoder",
    "SpecAugment",
    "build_model",
    "load_panns_checkpoint",
    "load_torchvision_r2plus1d",
]
