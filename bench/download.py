"""Loopback download + trim of 40 generated clips with --jobs 1 and --jobs 2, each into a fresh media root.

The clips are 10 s windows ([2, 12] s) of generated 14 s videos (320x240, test pattern + tone) served by an
`http.server` on 127.0.0.1, fetched by yt-dlp's generic extractor and cut by ffmpeg exactly as `avnb download`
does. Prints the seconds of each run and the ratio jobs 1 / jobs 2 (the speed-up of two workers).

    python bench/download.py
"""

import argparse
import http.server
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from tinybench import serve_sources, source_handler, tiny_rows, write_tiny_benchmark  # noqa: E402

from avnoisebench.media.download import DownloadOptions, download  # noqa: E402

CLIPS = 40


class QuietServer(http.server.ThreadingHTTPServer):
    """Drops the broken-pipe tracebacks of yt-dlp's generic extractor, which reads only the head of its first GET."""

    def handle_error(self, request: object, client_address: object) -> None:
        """Nothing to report."""


def timed_run(folder: Path, media_root: Path, base: str, jobs: int) -> float:
    options = DownloadOptions(jobs=jobs, source_url=f"{base}/{{clip_id}}.mp4")
    start = time.perf_counter()
    summary = download(folder, media_root, options)
    seconds = time.perf_counter() - start
    if summary.categories.get("ok") != CLIPS:
        raise SystemExit(f"--jobs {jobs}: expected {CLIPS} ok clips, got {dict(summary.categories)}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    rows = tiny_rows(train=CLIPS // 2, test=CLIPS // 2, start=2, end=12)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = write_tiny_benchmark(work / "bench", rows)
        (work / "sources").mkdir()
        sources = serve_sources(work / "sources", rows, seconds=14.0, size="320x240")
        handler = partial(source_handler(), directory=str(sources))
        server = QuietServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            one = timed_run(folder, work / "media-jobs1", base, 1)
            two = timed_run(folder, work / "media-jobs2", base, 2)
        finally:
            server.shutdown()
            server.server_close()
    print(f"{CLIPS} clips (10 s windows of 14 s 320x240 sources), loopback download + trim + verify")
    print(f"--jobs 1  {one:7.2f} s   ({one / CLIPS:.3f} s/clip)")
    print(f"--jobs 2  {two:7.2f} s   ({two / CLIPS:.3f} s/clip)")
    print(f"ratio jobs1/jobs2  {one / two:.2f}")


if __name__ == "__main__":
    main()
