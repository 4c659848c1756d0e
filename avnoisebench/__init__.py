"""avnoisebench: benchmarks, baselines and a reference method for audio-visual learning under noisy labels."""

__version__ = "0.1.0"

from avnoisebench.dataset.load import load  # noqa: E402

__all__ = ["__version__", "load"]
