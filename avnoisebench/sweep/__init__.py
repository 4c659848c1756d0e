"""Sweeps: TOML grids of harness runs, run resumably and in parallel into one results log, or split into shards
(one per machine or SLURM array task) that each append to their own log."""

from avnoisebench.sweep.execute import Outcome, SweepSummary, run_sweep
from avnoisebench.sweep.spec import Cell, GridPoint, Shard, Sweep, expand, grid_points, load_sweep, sweep_cells

__all__ = [
    "Cell",
    "GridPoint",
    "Outcome",
    "Sweep",
    "Shard",
    "SweepSummary",
    "expand",
    "grid_points",
    "load_sweep",
    "run_sweep",
    "sweep_cells",
]
