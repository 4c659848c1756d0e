"""Download source files once into the user cache, reporting progress, with an atomic rename."""

import os
import urllib.error
import urllib.request
from pathlib import Path

from avnoisebench.errors import AvnbError
from avnoisebench.progress import SILENT, Progress

CACHE_ENV = "AVNB_CACHE_DIR"
_CHUNK = 1 << 16


def cache_dir() -> Path:
    """The download cache: $AVNB_CACHE_DIR, else ~/.cache/avnoisebench."""
    override = os.environ.get(CACHE_ENV)
    return Path(override) if override else Path.home() / ".cache" / "avnoisebench"


def fetch(url: str, relative: str, local: str, progress: Progress = SILENT, timeout: float = 60.0) -> Path:
    """Return the cached copy of `url` at cache_dir()/relative, downloading it first if absent; a failed download
    names `local`, the option that reads the file from a local folder instead."""
    target = cache_dir() / relative
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            task = progress.task(f"download {target.name}", total, "bytes")
            try:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    task.advance(len(chunk))
            finally:
                task.close()
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise AvnbError(
            f"could not download {url} ({exc}); check the connection, or pass local files with {local} DIR"
        ) from exc
    os.replace(partial, target)
    return target
