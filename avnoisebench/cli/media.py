"""`avnb download`, `avnb link`, `avnb status`, `avnb probe`: fill a media root with a folder's clips, report its
coverage, check media files."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from avnoisebench.cli.app import app, console, errors, exit_code, interrupted, user_errors
from avnoisebench.cli.progress import ConsoleProgress
from avnoisebench.media.coverage import Counts, coverage
from avnoisebench.media.download import DEFAULT_SOURCE_URL, DownloadOptions, download
from avnoisebench.media.failed import failed_clips
from avnoisebench.media.link import JOBS as LINK_JOBS
from avnoisebench.media.link import link
from avnoisebench.media.workers import RunInterrupted

Folder = Annotated[Path, typer.Argument(help="Benchmark folder (from `avnb build`).")]
MediaRoot = Annotated[Path, typer.Option("--media-root", help="Folder that holds the clips and their status log.")]
IDS_SHOWN = 10


@contextmanager
def _interruptible(action: str) -> Iterator[None]:
    """Ctrl-C or SIGTERM: one line saying what was kept and how to resume, then exit 130 (143 for SIGTERM); a run
    that stopped its workers first says so itself (RunInterrupted)."""
    kept = "clips finished so far are kept (avnb status lists them); run the same command again to resume"
    try:
        with interrupted(action, lambda: kept):
            yield
    except RunInterrupted as exc:
        errors.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(exit_code(exc.__cause__)) from exc


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
    with _interruptible("download"), ConsoleProgress(console) as progress:
        summary = download(folder, media_root, options, progress)
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
    with _interruptible("link"), ConsoleProgress(console) as progress:
        summary = link(folder, source, media_root, copy, jobs, progress)
    console.print(summary.text(), highlight=False)


def _row(name: str, counts: Counts) -> list[str]:
    failed = ", ".join(f"{category} {n}" for category, n in counts.failed.most_common())
    share = f"{100 * counts.ok / counts.total:.1f}%" if counts.total else "-"
    return [name, str(counts.total), str(counts.ok), share, str(counts.missing), failed]


def _ids(ids: list[str]) -> str:
    shown = ", ".join(ids[:IDS_SHOWN])
    return shown + (f" ... (+{len(ids) - IDS_SHOWN} more; --json lists all)" if len(ids) > IDS_SHOWN else "")


@app.command("status")
@user_errors
def status_command(
    folder: Folder,
    media_root: MediaRoot,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary instead of tables.")] = False,
) -> None:
    """Clips in place per split and per class: ok, missing, failed by category; and the failed clips' ids."""
    report = coverage(folder, media_root)
    failed = failed_clips(folder, media_root)
    if as_json:
        console.out(json.dumps({**report.as_dict(), "failed_clips": failed}, indent=1), highlight=False)
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
    for category, ids in failed.items():
        console.print(f"{category} ({len(ids)}): {_ids(ids)}", highlight=False, markup=False)


@app.command("probe")
@user_errors
def probe_command(
    files: Annotated[list[Path], typer.Argument(help="Media files to check.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file instead of text.")] = False,
) -> None:
    """Probe media files: streams, duration, frames, and whether the 10 views and the 2 s audio window decode."""
    from avnoisebench.media.check import check_media, describe  # decoders and torch: loaded when needed

    failed = 0
    for path in files:
        check = check_media(path)
        failed += not check.ok
        if as_json:
            console.out(json.dumps(check.as_dict(), default=str), highlight=False)
        else:
            console.print(describe(check), highlight=False, markup=False)
    if failed:
        raise typer.Exit(1)
