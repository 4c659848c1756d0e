"""Exact k-NN label rectification (`avnoisebench.ops.knn_rectify`) versus scikit-learn's brute-force cosine
NearestNeighbors on the same seeded random features, measured in the same run.

Each side runs in its own subprocess (so neither one's memory shows in the other's) and reports the wall and CPU
seconds (all threads) of the search (ours: neighbours and vote, i.e. knn_rectify; scikit-learn: fit and kneighbors,
the point itself excluded), its process's peak resident memory (VmHWM) and the threads it used. Then the parent prints
the speed ratio scikit-learn / ours (target >= 3 at a peak of at most 1 GB for N = 20,000, d = 1,024, k = 16), the
same ratio in CPU seconds, the load average around the run, and the neighbour agreement: a row agrees when both
neighbour sets are the same, or when both are top-k sets by exact float64 cosine up to --tolerance (ties); and the
rectified labels when the vote uses scikit-learn's neighbours instead.

    python bench/knn.py [--n 20000] [--dim 1024] [--k 16] [--classes 100] [--seed 0] [--backend auto]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

TARGET_RATIO, TARGET_PEAK_MB = 3.0, 1024


def features_and_labels(n: int, dim: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The seeded float32 features (N, d) and noisy labels (N,) both sides work on."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, dim), dtype=np.float32), rng.integers(0, classes, n)


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def cpu_seconds() -> float:
    """User and system CPU seconds this process (all its threads) has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def prepare_ours(x: np.ndarray, labels: np.ndarray, args: argparse.Namespace) -> Callable[[], dict]:
    """knn_rectify's two steps (neighbours, then the vote), ready to time, returning neighbours and rectified labels."""
    import torch

    from avnoisebench.ops.knn import neighbour_vote, top_k_neighbours

    features, noisy = torch.from_numpy(x), torch.from_numpy(labels)

    def run() -> dict:
        index, similarity = top_k_neighbours(features, args.k, backend=args.backend)
        return {"index": index.numpy(), "rectified": neighbour_vote(index, similarity, noisy, args.classes).numpy()}

    return run


def prepare_sklearn(x: np.ndarray, args: argparse.Namespace) -> Callable[[], dict]:
    """NearestNeighbors(algorithm="brute", metric="cosine") fit and query, ready to time, returning neighbours."""
    from sklearn.neighbors import NearestNeighbors

    def run() -> dict:
        model = NearestNeighbors(algorithm="brute", metric="cosine").fit(x)
        return {"index": model.kneighbors(n_neighbors=args.k, return_distance=False)}

    return run


def threads_and_engine(side: str, backend: str) -> dict:
    """The threads a side computes with (torch's, or the BLAS pool's) and what engine does the search ("auto" never
    takes faiss for a search within one set)."""
    if side == "sklearn":
        from threadpoolctl import threadpool_info

        blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        return {"threads": max(blas, default=1), "engine": "scikit-learn brute force"}
    import torch

    return {"threads": torch.get_num_threads(), "engine": "faiss" if backend == "faiss" else "torch tiles"}


def worker(args: argparse.Namespace) -> None:
    """One side in this process: writes its arrays and a JSON of seconds, peak memory and threads to --out."""
    x, labels = features_and_labels(args.n, args.dim, args.classes, args.seed)
    run = prepare_ours(x, labels, args) if args.worker == "ours" else prepare_sklearn(x, args)
    before = peak_mb()
    started, cpu_started = time.perf_counter(), cpu_seconds()
    arrays = run()
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    info = {"seconds": seconds, "cpu_seconds": cpu, "before_mb": before, "peak_mb": peak_mb()}
    info |= threads_and_engine(args.worker, args.backend)
    out = Path(args.out)
    np.savez(out / f"{args.worker}.npz", **arrays)
    (out / f"{args.worker}.json").write_text(json.dumps(info))


