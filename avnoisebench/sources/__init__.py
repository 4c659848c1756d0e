"""Official annotation sources: download into a cache, or read local copies."""

from avnoisebench.sources.fetch import cache_dir, fetch

__all__ = ["cache_dir", "fetch"]
