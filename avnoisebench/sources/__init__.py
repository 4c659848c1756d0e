"""Official annotation sources: download into a cache, or read local copies."""

from avnoisebench.sources.fetch import SourceFile, cache_dir, fetch

__all__ = ["SourceFile", "cache_dir", "fetch"]
