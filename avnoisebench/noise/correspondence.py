"""Synthetic noisy correspondence: exactly round(rate * n_c) training samples per class hear another class's audio."""

import re
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from avnoisebench.errors import AvnbError
from avnoisebench.noise.labels import flip_counts

_NAME = re.compile(r"^(?:nc)?(\d+(?:\.\d+)?)$")
DEFAULT_LEVELS = ("nc0", "nc10", "nc20", "nc30", "nc40")


@dataclass(frozen=True)
class CorrespondenceSpec:
    """A correspondence-noise level: the share of training samples per class whose audio is replaced, in [0, 1)."""

    rate: float

    def __post_init__(self) -> None:
        if not 0 <= self.rate < 1:
            raise AvnbError(
                f"correspondence-noise rate {self.rate} is outside [0, 1); e.g. nc30 (or 0.3) means 30 % of the "
                f"training pairs get another class's audio"
            )

    @property
    def name(self) -> str:
        """Level name: `nc` and the rate in percent, e.g. `nc30`."""
        return f"nc{self.rate * 100:g}"

    @classmethod
    def parse(cls, text: str) -> "CorrespondenceSpec":
        """Parse `nc30` or `30` (percent) or `0.3` (a number below 1 is a fraction)."""
        cleaned = text.strip().lower()
        match = _NAME.match(cleaned)
        if not match:
            raise AvnbError(
                f"correspondence level {text!r} is not understood; write ncNN, NN (percent) or a fraction such "
                f"as 0.3, several separated by commas"
            )
        value = float(match.group(1))
        is_fraction = value < 1 and not cleaned.startswith("nc")
        return cls(round(value if is_fraction else value / 100, 6))


def parse_correspondence_levels(texts: str | list[str]) -> list[CorrespondenceSpec]:
    """Levels from comma-separated or repeated texts, each once, in order (`0,0.2` or `nc0,nc20` or `0 20`)."""
    items = [texts] if isinstance(texts, str) else texts
    specs: dict[str, CorrespondenceSpec] = {}
    for item in items:
        for part in item.split(","):
            if part.strip():
                spec = CorrespondenceSpec.parse(part)
                specs.setdefault(spec.name, spec)
    if not specs:
        raise AvnbError("no correspondence level given; write e.g. --nc-synthetic 0.2 or --nc-synthetic 0,10,20")
    return list(specs.values())


def combined_config(level: CorrespondenceSpec, label_config: str) -> str:
    """The config name of a correspondence level and a label-noise config, e.g. `nc30-sym40`."""
    return f"{level.name}-{label_config}"


@dataclass(frozen=True)
class Mismatch:
    """Which row's audio each training row carries (`audio_row`, itself when matched) and the mismatch flags."""

    spec: CorrespondenceSpec
    seed: int
    audio_row: np.ndarray
    nc_flag: np.ndarray

    def card(self, clean: np.ndarray, class_names: list[str]) -> dict[str, Any]:
        """The correspondence part of a noise card: level, seed, counts and (video class, audio class) counts."""
        k = len(class_names)
        pairs = np.bincount(clean * k + clean[self.audio_row], minlength=k * k).reshape(k, k)
        n = int(clean.size)
        return {
            "level": self.spec.name,
            "rate": self.spec.rate,
            "seed": self.seed,
            "generator": "numpy.random.default_rng([seed, zlib.crc32(level.encode())])",
            "per_class_count": "round(rate * n_c) per class, halves up; each chosen row takes the audio of a row "
            "drawn uniformly from a class drawn uniformly among the other classes that have rows",
            "split": "train",
            "num_samples": n,
            "num_mismatched": int(self.nc_flag.sum()),
            "realised_rate": float(self.nc_flag.sum() / n) if n else 0.0,
            "mismatched_per_class": {
                class_names[c]: int(self.nc_flag[clean == c].sum()) for c in range(k) if (clean == c).any()
            },
            "video_audio_class_counts": pairs.tolist(),
        }


def apply_correspondence_noise(clean: np.ndarray, num_classes: int, spec: CorrespondenceSpec, seed: int) -> Mismatch:
    """Give exactly round(rate * n_c) rows of every class c the audio of a row of another class, seeded by `seed`."""
    clean = np.asarray(clean, dtype=np.int64)
    audio_row = np.arange(clean.size)
    if spec.rate > 0:
        members = [np.flatnonzero(clean == c) for c in range(num_classes)]
        present = np.array([c for c in range(num_classes) if members[c].size])
        if present.size < 2:
            raise AvnbError(
                f"correspondence noise needs training rows of at least 2 classes; this split has {present.size}"
            )
        rng = np.random.default_rng([seed, zlib.crc32(spec.name.encode())])
        counts = flip_counts(clean, num_classes, spec.rate)
        for c in present:
            if counts[c] == 0:
                continue
            chosen = rng.choice(members[c], size=counts[c], replace=False)
            others = present[present != c]
            donor_classes = others[rng.integers(0, others.size, size=counts[c])]
            audio_row[chosen] = [members[d][rng.integers(0, members[d].size)] for d in donor_classes]
    return Mismatch(spec=spec, seed=seed, audio_row=audio_row, nc_flag=audio_row != np.arange(clean.size))
