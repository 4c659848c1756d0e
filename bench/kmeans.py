"""XDC*'s hand-written torch k-means (`baselines.xdc.kmeans`) versus `sklearn.cluster.KMeans`, same features, same
run: should XDC* switch to scikit-learn?

The features are what XDC* clusters: encoder-like features (ReLU of a seeded 10-class Gaussian mixture, as AV-MNIST
has 10 classes) of the `tiny` (64-d) and `small` (128-d) encoders for N = 8,000, and 512-d for N = 20,000, passed
through `baselines.xdc.pca_whiten` with XDC*'s default `pca_dim` (256, so the 64-d and 128-d features keep all their
components), then clustered into XDC*'s default 64 clusters with at most its 20 Lloyd iterations. Both sides seed
k-means++ (scikit-learn: `n_init=1`, `tol=0`, i.e. stop when no assignment changes, as the torch version does) and are
timed alternately, --repeats times each, at the default thread count and at one thread (the sweeps run XDC* with one
torch thread per job). Prints the median seconds, the ratio torch / scikit-learn (above 1: scikit-learn is faster),
scikit-learn's Lloyd iterations, inertia (sum of squared distances to the cluster means) and the NMI between the two
labelings, next to the NMI between each side's runs from two seeds (64 clusters of 10-class data have many equally good
partitions, so that is the agreement to expect).

    python bench/kmeans.py [--repeats 3] [--seed 0]
"""

import argparse
import os
import statistics
import time

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score
from threadpoolctl import threadpool_limits

from baselines.xdc import XDCOptions, kmeans, pca_whiten

CASES = (("tiny", 8000, 64), ("small", 8000, 128), ("512-d", 20000, 512))
CLASSES = 10


def encoder_like(n: int, dim: int, seed: int) -> torch.Tensor:
    """ReLU of a seeded CLASSES-class Gaussian mixture (N, dim), float32."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CLASSES, dim))
    x = centres[rng.integers(0, CLASSES, n)] + 1.5 * rng.normal(size=(n, dim))
    return torch.from_numpy(np.maximum(x, 0).astype(np.float32))


def inertia(points: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Sum of squared distances of the points to the mean of their cluster."""
    sums = np.zeros((k, points.shape[1]))
    np.add.at(sums, labels, points)
    means = sums / np.maximum(np.bincount(labels, minlength=k), 1)[:, None]
    return float(((points - means[labels]) ** 2).sum())


def compare(points: torch.Tensor, k: int, iterations: int, seed: int, repeats: int) -> dict:
    """Both k-means on the same points, timed alternately; medians, iterations, inertia, the NMI between the two and,
    as its yardstick, the NMI between each one's runs from two seeds."""
    array = points.numpy()
    fitted = {}

    def ours(seed: int) -> np.ndarray:
        return kmeans(points, k, torch.Generator().manual_seed(seed), iterations).labels.numpy()

    def sklearn(seed: int) -> np.ndarray:
        fitted["model"] = KMeans(k, init="k-means++", n_init=1, max_iter=iterations, tol=0, random_state=seed)
        return fitted["model"].fit(array).labels_

    seconds, labels = {"torch": [], "sklearn": []}, {}
    for _ in range(repeats):
        for name, run in (("torch", ours), ("sklearn", sklearn)):
            started = time.perf_counter()
            labels[name] = run(seed)
            seconds[name].append(time.perf_counter() - started)
    sklearn_iterations = fitted["model"].n_iter_
    torch_s, sklearn_s = statistics.median(seconds["torch"]), statistics.median(seconds["sklearn"])
    return {
        "torch_s": torch_s,
        "sklearn_s": sklearn_s,
        "ratio": torch_s / sklearn_s,
        "sklearn_iterations": sklearn_iterations,
        "torch_inertia": inertia(array, labels["torch"], k),
        "sklearn_inertia": inertia(array, labels["sklearn"], k),
        "nmi": normalized_mutual_info_score(labels["torch"], labels["sklearn"]),
        "nmi_torch_seeds": normalized_mutual_info_score(labels["torch"], ours(seed + 1)),
        "nmi_sklearn_seeds": normalized_mutual_info_score(labels["sklearn"], sklearn(seed + 1)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    options = XDCOptions()
    k, pca_dim, iterations = options.clusters, options.pca_dim, options.kmeans_iterations
    default_threads = torch.get_num_threads()
    print(f"k = {k}, pca_dim = {pca_dim}, at most {iterations} Lloyd iterations; median of {args.repeats} runs each")
    print(f"load average at start (1, 5, 15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        with threadpool_limits(threads):
            for name, n, dim in CASES:
                points = pca_whiten(encoder_like(n, dim, args.seed), pca_dim)
                r = compare(points, k, iterations, args.seed, args.repeats)
                print(
                    f"{threads} thread(s) {name:>6} N={n:>5} d={dim:>3}->{points.shape[1]:>3}: torch "
                    f"{r['torch_s']:6.3f} s, scikit-learn {r['sklearn_s']:6.3f} s ({r['sklearn_iterations']} it), "
                    f"ratio torch/sklearn {r['ratio']:5.2f}; inertia {r['torch_inertia']:.1f} vs "
                    f"{r['sklearn_inertia']:.1f}; NMI {r['nmi']:.3f} (seed {args.seed} vs {args.seed + 1}: torch "
                    f"{r['nmi_torch_seeds']:.3f}, scikit-learn {r['nmi_sklearn_seeds']:.3f})"
                )
    torch.set_num_threads(default_threads)
    print(f"load average at end (1, 5, 15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
