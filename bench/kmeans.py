"""XDC*'s hand-written torch k-means (`baselines.xdc.kmeans`) versus `sklearn.cluster.KMeans`, same features, same
run: should XDC* switch to scikit-learn?

The features are what XDC* clusters: encoder-like features (ReLU of a seeded 10-class Gaussian mixture, as AV-MNIST
has 10 classes) of the `tiny` (64-d) and `small` (128-d) encoders for N = 8,000, and 512-d for N = 20,000, passed
through `baselines.xdc.pca_whiten` with XDC*'s default `pca_dim` (256, so the 64-d and 128-d features keep all their
components), then clustered into XDC*'s default 64 clusters with at most its 20 Lloyd iterations. Both sides seed
k-means++ (scikit-learn: `n_init=1`, `tol=0`, i.e. stop when no assignment changes, as the torch version does).

Each side runs in its own subprocess per case and thread count (torch's default, and one thread as the sweeps run
XDC*), so that neither one's thread pools or the other's load disturb it; it times --repeats runs after one untimed
warm-up. Prints the median and fastest seconds, the ratio of the medians torch / scikit-learn (above 1: scikit-learn
is faster), scikit-learn's Lloyd iterations, inertia (sum of squared distances to the cluster means) and the NMI
between the two labelings, next to the NMI between each side's runs from two seeds (64 clusters of 10-class data have
many equally good partitions, so that is the agreement to expect), and the load average around the run.

    python bench/kmeans.py [--repeats 5] [--seed 0]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from timing import load_average

CASES = {"tiny": (8000, 64), "small": (8000, 128), "512-d": (20000, 512)}
CLASSES = 10


def xdc_points(case: str, seed: int) -> np.ndarray:
    """The case's encoder-like features (ReLU of a seeded CLASSES-class Gaussian mixture), PCA-whitened and
    L2-normalised by XDC*'s own `pca_whiten` at its default `pca_dim`."""
    import torch

    from baselines.xdc import XDCOptions, pca_whiten

    n, dim = CASES[case]
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CLASSES, dim))
    x = np.maximum(centres[rng.integers(0, CLASSES, n)] + 1.5 * rng.normal(size=(n, dim)), 0)
    return pca_whiten(torch.from_numpy(x.astype(np.float32)), XDCOptions().pca_dim).numpy()


def worker(args: argparse.Namespace) -> None:
    """One side, one case, one thread count in this process: times, labels of two seeds and iterations to --out."""
    import torch
    from threadpoolctl import threadpool_limits

    from baselines.xdc import XDCOptions, kmeans

    options = XDCOptions()
    k, iterations = options.clusters, options.kmeans_iterations
    points = xdc_points(args.case, args.seed)
    torch.set_num_threads(args.threads)

    def run(seed: int) -> tuple[np.ndarray, int]:
        if args.worker == "torch":
            return kmeans(
                torch.from_numpy(points), k, torch.Generator().manual_seed(seed), iterations
            ).labels.numpy(), 0
        from sklearn.cluster import KMeans

        model = KMeans(k, init="k-means++", n_init=1, max_iter=iterations, tol=0, random_state=seed).fit(points)
        return model.labels_, model.n_iter_

    with threadpool_limits(args.threads):
        run(args.seed)
        seconds = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            labels, count = run(args.seed)
            seconds.append(time.perf_counter() - started)
        other_seed = run(args.seed + 1)[0]
    out = Path(args.out)
    np.savez(out / f"{args.worker}.npz", labels=labels, other_seed=other_seed)
    (out / f"{args.worker}.json").write_text(json.dumps({"seconds": seconds, "iterations": count}))


def spawn(side: str, case: str, threads: int, args: argparse.Namespace, out: Path) -> tuple[dict, dict]:
    """Run one side in a fresh interpreter and read back its labels and timings."""
    command = [sys.executable, __file__, "--worker", side, "--case", case, "--threads", str(threads)]
    command += ["--repeats", str(args.repeats), "--seed", str(args.seed), "--out", str(out)]
    subprocess.run(command, check=True)
    with np.load(out / f"{side}.npz") as arrays:
        return dict(arrays), json.loads((out / f"{side}.json").read_text())


def inertia(points: np.ndarray, labels: np.ndarray) -> float:
    """Sum of squared distances of the points to the mean of their cluster."""
    k = int(labels.max()) + 1
    sums = np.zeros((k, points.shape[1]))
    np.add.at(sums, labels, points)
    means = sums / np.maximum(np.bincount(labels, minlength=k), 1)[:, None]
    return float(((points - means[labels]) ** 2).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", choices=("torch", "sklearn"), help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=tuple(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    import torch
    from sklearn.metrics import normalized_mutual_info_score as nmi

    from baselines.xdc import XDCOptions

    options = XDCOptions()
    default_threads = torch.get_num_threads()
    print(
        f"k = {options.clusters}, pca_dim = {options.pca_dim}, at most {options.kmeans_iterations} Lloyd iterations; "
        f"{args.repeats} timed runs each after a warm-up; {os.cpu_count()} CPUs, torch's default {default_threads} "
        f"threads; load average {load_average()}"
    )
    for threads in sorted({default_threads, 1}, reverse=True):
        for case, (n, dim) in CASES.items():
            points = xdc_points(case, args.seed)
            with tempfile.TemporaryDirectory() as tmp:
                ours, our_times = spawn("torch", case, threads, args, Path(tmp))
                theirs, their_times = spawn("sklearn", case, threads, args, Path(tmp))
            torch_s, sklearn_s = (statistics.median(t["seconds"]) for t in (our_times, their_times))
            print(
                f"{threads} thread(s) {case:>6} N={n:>5} d={dim:>3}->{points.shape[1]:>3}: torch {torch_s:6.3f} s "
                f"(fastest {min(our_times['seconds']):.3f}), scikit-learn {sklearn_s:6.3f} s (fastest "
                f"{min(their_times['seconds']):.3f}, {their_times['iterations']} it), ratio torch/sklearn "
                f"{torch_s / sklearn_s:5.2f}; inertia {inertia(points, ours['labels']):.1f} vs "
                f"{inertia(points, theirs['labels']):.1f}; NMI {nmi(ours['labels'], theirs['labels']):.3f} (seeds "
                f"{args.seed} vs {args.seed + 1}: torch {nmi(ours['labels'], ours['other_seed']):.3f}, scikit-learn "
                f"{nmi(theirs['labels'], theirs['other_seed']):.3f}); load {load_average()}"
            )


if __name__ == "__main__":
    main()
