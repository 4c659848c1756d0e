"""Label noise (and, later, correspondence noise) injected into training splits."""

from avnoisebench.noise.labels import DEFAULT_CONFIGS, NoiseSpec, NoisyLabels, apply_label_noise, parse_noise_configs

__all__ = ["DEFAULT_CONFIGS", "NoiseSpec", "NoisyLabels", "apply_label_noise", "parse_noise_configs"]
