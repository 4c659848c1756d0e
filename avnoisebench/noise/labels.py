"""Synthetic label noise with exact per-class counts: symmetric and asymmetric (pair-flip) modes."""

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from avnoisebench.errors import AvnbError

MODES = ("clean", "sym", "asym")
DEFAULT_CONFIGS = ("clean", "sym20", "sym40", "sym60", "sym80", "asym20", "asym40")
_NAME = re.compile(r"^(sym|asym)(\d+)$")


@dataclass(frozen=True)
class NoiseSpec:
    """A label-noise setting: mode (`clean`, `sym`, `asym`) and rate in (0, 1); asym needs rate < 0.5."""

    mode: str
    rate: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise AvnbError(f"noise mode {self.mode!r} is unknown; use one of {', '.join(MODES)}")
        if self.mode == "clean":
            if self.rate != 0:
                raise AvnbError(f"noise mode 'clean' takes no rate (got {self.rate})")
            return
        if not 0 < self.rate < 1:
            raise AvnbError(f"noise rate {self.rate} for {self.mode} is outside (0, 1); e.g. sym40 means rate 0.4")
        if self.mode == "asym" and self.rate >= 0.5:
            raise AvnbError(
                f"asymmetric noise rate {self.rate} must be below 0.5: at 0.5 or more the flipped class "
                f"outnumbers the true one and the labels become unlearnable"
            )

    @property
    def name(self) -> str:
        """Config name: `clean`, or mode and rate in percent such as `sym40`."""
        return "clean" if self.mode == "clean" else f"{self.mode}{self.rate * 100:g}"

    @classmethod
    def parse(cls, text: str) -> "NoiseSpec":
        """Parse `clean`, `symNN` or `asymNN` (NN a percentage, 1-99)."""
        text = text.strip().lower()
        if text == "clean":
            return cls("clean")
        match = _NAME.match(text)
        if not match:
            raise AvnbError(
                f"noise config {text!r} is not understood; write clean, symNN or asymNN with NN the rate in percent "
                f"(e.g. sym40, asym20)"
            )
        return cls(match.group(1), int(match.group(2)) / 100)


def parse_noise_configs(extra: Iterable[str] = (), defaults: Iterable[str] = DEFAULT_CONFIGS) -> list[NoiseSpec]:
    """The default configs followed by `extra` ones, each name once, in order."""
    specs: dict[str, NoiseSpec] = {}
    for text in [*defaults, *extra]:
        spec = NoiseSpec.parse(text)
        specs.setdefault(spec.name, spec)
    return list(specs.values())


def flip_counts(clean: np.ndarray, num_classes: int, rate: float) -> np.ndarray:
    """Samples to relabel per class: round(rate * n_c), halves rounded up."""
    sizes = np.bincount(clean, minlength=num_classes)
    return np.floor(rate * sizes + 0.5).astype(np.int64)


def noise_rng(seed: int, spec: NoiseSpec) -> np.random.Generator:
    """The generator of one noise config: default_rng([seed, crc32(config name)])."""
    return np.random.default_rng([seed, zlib.crc32(spec.name.encode())])


def pair_flip_map(num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """t(pi_j) = pi_{(j+1) mod K} over a random permutation pi: a cyclic derangement of the classes."""
    perm = rng.permutation(num_classes)
    target = np.empty(num_classes, dtype=np.int64)
    target[perm] = np.roll(perm, -1)
    return target


@dataclass(frozen=True)
class NoisyLabels:
    """Observed labels of one noise config, with the flip flags and (asym) the class map."""

    spec: NoiseSpec
    seed: int
    labels: np.ndarray
    is_noisy: np.ndarray
    class_map: np.ndarray | None

    def card(self, clean: np.ndarray, class_names: list[str]) -> dict[str, Any]:
        """The noise card: mode, rate, seed, class map, realised rate and realised transition matrix."""
        k = len(class_names)
        counts = np.bincount(clean * k + self.labels, minlength=k * k).reshape(k, k)
        sizes = counts.sum(axis=1, keepdims=True)
        matrix = np.where(sizes > 0, counts / np.maximum(sizes, 1), np.eye(k))
        n = int(clean.size)
        return {
            "config": self.spec.name,
            "mode": self.spec.mode,
            "rate": self.spec.rate,
            "seed": self.seed,
            "generator": "numpy.random.default_rng([seed, zlib.crc32(config.encode())])",
            "per_class_count": "round(rate * n_c) per class, halves up; sym: target uniform over the other K-1 "
            "classes; asym: every flip of class c goes to class_map[c]",
            "split": "train",
            "num_samples": n,
            "num_noisy": int(self.is_noisy.sum()),
            "realised_rate": float(self.is_noisy.sum() / n) if n else 0.0,
            "classes": class_names,
            "class_map": None
            if self.class_map is None
            else {class_names[c]: class_names[t] for c, t in enumerate(self.class_map)},
            "transition_counts": counts.tolist(),
            "transition_matrix": matrix.tolist(),
        }


def apply_label_noise(clean: np.ndarray, num_classes: int, spec: NoiseSpec, seed: int) -> NoisyLabels:
    """Relabel exactly round(rate * n_c) samples of every class c as `spec` says, seeded by `seed`."""
    clean = np.asarray(clean, dtype=np.int64)
    if clean.size and (clean.min() < 0 or clean.max() >= num_classes):
        raise AvnbError(f"labels must lie in [0, {num_classes}); got values from {clean.min()} to {clean.max()}")
    labels = clean.copy()
    class_map = None
    if spec.mode != "clean":
        if num_classes < 2:
            raise AvnbError(f"label noise needs at least 2 classes; this benchmark has {num_classes}")
        rng = noise_rng(seed, spec)
        class_map = pair_flip_map(num_classes, rng) if spec.mode == "asym" else None
        counts = flip_counts(clean, num_classes, spec.rate)
        order = np.argsort(clean, kind="stable")
        starts = np.searchsorted(clean[order], np.arange(num_classes + 1))
        for c in range(num_classes):
            if counts[c] == 0:
                continue
            chosen = rng.choice(order[starts[c] : starts[c + 1]], size=counts[c], replace=False)
            if class_map is None:
                offsets = rng.integers(0, num_classes - 1, size=counts[c])
                labels[chosen] = offsets + (offsets >= c)
            else:
                labels[chosen] = class_map[c]
    return NoisyLabels(spec=spec, seed=seed, labels=labels, is_noisy=labels != clean, class_map=class_map)
