"""Loopback download + trim of 40 generated clips with --jobs 1 and --jobs 2, each into a fresh media root.

The clips are 10 s windows ([2, 12] s) of one generated 14 s video (320x240, test pattern + tone) served under each
clip's name by an `http.server` on 127.0.0.1, fetched by yt-dlp's generic extractor, cut by ffmpeg and verified
exactly as `avnb download` does. Prints the seconds of each run and the ratio jobs 1 / jobs 2 (the speed-up of two
workers).

    python bench/download.py
"""

import argparse
import http.server
import os
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

import ffmpeg

from avnoisebench.dataset.benchmark import Benchmark, manifest_table
from avnoisebench.dataset.write import write_benchmark
from avnoisebench.media.download import DownloadOptions, download
from avnoisebench.noise.apply import apply_noise
from avnoisebench.noise.labels import parse_noise_configs

CLIPS = 40
START, END, SOURCE_SECONDS = 2, 12, 14.0
CLASSES = ("abseiling", "zumba")


class QuietServer(http.server.ThreadingHTTPServer):
    """Drops the broken-pipe tracebacks of yt-dlp's generic extractor, which reads only the head of its first GET."""

    def handle_error(self, request: object, client_address: object) -> None:
        """Nothing to report."""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the sources folder without a log line per request."""

    def log_message(self, format: str, *args: object) -> None:
        """Nothing to report."""


def clip_ids() -> list[str]:
    """Kinetics-style ids of the benchmark's clips: half train, half test."""
    return [f"bench{n:06d}_{START:06d}_{END:06d}" for n in range(CLIPS)]


def write_folder(out: Path) -> Path:
    """A benchmark folder (clean config) of the CLIPS clips, alternating between two classes."""
    tables = {}
    for split, ids in (("train", clip_ids()[: CLIPS // 2]), ("test", clip_ids()[CLIPS // 2 :])):
        labels = [n % len(CLASSES) for n in range(len(ids))]
        tables[split] = manifest_table(
            {
                "clip_id": ids,
                "youtube_id": [clip_id.split("_")[0] for clip_id in ids],
                "time_start": [START] * len(ids),
                "time_end": [END] * len(ids),
                "class_name": [CLASSES[label] for label in labels],
                "clean_label": labels,
                "path": [f"kinetics400/{split}/{CLASSES[label]}/{i}.mp4" for i, label in zip(ids, labels, strict=True)],
                "audio_clip_id": ids,
                "source_split": [split] * len(ids),
            }
        )
    benchmark = Benchmark(
        name="download-bench",
        title="Download bench",
        description="Generated clips served on loopback.",
        class_names=list(CLASSES),
        train=tables["train"],
        test=tables["test"],
        sources=(),
        recipe={},
        homepage="",
        license="",
    )
    return write_benchmark(apply_noise(benchmark, parse_noise_configs(defaults=("clean",)), None, seed=0), out)


def write_sources(folder: Path) -> Path:
    """One 14 s 320x240 source video (test pattern + tone), hard-linked under every clip's name."""
    folder.mkdir(parents=True)
    video = ffmpeg.input(f"testsrc2=size=320x240:rate=25:duration={SOURCE_SECONDS}", f="lavfi")
    tone = ffmpeg.input(f"sine=frequency=440:sample_rate=44100:duration={SOURCE_SECONDS}", f="lavfi")
    base = folder / ".source.mp4"
    codecs = {"c:v": "libx264", "pix_fmt": "yuv420p", "c:a": "aac"}
    ffmpeg.output(video, tone, str(base.absolute()), **codecs).global_args("-v", "error").overwrite_output().run()
    for clip_id in clip_ids():
        os.link(base, folder / f"{clip_id}.mp4")
    return folder


def timed_run(folder: Path, media_root: Path, base: str, jobs: int) -> float:
    """Seconds to download every clip into a fresh media root with `jobs` workers."""
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
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = write_folder(work / "bench")
        sources = write_sources(work / "sources")
        server = QuietServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(sources)))
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
