"""Write a benchmark folder atomically from a NoisyBenchmark: Parquet manifests, noise cards, dataset card, lock file.

Only serialisation happens here; the noise step (`avnoisebench.noise.apply`) made every table and card before."""

import json
import os
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from avnoisebench.dataset.benchmark import NoisyBenchmark
from avnoisebench.dataset.card import features_json, render_card
from avnoisebench.dataset.layout import CARD, LOCK, TEST_FILE, noise_card_file, train_file
from avnoisebench.errors import AvnbError
from avnoisebench.hashing import sha256_bytes
from avnoisebench.provenance import package_version


def check_writable(folder: Path, option: str) -> None:
    """Refuse `folder` (the place `option` writes in) when the nearest folder that exists at or above it is not a
    folder this process can create files in; probes with an empty folder it removes at once."""
    base = folder
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise AvnbError(
            f"{option}: {base} is a file, not a folder; choose an {option} whose parent folders are folders"
        )
    try:
        probe = tempfile.mkdtemp(prefix=".avnb-probe-", dir=base)
    except OSError as exc:
        raise AvnbError(
            f"{option}: cannot create files in {base} ({exc.strerror}); choose an {option} in a folder you can write"
        ) from exc
    os.rmdir(probe)


def check_destination(out_dir: Path, overwrite: bool) -> None:
    """Refuse an existing destination unless `overwrite`, never replace a folder this tool did not write, and refuse
    a destination that cannot be written: all before any work starts."""
    if out_dir.exists():
        if not overwrite:
            raise AvnbError(
                f"{out_dir} already exists; pass --overwrite to replace it, or choose another output folder"
            )
        if not out_dir.is_dir() or not (out_dir / LOCK).is_file() and any(out_dir.iterdir()):
            raise AvnbError(
                f"{out_dir} exists and is not an avnoisebench benchmark folder; it is left untouched even with "
                f"--overwrite: move it away or choose another output folder"
            )
    check_writable(out_dir.parent, "--out")


class _FolderWriter:
    """Writes files under a temporary folder and keeps the SHA-256 of each."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.digests: dict[str, str] = {}

    def write(self, relative: str, data: bytes) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.digests[relative] = sha256_bytes(data)

    def parquet(self, relative: str, table: pa.Table) -> None:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        self.write(relative, sink.getvalue().to_pybytes())

    def json(self, relative: str, value: dict) -> None:
        """A JSON object with one top-level key per line (values compact, so large matrices encode fast)."""
        lines = ",\n".join(f" {json.dumps(key)}: {json.dumps(item)}" for key, item in value.items())
        self.write(relative, ("{\n" + lines + "\n}\n").encode())


def _make_folders(folder: Path) -> list[Path]:
    """Create `folder` and its missing parents; return those created, deepest last."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir()
    return missing[::-1]


def _publish(tmp: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.replace(tmp, out_dir)
        return
    old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
    os.replace(out_dir, old)
    try:
        os.replace(tmp, out_dir)
    except BaseException:
        os.replace(old, out_dir)
        raise
    shutil.rmtree(old)


def _serialise(noisy: NoisyBenchmark, files: _FolderWriter) -> None:
    """Every file of the folder: manifests (with `datasets` features in their schema metadata), noise cards, card,
    and last the lock with the digest of each."""
    features = features_json(noisy.test.schema, noisy.benchmark.class_names)
    meta = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    files.parquet(TEST_FILE, noisy.test.replace_schema_metadata(meta))
    test_size = (noisy.test.num_rows, noisy.test.nbytes)
    stats = {}
    for config in noisy.configs:
        files.parquet(train_file(config.name), config.train.replace_schema_metadata(meta))
        files.json(noise_card_file(config.name), config.card)
        stats[config.name] = {"train": (config.train.num_rows, config.train.nbytes), "test": test_size}
    files.write(CARD, render_card(noisy, stats).encode())
    lock = {
        "avnoisebench": package_version(),
        "benchmark": noisy.benchmark.name,
        "inputs": [vars(s) for s in noisy.benchmark.sources],
        "files": dict(sorted(files.digests.items())),
    }
    files.json(LOCK, lock)


def write_benchmark(noisy: NoisyBenchmark, out_dir: Path, overwrite: bool = False) -> Path:
    """Write the folder of `noisy` at `out_dir`, all or nothing: built in a temporary sibling and renamed into place;
    on any failure nothing is left behind (folders created for it included) and an earlier folder stays."""
    check_destination(out_dir, overwrite)
    created: list[Path] = []
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    try:
        created = _make_folders(out_dir.parent)
        shutil.rmtree(tmp, ignore_errors=True)
        _serialise(noisy, _FolderWriter(tmp))
        _publish(tmp, out_dir)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in reversed(created):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        if isinstance(exc, OSError):
            raise AvnbError(
                f"--out {out_dir}: writing failed ({exc}); nothing was kept: free space or fix the permissions "
                f"there, or choose another --out"
            ) from exc
        raise
    return out_dir
