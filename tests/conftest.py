"""Shared fixtures: the reference data in ../shared/data (read in place) and built benchmark folders."""

import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from harnesskit import build_bench

from avnoisebench.recipes.mini_kinetics import MiniKineticsOptions, build_mini_kinetics
from avnoisebench.recipes.synthetic_av import SyntheticAvOptions, build_synthetic_av
from avnoisebench.recipes.ucf101_av import Ucf101AvOptions, build_ucf101_av

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared(subdir: str) -> Path:
    """A folder of ../shared/data, or skip the test when the reference data is absent."""
    path = SHARED_DATA / subdir
    if not path.is_dir():
        pytest.skip(f"reference data {path} is absent (expected ../shared/data beside the project)")
    return path


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> Iterator[None]:
    """Small tensors on a 2-core machine run several times faster without intra-op threading."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def synthetic_bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(folder, media root) of synthetic-av with 4 classes, 20 train and 8 test clips each, built once per test run
    for every test that trains on it (tests that change it work on a copy)."""
    return build_bench(tmp_path_factory.mktemp("synthetic-bench"))


@pytest.fixture(scope="session")
def small_synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(folder, media root) of a smaller synthetic-av (3 classes, 6 train and 2 test clips each), built once."""
    root = tmp_path_factory.mktemp("small-synthetic")
    folder, media_root = root / "synthetic-av", root / "media"
    build_synthetic_av(
        SyntheticAvOptions(out=folder, media_root=media_root, classes=3, train_per_class=6, test_per_class=2)
    )
    return folder, media_root


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the user's download cache."""
    monkeypatch.setenv("AVNB_CACHE_DIR", str(tmp_path_factory.mktemp("avnb-cache")))


@pytest.fixture(scope="session")
def k400_dir() -> Path:
    return shared("kinetics400")


@pytest.fixture(scope="session")
def ucf_dir() -> Path:
    return shared("ucf101")


@pytest.fixture(scope="session")
def nc30(tmp_path_factory: pytest.TempPathFactory, k400_dir: Path) -> Path:
    """mini-Kinetics NC 30 % built once from the shared (partial) annotations."""
    root = tmp_path_factory.mktemp("built")
    [folder] = build_mini_kinetics(
        MiniKineticsOptions(levels=(30,), root=root, annotations=k400_dir, allow_incomplete=True)
    )
    return folder


@pytest.fixture(scope="session")
def ucf101_av(tmp_path_factory: pytest.TempPathFactory, ucf_dir: Path) -> Path:
    """UCF101-AV built once from the shared split lists."""
    out = tmp_path_factory.mktemp("built") / "ucf101-av"
    [folder] = build_ucf101_av(Ucf101AvOptions(out=out, annotations=ucf_dir))
    return folder


@pytest.fixture
def serve() -> Iterator:
    """Serve a folder over HTTP on 127.0.0.1; yields a function (folder, handler class) -> base URL."""
    servers = []

    def start(folder: Path, handler_class: type[http.server.SimpleHTTPRequestHandler] | None = None) -> str:
        handler = partial(handler_class or _QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output clean."""
