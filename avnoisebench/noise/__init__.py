"""Noise added to training splits: label noise (labels), synthetic noisy correspondence (correspondence) and the
noise step of a build (apply)."""

from avnoisebench.noise.labels import DEFAULT_CONFIGS, NoiseSpec, NoisyLabels, apply_label_noise, parse_noise_configs

__all__ = ["DEFAULT_CONFIGS", "NoiseSpec", "NoisyLabels", "apply_label_noise", "parse_noise_configs"]
