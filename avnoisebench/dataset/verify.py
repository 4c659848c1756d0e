"""Re-check a benchmark folder against its lock file."""

from pathlib import Path

from avnoisebench.dataset.layout import LOCK, read_lock
from avnoisebench.hashing import sha256_file


def verify_folder(folder: Path) -> list[str]:
    """Problems found: files missing, changed, or not in the lock file; empty when the folder is intact."""
    expected = read_lock(folder).get("files", {})
    problems = []
    for relative, digest in expected.items():
        path = folder / relative
        if not path.is_file():
            problems.append(f"missing: {relative}")
        elif sha256_file(path) != digest:
            problems.append(f"changed: {relative}")
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    problems += [f"not in {LOCK}: {relative}" for relative in sorted(present - set(expected) - {LOCK})]
    return problems
