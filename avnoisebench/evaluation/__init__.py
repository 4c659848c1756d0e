"""Evaluation: validated prediction files, C@1/C@5/V@1, the results log."""
