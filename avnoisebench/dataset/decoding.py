"""How a benchmark's clips are decoded: clip sampling and the log-mel front end, each range-checked on creation.

The settings are part of a benchmark's definition (its card recommends them); `avnoisebench.media` decodes with them.
"""

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from avnoisebench.errors import AvnbError


def _check(owner: object, rules: dict[str, tuple[bool, str]]) -> None:
    """Raise one AvnbError naming the first field whose rule fails."""
    for name, (ok, rule) in rules.items():
        if not ok:
            raise AvnbError(f"{type(owner).__name__}.{name} = {getattr(owner, name)!r} {rule}")


def _whole(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


@dataclass(frozen=True)
class ClipSampling:
    """How clips are cut from a video and shaped for the visual encoder."""

    num_frames: int = 8
    stride: float = 0.25
    num_views: int = 10
    short_side: int = 128
    crop: int = 112

    def __post_init__(self) -> None:
        _check(
            self,
            {
                "num_frames": (_whole(self.num_frames, 1), "must be a whole number of at least 1"),
                "stride": (_positive(self.stride), "must be a positive number of seconds"),
                "num_views": (_whole(self.num_views, 1), "must be a whole number of at least 1"),
                "crop": (_whole(self.crop, 1), "must be a whole number of pixels, at least 1"),
                "short_side": (
                    _whole(self.short_side, 1) and self.short_side >= self.crop,
                    f"must be a whole number of pixels, at least the crop ({self.crop})",
                ),
            },
        )

    @property
    def span(self) -> float:
        """Seconds one clip covers (2 s by default, the length of the audio window)."""
        return self.num_frames * self.stride

    def view_starts(self, duration: float) -> np.ndarray:
        """Start times of the evaluation views: start_i = i * max(D - L, 0) / (V - 1), D the duration and L the span,
        so the first view starts at 0 and the last ends at D (one centred view when V = 1)."""
        if self.num_views == 1:
            return np.array([max(duration - self.span, 0.0) / 2])
        return np.arange(self.num_views) * max(duration - self.span, 0.0) / (self.num_views - 1)

    def train_start(self, duration: float, rng: np.random.Generator) -> float:
        """A random start time for a training clip."""
        return float(rng.uniform(0.0, max(duration - self.span, 0.0)))

    def frame_times(self, starts: np.ndarray) -> np.ndarray:
        """Times of every clip's frames, shape (len(starts), num_frames)."""
        return np.asarray(starts, dtype=np.float64)[:, None] + (np.arange(self.num_frames) + 0.5) * self.stride


@dataclass(frozen=True)
class LogMelConfig:
    """Front-end constants; the defaults are PANNs' (32 kHz, n_fft 1024, hop 320, 64 mels, 50-14,000 Hz)."""

    sample_rate: int = 32_000
    n_fft: int = 1024
    hop: int = 320
    n_mels: int = 64
    fmin: float = 50.0
    fmax: float = 14_000.0
    window_seconds: float = 2.0
    amin: float = 1e-10
    ref: float = 1.0

    def __post_init__(self) -> None:
        nyquist = self.sample_rate / 2 if _whole(self.sample_rate, 1) else math.inf
        _check(
            self,
            {
                "sample_rate": (_whole(self.sample_rate, 1), "must be a whole number of Hz, at least 1"),
                "n_fft": (_whole(self.n_fft, 1), "must be a whole number of samples, at least 1"),
                "hop": (_whole(self.hop, 1), "must be a whole number of samples, at least 1"),
                "n_mels": (_whole(self.n_mels, 1), "must be a whole number of bands, at least 1"),
                "fmin": (isinstance(self.fmin, int | float) and 0 <= self.fmin < nyquist, "must lie in [0, rate/2)"),
                "fmax": (_positive(self.fmax) and self.fmin < self.fmax <= nyquist, "must lie in (fmin, rate/2]"),
                "window_seconds": (_positive(self.window_seconds), "must be a positive number of seconds"),
                "amin": (_positive(self.amin), "must be a positive number"),
                "ref": (_positive(self.ref), "must be a positive number"),
            },
        )

    @property
    def window_samples(self) -> int:
        """Samples in one audio window (64,000 by default)."""
        return round(self.window_seconds * self.sample_rate)

    @property
    def num_frames(self) -> int:
        """Spectrogram frames of one window (201 by default)."""
        return self.window_samples // self.hop + 1


@dataclass(frozen=True)
class Decoding:
    """A benchmark's decoding recipe: how clips are sampled and how their audio becomes log-mels."""

    sampling: ClipSampling = ClipSampling()
    audio: LogMelConfig = LogMelConfig()

    @classmethod
    def from_recipe(cls, recipe: dict[str, Any], source: str) -> "Decoding":
        """The `decoding` table of a card's recipe (`sampling` and `audio` fields; the paper's values elsewhere)."""
        known = {"sampling": {f.name for f in fields(ClipSampling)}, "audio": {f.name for f in fields(LogMelConfig)}}
        for part, names in known.items():
            unknown = sorted(set(recipe.get(part, {})) - names)
            if unknown:
                raise AvnbError(f"{source}: decoding {part} has no setting {unknown[0]!r}; rebuild the folder")
        return cls(ClipSampling(**recipe.get("sampling", {})), LogMelConfig(**recipe.get("audio", {})))

    def with_sampling(self, **overrides: Any) -> "Decoding":
        """This recipe with the given ClipSampling fields replaced (None keeps the recipe's value)."""
        values = {f.name: getattr(self.sampling, f.name) for f in fields(ClipSampling)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return Decoding(ClipSampling(**values), self.audio)
