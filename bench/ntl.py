"""Seconds per outer epoch of `ntl` versus a late-fusion CE epoch, same cached data, model and budget, same run.

Builds synthetic-av (default size, 30 % mismatched pairs, 60 % symmetric label noise) and its cached track in a
temporary folder, then times epochs of the `small` model: late-fusion CE through the harness loop, and NTL with no
warm-up so that every timed epoch is a whole outer epoch (omega pass, contrastive epoch, k-NN pass, supervised
epoch, diagnostics). One untimed CE epoch first warms up torch. Prints the medians, each NTL part's median and the
ratio NTL / CE (target <= 2.5: the method does two training passes per epoch by design).

    python bench/ntl.py [--epochs 6] [--batch-size 32] [--threads 1] [--option reuse_knn_features_for_omega=true]
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from avnoisebench.dataset.decoding import ClipSampling, LogMelConfig
from avnoisebench.harness.cache import cache_split
from avnoisebench.harness.data import CachedSource, TrainData
from avnoisebench.harness.loop import cross_entropy_loss, train_epochs
from avnoisebench.harness.method import Budget
from avnoisebench.harness.run import RunLog
from avnoisebench.harness.truth import HiddenTruth
from avnoisebench.models import build_model
from avnoisebench.noise.correspondence import CorrespondenceSpec
from avnoisebench.noise.labels import NoiseSpec
from avnoisebench.recipes.synthetic_av import SyntheticAvOptions, build_synthetic_av
from method.ntl import NTL

CONFIG = "nc30-sym60"
PARTS = ("omega_s", "contrastive_s", "knn_s", "supervised_s")


class _Timed(RunLog):
    """A RunLog that also records when each epoch line is written and what it says."""

    def __init__(self, run_dir: Path, truth: HiddenTruth | None = None) -> None:
        run_dir.mkdir()
        super().__init__(run_dir, truth=truth)
        self.stamps, self.lines = [time.perf_counter()], []

    def epoch(self, epoch: int, **metrics: float) -> None:
        super().epoch(epoch, **metrics)
        self.stamps.append(time.perf_counter())
        self.lines.append(metrics)


def ce_epochs(data: TrainData, num_classes: int, budget: Budget, run_dir: Path) -> list[float]:
    """Seconds of each late-fusion CE epoch."""
    torch.manual_seed(0)
    log = _Timed(run_dir)
    train_epochs(build_model("small", num_classes), data, budget, log, cross_entropy_loss)
    return list(np.diff(log.stamps))


def ntl_epochs(
    data: TrainData, num_classes: int, budget: Budget, run_dir: Path, truth: HiddenTruth, options: dict
) -> tuple[list[float], list[dict]]:
    """Seconds of each NTL outer epoch and its metrics lines."""
    torch.manual_seed(0)
    log = _Timed(run_dir, truth)
    NTL(warmup_epochs=0, **options).fit(build_model("small", num_classes), data, budget, log)
    return list(np.diff(log.stamps)), log.lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 is fastest for this model)")
    parser.add_argument("--option", action="append", default=[], help="an ntl option NAME=JSON, repeatable")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    options = {name: json.loads(value) for name, value in (o.split("=", 1) for o in args.option)}
    sampling = ClipSampling(num_frames=8, stride=0.25, num_views=10, short_side=64, crop=56)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        options = SyntheticAvOptions(
            out=root / "synthetic-av",
            media_root=root / "media",
            noise=(NoiseSpec.parse("sym60"),),
            nc_synthetic=(CorrespondenceSpec(0.3),),
        )
        [folder] = build_synthetic_av(options)
        cache = cache_split(folder, CONFIG, "train", root / "media", sampling, LogMelConfig(), root / "cache")
        num_classes = max(cache.clean_labels) + 1
        truth = HiddenTruth.from_lists(cache.labels, cache.clean_labels, cache.nc_flags, cache.valid)
        budget = Budget(epochs=args.epochs, batch_size=args.batch_size, lr=1e-3)
        data = TrainData(cache.labels, cache.valid, CachedSource(cache), num_classes, args.batch_size, budget.seed)
        ce_epochs(data, num_classes, Budget(epochs=1, batch_size=args.batch_size), root / "warm")
        ce = ce_epochs(data, num_classes, budget, root / "ce")
        ntl, lines = ntl_epochs(data, num_classes, budget, root / "ntl", truth, options)
    c, n = statistics.median(ce), statistics.median(ntl)
    print(f"{int(cache.valid.sum())} cached training clips, batch {args.batch_size}, {args.epochs} epochs each")
    print(f"late-fusion CE  {c:.3f} s/epoch   (all epochs: {', '.join(f'{t:.3f}' for t in ce)})")
    print(f"ntl             {n:.3f} s/epoch   (all epochs: {', '.join(f'{t:.3f}' for t in ntl)})")
    parts = {p: statistics.median(line.get(p, 0.0) for line in lines) for p in PARTS}
    print("ntl parts (median s): " + ", ".join(f"{p[:-2]} {v:.3f}" for p, v in parts.items()))
    print(f"ratio ntl / CE: {n / c:.3f} (target <= 2.5)")


if __name__ == "__main__":
    main()
