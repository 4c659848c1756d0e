"""Sweeps: TOML grids of harness runs, run resumably and in parallel into one results log."""

from avnoisebench.sweep.execute import Outcome, SweepSummary, run_sweep
from avnoisebench.sweep.spec import Cell, GridPoint, Sweep, expand, grid_points, load_sweep

__all__ = [
    "Cell",
    "GridPoint",
    "Outcome",
    "Sweep",
    "SweepSummary",
    "expand",
    "grid_points",
    "load_sweep",
    "run_sweep",
]
