"""A small synthetic-av benchmark with real media for tests that load, train or evaluate.

Use it with `from synthetic import small_synthetic_fixture  # noqa: F401` and a test argument `small_synthetic`.
"""

from pathlib import Path

import pytest

from avnoisebench.recipes.synthetic_av import SyntheticAvOptions, build_synthetic_av

SMALL = {"classes": 3, "train_per_class": 6, "test_per_class": 2}


def build_small_synthetic(root: Path) -> tuple[Path, Path]:
    """The small synthetic-av folder (every default noise config) and its media root under `root`, built once."""
    folder, media_root = root / "synthetic-av", root / "media"
    if not folder.exists():
        build_synthetic_av(SyntheticAvOptions(out=folder, media_root=media_root, **SMALL))
    return folder, media_root


@pytest.fixture(scope="session", name="small_synthetic")
def small_synthetic_fixture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(folder, media root) of the small synthetic-av benchmark, shared by every module that imports this fixture."""
    return build_small_synthetic(tmp_path_factory.getbasetemp() / "small-synthetic")
