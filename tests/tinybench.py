"""A tiny Kinetics-style benchmark folder for media tests, and generated source videos named after its clips."""

import http.server
import os
import time
from collections import Counter
from pathlib import Path

from mediagen import make_video

from avnoisebench.dataset.benchmark import Benchmark, manifest_table
from avnoisebench.dataset.write import write_benchmark
from avnoisebench.noise.apply import apply_noise
from avnoisebench.noise.labels import parse_noise_configs

CLASSES = ("abseiling", "zumba")


def tiny_rows(train: int = 6, test: int = 4, start: int = 1, end: int = 3) -> list[dict]:
    """`train` + `test` clips alternating between two classes, each the window [start, end] of its own video."""
    rows = []
    for n in range(train + test):
        split, source_split = ("train", "train") if n < train else ("test", "val")
        youtube_id = f"yt{n:03d}{'-_x'[n % 3]}abcde"
        clip_id = f"{youtube_id}_{start:06d}_{end:06d}"
        label = n % len(CLASSES)
        rows.append(
            {
                "clip_id": clip_id,
                "youtube_id": youtube_id,
                "time_start": start,
                "time_end": end,
                "class_name": CLASSES[label],
                "clean_label": label,
                "path": f"kinetics400/{source_split}/{CLASSES[label]}/{clip_id}.mp4",
                "audio_clip_id": clip_id,
                "source_split": source_split,
                "split": split,
            }
        )
    return rows


def write_tiny_benchmark(out: Path, rows: list[dict]) -> Path:
    """A benchmark folder (clean config only) holding exactly `rows`."""
    columns = [c for c in rows[0] if c != "split"]
    tables = {
        split: manifest_table({c: [r[c] for r in rows if r["split"] == split] for c in columns})
        for split in ("train", "test")
    }
    benchmark = Benchmark(
        name="tiny",
        title="Tiny",
        description="Media test benchmark.",
        class_names=list(CLASSES),
        train=tables["train"],
        test=tables["test"],
        sources=(),
        recipe={},
        homepage="",
        license="",
    )
    return write_benchmark(apply_noise(benchmark, parse_noise_configs(defaults=("clean",)), None, seed=0), out)


def serve_sources(folder: Path, rows: list[dict], seconds: float = 4.0, size: str = "64x48") -> Path:
    """One generated video per clip in `folder`, named `{clip_id}.mp4` (hard links of one file)."""
    base = make_video(folder / ".base.mp4", seconds=seconds, size=size)
    for row in rows:
        os.link(base, folder / f"{row['clip_id']}.mp4")
    return folder


class SourceHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder and counts GET requests per file; waits `delay` s first; answers `status` instead if set."""

    requests: Counter[str] = Counter()
    cookies: list[str] = []
    status: int | None = None
    delay: float = 0.0

    def do_GET(self) -> None:
        type(self).requests[self.path.lstrip("/")] += 1
        type(self).cookies.append(self.headers.get("Cookie", ""))
        time.sleep(self.delay)
        if self.status is None:
            super().do_GET()
        else:
            self.send_error(self.status)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output clean."""


def source_handler(status: int | None = None, delay: float = 0.0) -> type[SourceHandler]:
    """A SourceHandler class with its own request counter."""
    return type("Sources", (SourceHandler,), {"requests": Counter(), "cookies": [], "status": status, "delay": delay})


def requested_clips(handler: type[SourceHandler]) -> set[str]:
    """clip_ids whose source file was requested."""
    return {path.removesuffix(".mp4") for path in handler.requests}
