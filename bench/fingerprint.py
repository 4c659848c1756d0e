"""The media fingerprint of a cache key (`avnoisebench.media.paths.media_fingerprint`) versus the plain way, pathlib's
`resolve()` and `stat()` per file, on the same files in the same run; both must give the same digest.

Every cached-track or features-track run fingerprints its splits' media before it loads them, so this is paid once
per run and split. Without --folder, it writes --files small files in a temporary folder, half of them reached
through a linked folder; with --folder, it takes a benchmark's training split as a run does (e.g. AV-MNIST-NC: 8,000
video and 8,000 audio paths). Prints the medians of --repeats (after one untimed call each) and the ratio plain /
ours.

    python bench/fingerprint.py [--files 16000] [--folder avnb-data/av-mnist --config nc40-sym60
        --media-root avnb-data/media] [--repeats 5]
"""

import argparse
import hashlib
import tempfile
from pathlib import Path

from timing import median_seconds

from avnoisebench.dataset.folder import open_folder
from avnoisebench.loaders.clips import ClipDataset
from avnoisebench.media.paths import media_fingerprint


def plain_fingerprint(paths: list[Path]) -> str:
    """The same digest, each file resolved by pathlib on its own."""
    digest = hashlib.sha256()
    for path in paths:
        resolved = Path(path).resolve()
        try:
            stat = resolved.stat()
            facts = f"{stat.st_size} {stat.st_mtime_ns}"
        except FileNotFoundError:
            facts = "missing"
        digest.update(f"{resolved}\0{facts}\n".encode())
    return digest.hexdigest()


def written_files(root: Path, count: int) -> list[Path]:
    """`count` small files in 10 folders, every other one named through a symbolic link to its folder."""
    paths = []
    for number in range(count):
        folder = root / "real" / f"{number % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{number}.mp4").write_bytes(b"clip")
        if not (root / "linked").exists():
            (root / "linked").symlink_to(root / "real")
        paths.append((root / ("linked" if number % 2 else "real")) / f"{number % 10}" / f"{number}.mp4")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=16000)
    parser.add_argument("--folder", type=Path, help="a benchmark folder: fingerprint its training split's media")
    parser.add_argument("--config", default="nc40-sym60")
    parser.add_argument("--media-root", type=Path, default=Path("avnb-data/media"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.folder is None:
            paths = written_files(Path(tmp), args.files)
        else:
            split = ClipDataset(open_folder(args.folder), args.config, "train", args.media_root, mode="eval")
            paths = [*split.video_paths, *split.audio_paths]
        ours, digest = median_seconds(lambda: media_fingerprint(paths), args.repeats)
        plain, expected = median_seconds(lambda: plain_fingerprint(paths), args.repeats)
    if digest != expected:
        raise SystemExit("the two fingerprints differ")
    print(f"{len(paths)} paths, same digest: ours {ours:.3f} s, plain {plain:.3f} s")
    print(f"ratio plain / ours: {plain / ours:.2f}")


if __name__ == "__main__":
    main()
