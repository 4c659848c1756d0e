"""The CPU encoders as pretraining sees them: built with a seed, fed the harness's inputs, saved and loaded by key."""

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from avnoisebench.errors import AvnbError
from avnoisebench.media.decode import normalize_video
from avnoisebench.models import CONV_SIZES, build_model

MODALITIES = ("video", "audio")


def build_encoder(model: str, modality: str, seed: int) -> nn.Module:
    """A freshly initialised encoder of `model` (`small` or `tiny`) for one modality, its weights drawn from `seed`
    (the global RNG is left as it was)."""
    if model not in CONV_SIZES:
        raise AvnbError(f"pretraining takes model {' or '.join(map(repr, CONV_SIZES))}, not {model!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return getattr(build_model(model, num_classes=2), f"{modality}_encoder")


def load_encoders(state: Mapping[str, torch.Tensor], model: str) -> dict[str, nn.Module]:
    """Both encoders of `model` (eval mode) loaded strictly from a state dict keyed `video_encoder.*` and
    `audio_encoder.*`."""
    encoders = {}
    for modality in MODALITIES:
        prefix = f"{modality}_encoder."
        encoder = build_encoder(model, modality, seed=0)
        try:
            encoder.load_state_dict({k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)})
        except RuntimeError as error:
            raise AvnbError(f"the weights do not fit model {model!r}'s {modality} encoder: {error}") from None
        encoders[modality] = encoder.eval()
    unknown = sorted(k for k in state if not k.startswith(tuple(f"{m}_encoder." for m in MODALITIES)))
    if unknown:
        raise AvnbError(f"the weights hold keys of no encoder: {', '.join(unknown[:5])}")
    return encoders


def encoder_input(modality: str, batch: torch.Tensor) -> torch.Tensor:
    """What the harness feeds an encoder: normalised float clips from uint8 ones, float32 log-mels."""
    return normalize_video(batch) if modality == "video" else batch.float()


@torch.no_grad()
def fold_standardisation(encoder: nn.Module, mean: float, std: float) -> None:
    """Make an audio encoder trained on standardised log-mels, (x - mean) / std, take raw ones (x): its first
    convolution's weights are divided by `std` and the BatchNorm after it absorbs the shift in its running mean. Exact
    away from the convolution's zero padding, which now stands for 0 dB instead of `mean`."""
    conv, norm = encoder.stages[0][0], encoder.stages[0][1]
    if not (isinstance(conv, nn.Conv2d) and conv.bias is None and isinstance(norm, nn.BatchNorm2d)):
        raise TypeError(f"{type(encoder).__name__} does not start with a bias-free Conv2d and a BatchNorm2d")
    norm.running_mean += (mean / std) * conv.weight.sum(dim=(1, 2, 3))
    conv.weight /= std


@torch.no_grad()
def extract_features(encoder: nn.Module, modality: str, array: np.ndarray, batch_size: int = 512) -> torch.Tensor:
    """L2-normalised features (N, D) of an eval-mode encoder over clips (N, V, ...) with V views (their normalised
    features averaged over views) or (N, ...)."""
    single = 5 if modality == "video" else 3
    views = array[:, None] if array.ndim == single else array
    features = []
    for start in range(0, len(views), batch_size):
        chunk = torch.from_numpy(np.array(views[start : start + batch_size]))
        n, v = chunk.shape[:2]
        out = F.normalize(encoder(encoder_input(modality, chunk.flatten(0, 1))), dim=1)
        features.append(F.normalize(out.view(n, v, -1).mean(dim=1), dim=1))
    return torch.cat(features)
