"""Benchmark folders: Hugging Face dataset layout, dataset card, noise cards, lock file, verify, info, load."""
