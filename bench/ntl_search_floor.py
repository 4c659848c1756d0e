"""Seconds of `ntl`'s exact whole-set k-NN searches per run, against their BLAS floor and against a sweep's seconds per
cell, measured in the same run.

Per outer epoch `ntl` makes three exact searches over the N training clips (docs/methods.md 2.10): the omega pass
searches the video and the audio embeddings, the k-NN correction their concatenation. Each is timed as
`top_k_neighbours` runs it (the row itself excluded) and as its floor: one matmul of the unit rows with themselves,
halved, since a search within one set needs only the similarities above the diagonal (numpy's BLAS on one thread, as
the search's own matmuls run). Beside them, the alternative the floor suggests: dense strips of rows against all rows
(the whole matmul, one torch.topk per strip, no merging), and how many rows' neighbour sets it changes (products that
round differently, and which of exactly tied neighbours is kept), each of which changes an `ntl` result. The rows are
a features-track cache entry's features (--features: the frozen encoders' features, which the embeddings project) or
seeded clusters. Per run the seconds are multiplied by the epochs after the warm-up (the paper's 60 epochs: 55 with
searches). Prints the medians of --repeats, the per-run totals and their shares of --cell-seconds (default: the
ablation + gamma budget, 45 min at --jobs 2 over their 87 cells), and the load average before and after.

    python bench/ntl_search_floor.py [--features avnb-data/cache/av-mnist-train-features-...] [--n 8000] [--dim 128]
        [--clusters 10] [--spread 1.0] [--k 16] [--epochs 60] [--threads 1] [--repeats 3]
"""

import argparse
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits
from timing import load_average, median_seconds

from avnoisebench.ops.knn import top_k_neighbours
from method.ntl import PAPER_EPOCHS, PAPER_WARMUP

BUDGET_SECONDS, BUDGET_JOBS, BUDGET_CELLS = 45 * 60, 2, 15 + 72
STRIP = 256


def dense_strips(unit: np.ndarray, k: int, side: int = STRIP) -> torch.Tensor:
    """Indices (N, k) of each unit row's k most similar other rows: `side` rows at a time against all rows (one BLAS
    matmul, the row itself at -inf, one torch.topk)."""
    n = len(unit)
    strip, indices = torch.empty(side, n), torch.empty(n, k, dtype=torch.long)
    with threadpool_limits(1, user_api="blas"):
        for start in range(0, n, side):
            block = strip[: min(side, n - start)]
            np.matmul(unit[start : start + len(block)], unit.T, out=block.numpy())
            block[:, start : start + len(block)].diagonal().fill_(float("-inf"))
            indices[start : start + len(block)] = block.topk(k, dim=1).indices
    return indices


def search_seconds(rows: torch.Tensor, k: int, repeats: int) -> tuple[float, float, float, int]:
    """Median seconds of one search among `rows` (top_k_neighbours, its BLAS floor, dense strips) and the number of
    rows whose neighbour set the dense strips change."""
    unit = F.normalize(rows.float(), dim=1).numpy()
    product = np.empty((len(unit), len(unit)), dtype=np.float32)

    def floor() -> None:
        with threadpool_limits(1, user_api="blas"):
            np.matmul(unit, unit.T, out=product)

    ours, (neighbours, _) = median_seconds(lambda: top_k_neighbours(rows, k), repeats)
    strips, dense = median_seconds(lambda: dense_strips(unit, k), repeats)
    changed = int((dense.sort(dim=1).values != neighbours.sort(dim=1).values).any(dim=1).sum())
    return ours, median_seconds(floor, repeats)[0] / 2, strips, changed


def searched_rows(args: argparse.Namespace) -> dict[str, torch.Tensor]:
    """The three searches' rows: a features-track cache entry's video and audio features and their concatenation,
    or seeded clusters (args.clusters Gaussian centres, unit noise around them)."""
    if args.features is not None:
        video, audio = (torch.from_numpy(np.load(args.features / f"{m}.npy")).flatten(1) for m in ("video", "audio"))
    else:
        rng = np.random.default_rng(args.seed)
        centre = rng.integers(0, args.clusters, args.n)
        video, audio = (
            torch.from_numpy(
                (rng.standard_normal((args.clusters, args.dim)) * args.spread)[centre]
                + rng.standard_normal((args.n, args.dim))
            ).float()
            for _ in range(2)
        )
    return {"omega, video": video, "omega, audio": audio, "correction": torch.cat([video, audio], dim=1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, help="a features-track cache entry (its video.npy and audio.npy)")
    parser.add_argument("--n", type=int, default=8000, help="clips, without --features (AV-MNIST-NC: 8,000)")
    parser.add_argument("--dim", type=int, default=128, help="width per modality, without --features (mlp: 128)")
    parser.add_argument("--clusters", type=int, default=10, help="clusters, without --features (the classes)")
    parser.add_argument("--spread", type=float, default=1.0, help="the clusters' centre scale against unit noise")
    parser.add_argument("--k", type=int, default=16, help="neighbours (ntl's default below 10,000 clips: 16)")
    parser.add_argument("--epochs", type=int, default=PAPER_EPOCHS)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a sweep cell at --jobs 2 on 2 cores: 1)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cell-seconds", type=float, default=BUDGET_SECONDS * BUDGET_JOBS / BUDGET_CELLS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    search_epochs = args.epochs - round(PAPER_WARMUP * args.epochs / PAPER_EPOCHS)
    print(f"load average before: {load_average()} ({os.cpu_count()} cores); {args.threads} torch thread(s)")
    per_epoch = np.zeros(3)
    for name, rows in searched_rows(args).items():
        ours, floor, strips, changed = search_seconds(rows, args.k, args.repeats)
        per_epoch += (ours, floor, strips)
        print(
            f"{name} search, N {len(rows)}, d {rows.shape[1]}, k {args.k}: {ours:.3f} s; floor {floor:.3f} s (ours / "
            f"floor {ours / floor:.2f}); dense strips {strips:.3f} s (ours / strips {ours / strips:.2f}, {changed} of "
            f"{len(rows)} neighbour sets changed)"
        )
    ours_run, floor_run, strips_run = per_epoch * search_epochs
    print(
        f"per run ({search_epochs} epochs with searches): {ours_run:.1f} s, floor {floor_run:.1f} s, dense strips "
        f"{strips_run:.1f} s"
    )
    print(
        f"of {args.cell_seconds:.1f} s per cell: searches {ours_run / args.cell_seconds:.2f}, floor "
        f"{floor_run / args.cell_seconds:.2f}, dense strips {strips_run / args.cell_seconds:.2f}"
    )
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
