"""Benchmark definitions as data (class lists, sampling recipes), installed as avnoisebench.annotations."""
