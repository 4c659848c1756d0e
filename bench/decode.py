"""10-view evaluation decoding on the real clips in ../shared/data/media.

Compares, per file and in total: decode-once with decord (what the loaders do), one seek per view with
decord (the same reader asked for each view's frames separately), decode-once with PyAV, and the floor:
`ffmpeg -an -f null` decoding every frame of the same file. Prints views/s and the ratios
decode-once vs per-view (target >= 1.5) and decode-once time vs floor time (target <= 2).

    python bench/decode.py [--repeats 5]
"""

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import ffmpeg
import numpy as np
import torch

from avnoisebench.dataset.decoding import ClipSampling
from avnoisebench.media.decode import clip_tensor, decode_eval_views, open_video
from avnoisebench.media.tools import run_ffmpeg, tool_path

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "media"
SAMPLING = ClipSampling()


def per_view_seeking(path: Path) -> None:
    with open_video(path, "decord") as video:
        for start in SAMPLING.view_starts(video.duration):
            clip_tensor(video.frames_at(SAMPLING.frame_times(np.array([start]))[0]), SAMPLING, None)


def ffmpeg_floor(path: Path) -> None:
    run_ffmpeg(ffmpeg.input(tool_path(path)).output("pipe:", f="null", an=None))


def seconds(run: Callable[[Path], object], path: Path, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not MEDIA.is_dir():
        raise SystemExit(f"reference media not found at {MEDIA}")
    torch.set_num_threads(1)
    strategies = {
        "once-decord": lambda p: decode_eval_views(p, SAMPLING, "decord"),
        "per-view-decord": per_view_seeking,
        "once-pyav": lambda p: decode_eval_views(p, SAMPLING, "pyav"),
        "ffmpeg-floor": ffmpeg_floor,
    }
    files = sorted(p for p in MEDIA.iterdir() if p.suffix in {".mp4", ".mkv", ".avi", ".webm"})
    totals = dict.fromkeys(strategies, 0.0)
    print(
        f"{'file':<26}"
        + "".join(f"{name:>18}" for name in strategies)
        + "   (views/s; floor: whole-file decodes/s x 10)"
    )
    for path in files:
        row = {name: seconds(run, path, args.repeats) for name, run in strategies.items()}
        for name, value in row.items():
            totals[name] += value
        print(f"{path.name:<26}" + "".join(f"{SAMPLING.num_views / row[n]:>18.1f}" for n in strategies))
    views = SAMPLING.num_views * len(files)
    print(f"{'all files':<26}" + "".join(f"{views / totals[n]:>18.1f}" for n in strategies))
    speedup = totals["per-view-decord"] / totals["once-decord"]
    print(f"decode-once vs per-view seeking: {speedup:.2f}x faster (target >= 1.5)")
    print(f"decode-once time / ffmpeg floor time: {totals['once-decord'] / totals['ffmpeg-floor']:.2f} (target <= 2)")
    print(f"PyAV decode-once time / decord decode-once time: {totals['once-pyav'] / totals['once-decord']:.2f}")


if __name__ == "__main__":
    main()
