"""Media paths: a manifest's relative `path` resolved under a media root, never outside it."""

from pathlib import Path, PurePosixPath

from avnoisebench.errors import AvnbError


def media_path(root: Path, relative: str) -> Path:
    """`root / relative`, refusing absolute paths and any `..` that would leave the media root."""
    parts = PurePosixPath(relative).parts
    if not parts or PurePosixPath(relative).is_absolute() or any(p in ("..", "") for p in parts):
        raise AvnbError(f"media path {relative!r} is not a plain relative path; the manifest is damaged, rebuild it")
    return root.joinpath(*parts)
