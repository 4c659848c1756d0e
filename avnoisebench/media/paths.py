"""Media paths: a manifest's relative `path` resolved under a media root, never outside it; a fingerprint of files
for cache keys."""

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from avnoisebench.errors import AvnbError


def media_path(root: Path, relative: str) -> Path:
    """`root / relative`, refusing absolute paths and any `..` that would leave the media root."""
    parts = PurePosixPath(relative).parts
    if not parts or PurePosixPath(relative).is_absolute() or any(p in ("..", "") for p in parts):
        raise AvnbError(f"media path {relative!r} is not a plain relative path; the manifest is damaged, rebuild it")
    return root.joinpath(*parts)


def media_fingerprint(paths: Iterable[Path]) -> str:
    """SHA-256 over each file's resolved path, size and mtime_ns (a missing file counts as such), in the given
    order: a cache built from these files is stale when this changes."""
    digest = hashlib.sha256()
    folders: dict[str, str] = {}
    for path in paths:
        resolved = resolved_path(os.fspath(path), folders)
        try:
            stat = os.stat(resolved)
            facts = f"{stat.st_size} {stat.st_mtime_ns}"
        except FileNotFoundError:
            facts = "missing"
        digest.update(f"{resolved}\0{facts}\n".encode())
    return digest.hexdigest()


def resolved_path(path: str, folders: dict[str, str]) -> str:
    """`Path(path).resolve()` as a string, its folder resolved once per folder (`folders` caches them): the file's
    own name is followed only when it is a symbolic link."""
    head, name = os.path.split(path)
    folder = folders.get(head)
    if folder is None:
        folder = folders[head] = os.path.realpath(head or os.curdir)
    candidate = os.path.join(folder, name)
    return os.path.realpath(candidate) if os.path.islink(candidate) else candidate
