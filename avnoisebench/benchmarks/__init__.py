"""Benchmark builders: clean manifests from official annotations."""
