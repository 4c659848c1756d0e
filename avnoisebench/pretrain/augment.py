"""Label-free augmentations for contrastive pretraining: random views of uint8 clips and of log-mels, every random
choice drawn from the caller's `torch.Generator`."""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from avnoisebench.errors import AvnbError


@dataclass(frozen=True)
class VideoAugment:
    """Clip augmentation: affine warp, temporal shuffle/drop, colour randomisation, random erasing."""

    rotation: float = 15.0  # degrees either way
    zoom: tuple[float, float] = (0.75, 1.15)
    shift: float = 0.1  # fraction of the frame either way
    shuffle_p: float = 0.5  # frames in a random order
    drop_p: float = 0.5  # one frame replaced by a copy of another
    gain: float = 0.4  # per-channel gain in [1 - gain, 1 + gain]
    offset: float = 0.2  # per-channel offset in [-offset, offset]
    permute_channels: bool = True
    grey_p: float = 0.5
    erase_p: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.2)  # fraction of the frame, on every frame of the clip

    def __post_init__(self) -> None:
        _check_probabilities(self, ("shuffle_p", "drop_p", "grey_p", "erase_p"))
        if not (0 < self.zoom[0] <= self.zoom[1] and 0 < self.erase_area[0] <= self.erase_area[1] < 1):
            raise AvnbError(f"video augmentation: zoom {self.zoom} and erase_area {self.erase_area} must be (lo, hi)")


@dataclass(frozen=True)
class AudioAugment:
    """Log-mel augmentation: mix in another clip of the batch (power domain), time shift (wrapping around, or with
    probability `pad_p` shifted in from silence, as an eval window reaching past the recording is), mel shift."""

    mix_p: float = 0.5
    mix_weight: float = 0.3  # the other clip's weight in [0, mix_weight]
    time_shift: int = 10  # frames either way, wrapping around
    pad_p: float = 0.0
    pad_frames: int = 12  # frames either way, the frames shifted in set to pad_db
    pad_db: float = -100.0
    mel_shift: int = 2  # mel bins either way, edge bins repeated

    def __post_init__(self) -> None:
        _check_probabilities(self, ("mix_p", "mix_weight", "pad_p"))
        if min(self.time_shift, self.pad_frames, self.mel_shift) < 0:
            raise AvnbError("audio augmentation: shifts must not be negative")


def _check_probabilities(spec: object, names: tuple[str, ...]) -> None:
    for name in names:
        if not 0.0 <= getattr(spec, name) <= 1.0:
            raise AvnbError(f"{type(spec).__name__}.{name} must lie in [0, 1], got {getattr(spec, name)}")


def _uniform(generator: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def _chance(generator: torch.Generator, n: int, p: float) -> torch.Tensor:
    return torch.rand(n, generator=generator) < p


def augment_video(clips: torch.Tensor, spec: VideoAugment, generator: torch.Generator) -> torch.Tensor:
    """A random view in [0, 1] (B, 3, T, H, W) float of uint8 clips (B, 3, T, H, W)."""
    b, c, t, h, w = clips.shape
    frames = clips.transpose(1, 2).reshape(b * t, c * h * w)
    rows = (torch.arange(b).view(b, 1) * t + _frame_order(b, t, spec, generator)).flatten()
    x = frames.index_select(0, rows).view(b, t, c, h, w).transpose(1, 2).float().div_(255.0)
    x = _affine(x.reshape(b, c * t, h, w), spec, generator).view(b, c, t, h, w)
    x = _colour(x, spec, generator)
    return _erase(x, spec, generator)


def _affine(frames: torch.Tensor, spec: VideoAugment, generator: torch.Generator) -> torch.Tensor:
    b = frames.shape[0]
    angle = _uniform(generator, b, -spec.rotation, spec.rotation) * math.pi / 180
    scale = _uniform(generator, b, *spec.zoom)
    shift = _uniform(generator, 2 * b, -2 * spec.shift, 2 * spec.shift).view(b, 2)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(frames.shape), align_corners=False)
    return F.grid_sample(frames, grid, padding_mode="zeros", align_corners=False)


