"""Seconds per outer epoch of `ntl` versus a late-fusion CE epoch, same cached data, model and budget, same run.

Builds synthetic-av (default size, 30 % mismatched pairs, 60 % symmetric label noise) and its cached track in a
temporary folder, then times epochs of the `small` model: late-fusion CE through the harness loop, and NTL with no
warm-up so that every timed epoch is a whole outer epoch (omega, contrastive epoch, k-NN correction, supervised
epoch, diagnostics), once with the spec's defaults (two feature passes) and once per feature-saving deviation
(`reuse_knn_features_for_omega=true`: one pass; `feature_source=training_pass`: none). One untimed CE epoch first
warms up torch. Prints the medians, each NTL part's median, the ratios NTL / CE (target <= 2.5; 2.0 is the floor,
the method's two training passes) and the load average before and after, since the machine may be shared.

    python bench/ntl.py [--epochs 6] [--batch-size 32] [--threads 1] [--option NAME=VALUE ...]
"""

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from timing import load_average

from avnoisebench.dataset.decoding import ClipSampling, Decoding
from avnoisebench.dataset.folder import open_folder
from avnoisebench.harness.cache import cache_split
from avnoisebench.harness.data import CachedSource
from avnoisebench.harness.truth import HiddenTruth
from avnoisebench.models import build_model
from avnoisebench.noise.correspondence import CorrespondenceSpec
from avnoisebench.noise.labels import NoiseSpec
from avnoisebench.plugin import Budget, RunLog, TrainData, cross_entropy_loss, train_epochs
from avnoisebench.recipes.synthetic_av import SyntheticAvOptions, build_synthetic_av
from method.ntl import NTL

CONFIG = "nc30-sym60"
PARTS = ("omega_s", "contrastive_s", "knn_s", "supervised_s")
VARIANTS = {
    "spec (2 feature passes)": {},
    "reuse_knn_features_for_omega": {"reuse_knn_features_for_omega": "true"},
    "feature_source=training_pass": {"feature_source": "training_pass"},
}


@dataclass(frozen=True)
class Seconds:
    """Wall-clock and CPU (this process) seconds of each epoch; with one torch thread the CPU seconds are what the
    epoch computed, which other jobs on a shared machine inflate much less than the wall clock."""

    wall: list[float]
    cpu: list[float]

    def median(self) -> tuple[float, float]:
        """(median wall, median CPU) seconds."""
        return statistics.median(self.wall), statistics.median(self.cpu)


class _Timed(RunLog):
    """A RunLog that also records when each epoch line is written and what it says."""

    def __init__(self, run_dir: Path, truth: HiddenTruth | None = None) -> None:
        super().__init__(run_dir, truth=truth)
        self.stamps, self.cpu, self.lines = [time.perf_counter()], [time.process_time()], []

    def epoch(self, epoch: int, **metrics: float) -> None:
        super().epoch(epoch, **metrics)
        self.stamps.append(time.perf_counter())
        self.cpu.append(time.process_time())
        self.lines.append(metrics)

    def seconds(self) -> "Seconds":
        """Wall-clock and CPU seconds of each epoch."""
        return Seconds(list(np.diff(self.stamps)), list(np.diff(self.cpu)))


def ce_epochs(data: TrainData, num_classes: int, budget: Budget, run_dir: Path) -> Seconds:
    """Seconds of each late-fusion CE epoch."""
    torch.manual_seed(0)
    log = _Timed(run_dir)
    train_epochs(build_model("small", num_classes), data, budget, log, cross_entropy_loss)
    return log.seconds()


def ntl_epochs(
    data: TrainData, num_classes: int, budget: Budget, run_dir: Path, truth: HiddenTruth, options: dict[str, str]
) -> tuple[Seconds, list[dict]]:
    """Seconds of each NTL outer epoch and its metrics lines."""
    torch.manual_seed(0)
    log = _Timed(run_dir, truth)
    NTL(warmup_epochs=0, **options).fit(build_model("small", num_classes), data, budget, log)
    return log.seconds(), log.lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 is fastest for this model)")
    parser.add_argument("--option", action="append", default=[], help="an ntl option NAME=VALUE for every variant")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    common = dict(o.split("=", 1) for o in args.option)
    decoding = Decoding(ClipSampling(num_frames=8, stride=0.25, num_views=10, short_side=64, crop=56))
    print(f"load average before: {load_average()} ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build = SyntheticAvOptions(
            out=root / "synthetic-av",
            media_root=root / "media",
            noise=(NoiseSpec.parse("sym60"),),
            nc_synthetic=(CorrespondenceSpec(0.3),),
        )
        [folder] = build_synthetic_av(build)
        cache = cache_split(open_folder(folder), CONFIG, "train", root / "media", decoding, root / "cache")
        num_classes = max(cache.clean_labels) + 1
        truth = HiddenTruth.from_lists(cache.labels, cache.clean_labels, cache.nc_flags, cache.valid)
        budget = Budget(epochs=args.epochs, batch_size=args.batch_size, lr=1e-3)
        data = TrainData(cache.labels, cache.valid, CachedSource(cache), num_classes, args.batch_size, budget.seed)
        ce_epochs(data, num_classes, Budget(epochs=1, batch_size=args.batch_size), root / "warm")
        ce = ce_epochs(data, num_classes, budget, root / "ce")
        runs = {
            name: ntl_epochs(data, num_classes, budget, root / f"ntl{i}", truth, {**options, **common})
            for i, (name, options) in enumerate(VARIANTS.items())
        }
    c_wall, c_cpu = ce.median()
    print(f"{int(cache.valid.sum())} cached training clips, batch {args.batch_size}, {args.epochs} epochs each")
    print(f"late-fusion CE: {c_wall:.3f} s/epoch wall, {c_cpu:.3f} s CPU (wall: {listing(ce.wall)})")
    for name, (seconds, lines) in runs.items():
        n_wall, n_cpu = seconds.median()
        parts = {p: statistics.median(line.get(p, 0.0) for line in lines) for p in PARTS}
        print(f"ntl, {name}: {n_wall:.3f} s/epoch wall, {n_cpu:.3f} s CPU (wall: {listing(seconds.wall)})")
        print("    parts (median wall s): " + ", ".join(f"{p[:-2]} {v:.3f}" for p, v in parts.items()))
        print(f"    ratio ntl / CE: {n_wall / c_wall:.3f} wall, {n_cpu / c_cpu:.3f} CPU (target <= 2.5, floor 2.0)")
    print(f"load average after: {load_average()}")


def listing(values: list[float]) -> str:
    """Seconds as a short comma-separated list."""
    return ", ".join(f"{v:.3f}" for v in values)


if __name__ == "__main__":
    main()
