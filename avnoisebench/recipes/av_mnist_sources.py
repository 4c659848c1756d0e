"""AV-MNIST's sources: the MNIST test images (10,000 handwritten digits) and the Free Spoken Digit Dataset (3,000
recordings), from a local folder or downloaded once into the cache, checked against the definition's digests."""

import gzip
import hashlib
import os
import re
import tarfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avnoisebench.dataset.benchmark import SourceFile
from avnoisebench.errors import AvnbError
from avnoisebench.hashing import sha256_file
from avnoisebench.progress import SILENT, Progress
from avnoisebench.sources.fetch import cache_dir, fetch

_RECORDING = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")
MNIST_FILES = ("images", "labels")


@dataclass(frozen=True)
class Recording:
    """One FSDD recording: file, spoken digit, speaker and take index."""

    path: Path
    digit: int
    speaker: str
    index: int

    @property
    def name(self) -> str:
        """File name, e.g. `7_jackson_32.wav`."""
        return self.path.name


@dataclass(frozen=True)
class DigitSources:
    """Where AV-MNIST's inputs lie and their digests: MNIST test images and labels, FSDD recordings."""

    mnist_images: Path
    mnist_labels: Path
    recordings: tuple[Recording, ...]
    files: tuple[SourceFile, ...]


def _mnist_candidates(root: Path, name: str) -> list[Path]:
    return [root / "mnist" / name, root / name]


def _locate_mnist(root: Path, definition: dict[str, Any]) -> dict[str, Path]:
    found = {}
    for kind in MNIST_FILES:
        name = definition["mnist"][kind]["file"]
        path = next((p for p in _mnist_candidates(root, name) if p.is_file()), None)
        if path is None:
            raise AvnbError(
                f"{root}: no MNIST test file {name} (looked in {root / 'mnist'} and {root}); pass the folder that "
                f"holds mnist/{name}, or leave out --sources to download it"
            )
        found[kind] = path
    return found


def _download_mnist(definition: dict[str, Any], progress: Progress) -> dict[str, Path]:
    return {
        kind: fetch(
            definition["mnist"][kind]["url"], f"mnist/{definition['mnist'][kind]['file']}", "--sources", progress
        )
        for kind in MNIST_FILES
    }


def _download_fsdd(definition: dict[str, Any], progress: Progress) -> Path:
    """The recordings folder of the FSDD release archive, extracted once into the cache."""
    out = cache_dir() / "fsdd" / definition["fsdd"]["version"]
    if (out / "recordings").is_dir():
        return out / "recordings"
    archive = fetch(definition["fsdd"]["url"], f"fsdd/{definition['fsdd']['version']}.tar.gz", "--sources", progress)
    partial = out.with_name(out.name + ".part")
    partial.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                parts = member.name.split("/")
                if member.isfile() and len(parts) >= 2 and parts[-2] == "recordings" and _RECORDING.match(parts[-1]):
                    (partial / "recordings").mkdir(exist_ok=True)
                    (partial / "recordings" / parts[-1]).write_bytes(tar.extractfile(member).read())
    except (tarfile.TarError, OSError) as exc:
        raise AvnbError(f"{archive}: not the FSDD release archive ({exc}); delete it and run again") from exc
    os.replace(partial, out)
    return out / "recordings"


def _recordings(folder: Path) -> tuple[Recording, ...]:
    recordings = []
    for path in sorted(folder.glob("*.wav")):
        match = _RECORDING.match(path.name)
        if match:
            recordings.append(Recording(path, int(match.group(1)), match.group(2), int(match.group(3))))
    return tuple(recordings)


def recordings_digest(recordings: tuple[Recording, ...]) -> str:
    """SHA-256 of the `sha256  name` lines of every recording, sorted by name (a SHA256SUMS file's digest)."""
    lines = "".join(f"{sha256_file(r.path)}  {r.name}\n" for r in sorted(recordings, key=lambda r: r.name))
    return hashlib.sha256(lines.encode()).hexdigest()


def load_digit_sources(sources: Path | None, definition: dict[str, Any], progress: Progress = SILENT) -> DigitSources:
    """MNIST test files and FSDD recordings from `sources` (or downloaded), each checked against the definition."""
    if sources is not None and not sources.is_dir():
        raise AvnbError(f"--sources {sources} is not a folder; pass the folder holding mnist/ and fsdd/recordings/")
    mnist = _download_mnist(definition, progress) if sources is None else _locate_mnist(sources, definition)
    files = []
    for kind, path in mnist.items():
        expected = definition["mnist"][kind]["sha256"]
        actual = sha256_file(path)
        if actual != expected:
            raise AvnbError(
                f"{path} has SHA-256 {actual}, not the MNIST test {kind} file ({expected}); replace it with the "
                f"official {definition['mnist'][kind]['file']}"
            )
        files.append(SourceFile(f"mnist/{path.name}", actual, definition["mnist"][kind]["url"]))
    if sources is None:
        folder = _download_fsdd(definition, progress)
    else:
        folder = next((p for p in (sources / "fsdd" / "recordings", sources / "recordings") if p.is_dir()), None)
        if folder is None:
            raise AvnbError(
                f"{sources}: no FSDD recordings folder (looked for fsdd/recordings/ and recordings/); pass the "
                f"folder that holds them, or leave out --sources to download FSDD {definition['fsdd']['version']}"
            )
    recordings = _recordings(folder)
    digest = recordings_digest(recordings)
    if digest != definition["fsdd"]["recordings_sha256"]:
        raise AvnbError(
            f"{folder}: {len(recordings)} recordings whose digest differs from FSDD {definition['fsdd']['version']} "
            f"(3,000 recordings of 6 speakers); use that release's recordings/ folder unchanged"
        )
    files.append(SourceFile("fsdd/recordings (SHA256SUMS digest)", digest, definition["fsdd"]["url"]))
    return DigitSources(mnist["images"], mnist["labels"], recordings, tuple(files))


def read_idx(path: Path) -> np.ndarray:
    """An IDX array (MNIST's format) from a gzipped file: uint8 images (n, rows, cols) or labels (n,)."""
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as exc:
        raise AvnbError(f"{path}: not a gzipped IDX file ({exc}); replace it with the official MNIST file") from exc
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the sample rate of a PCM WAV file."""
    try:
        with wave.open(str(path)) as handle:
            width, channels, rate = handle.getsampwidth(), handle.getnchannels(), handle.getframerate()
            raw = handle.readframes(handle.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AvnbError(f"{path}: not a PCM WAV file ({exc}); replace it with the FSDD original") from exc
    if width not in (1, 2, 4):
        raise AvnbError(f"{path}: {8 * width}-bit WAV is not supported; convert it to 16-bit PCM")
    if width == 1:
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128) / 128
    else:
        samples = np.frombuffer(raw, dtype=f"<i{width}").astype(np.float32) / float(2 ** (8 * width - 1))
    return samples.reshape(-1, channels).mean(axis=1), rate
