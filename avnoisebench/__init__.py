"""avnoisebench: benchmarks, baselines and a reference method for audio-visual learning under noisy labels."""

from avnoisebench.dataset.folder import BenchmarkFolder
from avnoisebench.dataset.load import load
from avnoisebench.evaluation.results import load_results
from avnoisebench.provenance import package_version

__version__ = package_version()

__all__ = ["BenchmarkFolder", "__version__", "load", "load_results"]
