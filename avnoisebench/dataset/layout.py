"""Names and readers of the files in a benchmark folder."""

import json
from pathlib import Path
from typing import Any

import yaml

from avnoisebench.errors import AvnbError

CARD = "README.md"
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser where PyYAML was built with it
LOCK = "avnb-lock.json"
TEST_FILE = "data/test.parquet"


def train_file(config: str) -> str:
    """Relative path of a config's training manifest."""
    return f"data/{config}/train.parquet"


def noise_card_file(config: str) -> str:
    """Relative path of a config's noise card."""
    return f"noise/{config}.json"


def _require(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise AvnbError(
            f"{folder} is not an avnoisebench benchmark folder (no {name}); build one with `avnb build ...`"
        )
    return path


def read_lock(folder: Path) -> dict[str, Any]:
    """The lock file of a benchmark folder."""
    path = _require(folder, LOCK)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AvnbError(
            f"{path} is not valid JSON ({exc}); rebuild the folder with `avnb build ... --overwrite`"
        ) from exc


def read_card_metadata(folder: Path) -> dict[str, Any]:
    """The YAML metadata block at the top of a benchmark folder's README.md."""
    path = _require(folder, CARD)
    text = path.read_text(encoding="utf-8")
    parts = text.split("---\n", 2)
    if len(parts) < 3 or parts[0]:
        raise AvnbError(f"{path} has no YAML metadata block; rebuild the folder with `avnb build ... --overwrite`")
    return yaml.load(parts[1], Loader=SAFE_LOADER)


def read_noise_card(folder: Path, config: str) -> dict[str, Any]:
    """The noise card of one config."""
    return json.loads(_require(folder, noise_card_file(config)).read_text(encoding="utf-8"))


def config_names(metadata: dict[str, Any]) -> list[str]:
    """The config names declared in a card's metadata, in order."""
    return [c["config_name"] for c in metadata.get("configs", [])]


def class_names(metadata: dict[str, Any]) -> list[str]:
    """The ClassLabel names of a card's `label` feature, in label order."""
    features = metadata["dataset_info"][0]["features"]
    names = next(f for f in features if f["name"] == "label")["dtype"]["class_label"]["names"]
    return [names[str(i)] for i in range(len(names))]
