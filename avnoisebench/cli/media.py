"""`avnb download`, `avnb link`, `avnb status`: fill a media root with a folder's clips, report coverage."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from avnoisebench.cli.app import app, console, user_errors
from avnoisebench.cli.progress import ConsoleProgress
from avnoisebench.media.coverage import Counts, coverage
from avnoisebench.media.download import DEFAULT_SOURCE_URL, DownloadOptions, download
from avnoisebench.media.link import JOBS as LINK_JOBS
from avnoisebench.media.link import link
from avnoisebench.media.status import StatusRecord

Folder = Annotated[Path, typer.Argument(help="Benchmark folder (from `avnb build`).")]
MediaRoot = Annotated[Path, typer.Option("--media-root", help="Folder that holds the clips and their status log.")]


class _ClipBar(ConsoleProgress):
    """Console progress as the media runner's Reporter: one step per clip record."""

    def __init__(self, action: str) -> None:
        super().__init__(console)
        self.action = action

    def start(self, total: int) -> None:
        self.clips = self.task(self.action, total, "clips")

    def advance(self, record: StatusRecord) -> None:
        self.clips.advance(failed=not record.ok)


@app.command("download")
@user_errors
def download_command(
    folder: Folder,
    media_root: MediaRoot,
    jobs: Annotated[
        int, typer.Option(help="Clips downloaded in parallel (many provoke YouTube's rate limit).")
    ] = DownloadOptions.jobs,
    shard: Annotated[
        str | None, typer.Option(help="Only shard i of n (1-based, e.g. 3/8) of the clips sorted by clip_id.")
    ] = None,
    split: Annotated[str | None, typer.Option(help="Only this split: train or test.")] = None,
    cookies: Annotated[Path | None, typer.Option(help="Netscape cookies.txt passed to yt-dlp.")] = None,
    source_url: Annotated[
        str, typer.Option(help="URL template: {youtube_id}, {clip_id}, {time_start}, {time_end}.")
    ] = DEFAULT_SOURCE_URL,
    retry_failed: Annotated[
        bool, typer.Option(help="Also retry clips that failed for good (unavailable, ...).")
    ] = False,
    max_throttled: Annotated[
        int, typer.Option(help="Stop after this many rate-limit / bot-check failures in a row.")
    ] = DownloadOptions.max_throttled,
    backoff: Annotated[
        float, typer.Option(help="First back-off in seconds after a rate limit; doubles each time.")
    ] = DownloadOptions.backoff,
) -> None:
    """Download, cut (frame-accurate, H.264 + AAC) and verify the clips of a benchmark folder; reruns resume."""
    options = DownloadOptions(
        jobs=jobs,
        shard=shard,
        split=split,
        cookies=cookies,
        source_url=source_url,
        retry_failed=retry_failed,
        max_throttled=max_throttled,
        backoff=backoff,
    )
    with _ClipBar("download") as bar:
        summary = download(folder, media_root, options, bar)
    console.print(summary.text(), highlight=False)


@app.command("link")
@user_errors
def link_command(
    folder: Folder,
    source: Annotated[Path, typer.Option("--from", help="Folder with local copies (CVDF, ActivityNet, UCF-101).")],
    media_root: MediaRoot,
    copy: Annotated[
        bool, typer.Option(help="Copy files instead of hard-linking (symlink across filesystems).")
    ] = False,
    jobs: Annotated[int, typer.Option(help="Files verified in parallel.")] = LINK_JOBS,
) -> None:
    """Adopt local copies named {youtube_id}_{start:06d}_{end:06d}.mp4 (or v_*.avi for UCF101) into a media root."""
    with _ClipBar("link") as bar:
        summary = link(folder, source, media_root, copy, jobs, bar)
    console.print(summary.text(), highlight=False)


def _row(name: str, counts: Counts) -> list[str]:
    failed = ", ".join(f"{category} {n}" for category, n in counts.failed.most_common())
    share = f"{100 * counts.ok / counts.total:.1f}%" if counts.total else "-"
    return [name, str(counts.total), str(counts.ok), share, str(counts.missing), failed]


@app.command("status")
@user_errors
def status_command(
    folder: Folder,
    media_root: MediaRoot,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary instead of tables.")] = False,
) -> None:
    """Clips in place per split and per class: ok, missing, failed by category."""
    report = coverage(folder, media_root)
    if as_json:
        console.out(json.dumps(report.as_dict(), indent=1), highlight=False)
        return
    columns = ("clips", "ok", "available", "missing", "failed")
    splits = Table("split", *columns, title=f"{folder} in {media_root}")
    for name, counts in [*report.splits.items(), ("all", report.overall)]:
        splits.add_row(*_row(name, counts))
    classes = Table("class", *columns)
    for name, counts in report.classes.items():
        classes.add_row(*_row(name, counts))
    console.print(splits)
    console.print(classes)