def spawn(side: str, out: Path, argv: list[str]) -> tuple[dict, dict]:
    """Run one side in a fresh interpreter and read back its arrays and report."""
    subprocess.run([sys.executable, __file__, *argv, "--worker", side, "--out", str(out)], check=True)
    with np.load(out / f"{side}.npz") as arrays:
        return dict(arrays), json.loads((out / f"{side}.json").read_text())


def agreement(x: np.ndarray, ours: np.ndarray, theirs: np.ndarray, k: int, tolerance: float) -> tuple[int, int]:
    """(rows with identical neighbour sets, rows whose differing sets are both top-k sets up to ties)."""
    same = (np.sort(ours, axis=1) == np.sort(theirs, axis=1)).all(axis=1)
    unit = x.astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    tied = 0
    for row in np.flatnonzero(~same):
        cosine = unit @ unit[row]
        cosine[row] = -np.inf
        kth = np.partition(cosine, -k)[-k]
        tied += bool(cosine[ours[row]].min() >= kth - tolerance and cosine[theirs[row]].min() >= kth - tolerance)
    return int(same.sum()), tied


def vote_with(x: np.ndarray, index: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """Rectified labels from the given neighbours through the project's vote (float32 cosines as weights)."""
    import torch

    from avnoisebench.ops.knn import neighbour_vote

    unit = torch.nn.functional.normalize(torch.from_numpy(x), dim=1)
    neighbours = torch.from_numpy(index)
    similarity = torch.einsum("nkd,nd->nk", unit[neighbours], unit)
    return neighbour_vote(neighbours, similarity, torch.from_numpy(labels), classes).numpy()


def describe(name: str, info: dict) -> str:
    """One line of a side's numbers."""
    return (
        f"{name:<13} {info['seconds']:7.2f} s (CPU {info['cpu_seconds']:6.2f} s)   peak {info['peak_mb']:5.0f} MB"
        f" (before the call {info['before_mb']:.0f})   {info['threads']} threads, {info['engine']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="auto", help="top_k_neighbours backend: auto, torch or faiss")
    parser.add_argument("--tolerance", type=float, default=1e-5, help="cosine slack for ties at the k-th neighbour")
    parser.add_argument("--worker", choices=("ours", "sklearn"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    argv = [f"--{name}={getattr(args, name)}" for name in ("n", "dim", "k", "classes", "seed", "backend")]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        ours, our_info = spawn("ours", Path(tmp), argv)
        theirs, their_info = spawn("sklearn", Path(tmp), argv)
    load_after = os.getloadavg()
    x, labels = features_and_labels(args.n, args.dim, args.classes, args.seed)
    same, tied = agreement(x, ours["index"], theirs["index"], args.k, args.tolerance)
    labels_equal = int((vote_with(x, theirs["index"], labels, args.classes) == ours["rectified"]).sum())
    ratio = their_info["seconds"] / our_info["seconds"]
    print(f"N = {args.n}, d = {args.dim}, k = {args.k}, seed {args.seed}; {os.cpu_count()} CPUs")
    print(
        f"load average (1, 5, 15 min): before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, after "
        f"{load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}"
    )
    print(describe("ours", our_info))
    print(describe("scikit-learn", their_info))
    print(f"neighbour sets: {same}/{args.n} identical, {tied} more equal up to ties, {args.n - same - tied} differ")
    print(f"rectified labels from scikit-learn's neighbours: {labels_equal}/{args.n} equal to ours")
    met = ratio >= TARGET_RATIO and our_info["peak_mb"] <= TARGET_PEAK_MB
    cpu_ratio = their_info["cpu_seconds"] / our_info["cpu_seconds"]
    print(f"CPU-time ratio scikit-learn / ours: {cpu_ratio:.2f} (less sensitive to other load on the machine)")
    print(
        f"ratio scikit-learn / ours: {ratio:.2f} (target >= {TARGET_RATIO:g} at <= {TARGET_PEAK_MB} MB peak: "
        f"{'met' if met else 'missed'})"
    )


if __name__ == "__main__":
    main()