def _frame_order(b: int, t: int, spec: VideoAugment, generator: torch.Generator) -> torch.Tensor:
    order = torch.arange(t).repeat(b, 1)
    shuffled = torch.rand(b, t, generator=generator).argsort(dim=1)
    order = torch.where(_chance(generator, b, spec.shuffle_p)[:, None], shuffled, order)
    slot = torch.randint(t, (b,), generator=generator)
    source = torch.randint(t, (b,), generator=generator)
    dropped = order.clone()
    dropped[torch.arange(b), slot] = order[torch.arange(b), source]
    return torch.where(_chance(generator, b, spec.drop_p)[:, None], dropped, order)


def _colour(x: torch.Tensor, spec: VideoAugment, generator: torch.Generator) -> torch.Tensor:
    """Channel permutation, per-channel gain and offset, greyscale: one 3 x 3 matrix and offset per clip."""
    b, c = x.shape[:2]
    eye = torch.eye(c)
    mix = eye[torch.rand(b, c, generator=generator).argsort(dim=1)] if spec.permute_channels else eye.expand(b, c, c)
    mix = mix * _uniform(generator, b * c, 1 - spec.gain, 1 + spec.gain).view(b, c, 1)
    offset = _uniform(generator, b * c, -spec.offset, spec.offset).view(b, c, 1)
    grey = torch.where(_chance(generator, b, spec.grey_p).view(b, 1, 1), torch.full((c, c), 1 / c), eye)
    out = torch.baddbmm(grey @ offset, grey @ mix, x.reshape(b, c, -1))
    return out.clamp_(0.0, 1.0).view_as(x)


def _erase(x: torch.Tensor, spec: VideoAugment, generator: torch.Generator) -> torch.Tensor:
    b, c, _, h, w = x.shape
    area = _uniform(generator, b, *spec.erase_area) * h * w
    aspect = torch.exp(_uniform(generator, b, math.log(0.3), math.log(1 / 0.3)))
    eh = (area * aspect).sqrt().clamp(1, h)
    ew = (area / aspect).sqrt().clamp(1, w)
    top = torch.rand(b, generator=generator) * (h - eh)
    left = torch.rand(b, generator=generator) * (w - ew)
    rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    in_rows = (rows >= top.view(b, 1, 1)) & (rows < (top + eh).view(b, 1, 1))
    in_cols = (cols >= left.view(b, 1, 1)) & (cols < (left + ew).view(b, 1, 1))
    inside = in_rows & in_cols & _chance(generator, b, spec.erase_p).view(b, 1, 1)
    fill = torch.rand(b, c, generator=generator).view(b, c, 1, 1, 1)
    return torch.where(inside.view(b, 1, 1, h, w), fill, x)


def augment_audio(logmel: torch.Tensor, spec: AudioAugment, generator: torch.Generator) -> torch.Tensor:
    """A random view (B, frames, mels) of float log-mels in dB (B, frames, mels)."""
    b, frames, mels = logmel.shape
    x = logmel
    if spec.mix_p > 0:
        other = x[torch.randperm(b, generator=generator)]
        weight = (_uniform(generator, b, 0.0, spec.mix_weight) * _chance(generator, b, spec.mix_p)).view(b, 1, 1)
        power = (1 - weight) * torch.pow(10.0, x / 10) + weight * torch.pow(10.0, other / 10)
        x = 10 * torch.log10(power.clamp_min(torch.finfo(power.dtype).tiny))
    mel = torch.arange(mels) - torch.randint(-spec.mel_shift, spec.mel_shift + 1, (b, 1), generator=generator)
    x = x.gather(2, mel.clamp(0, mels - 1).view(b, 1, mels).expand(b, frames, mels))
    wrap = torch.randint(-spec.time_shift, spec.time_shift + 1, (b, 1), generator=generator)
    pad = torch.randint(-spec.pad_frames, spec.pad_frames + 1, (b, 1), generator=generator)
    padded = _chance(generator, b, spec.pad_p).view(b, 1)
    time = torch.arange(frames) - torch.where(padded, pad, wrap)
    x = x.gather(1, (time % frames).view(b, frames, 1).expand(b, frames, mels))
    silent = (padded & ((time < 0) | (time >= frames))).view(b, frames, 1)
    return torch.where(silent, torch.full_like(x, spec.pad_db), x)
