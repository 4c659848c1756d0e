"""Names of the files in a benchmark folder, and its lock file reader (the root of every check)."""

import json
from pathlib import Path
from typing import Any

from avnoisebench.errors import AvnbError

CARD = "README.md"
LOCK = "avnb-lock.json"
TEST_FILE = "data/test.parquet"


def train_file(config: str) -> str:
    """Relative path of a config's training manifest."""
    return f"data/{config}/train.parquet"


def noise_card_file(config: str) -> str:
    """Relative path of a config's noise card."""
    return f"noise/{config}.json"


def read_lock(folder: Path) -> dict[str, Any]:
    """The lock file of a benchmark folder."""
    path = folder / LOCK
    if not path.is_file():
        raise AvnbError(
            f"{folder} is not an avnoisebench benchmark folder (no {LOCK}); build one with `avnb build ...`"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AvnbError(
            f"{path} is not valid JSON ({exc}); rebuild the folder with `avnb build ... --overwrite`"
        ) from exc
