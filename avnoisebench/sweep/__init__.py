"""Sweeps: TOML grids of harness runs, run resumably and in parallel into one results log."""

from avnoisebench.sweep.runner import Outcome, SweepSummary, run_sweep
from avnoisebench.sweep.spec import Cell, Sweep, expand, load_sweep

__all__ = ["Cell", "Outcome", "Sweep", "SweepSummary", "expand", "load_sweep", "run_sweep"]
