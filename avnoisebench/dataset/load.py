"""Load a benchmark folder as a Hugging Face DatasetDict."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

from avnoisebench.dataset.layout import config_names, read_card_metadata
from avnoisebench.errors import AvnbError

if TYPE_CHECKING:
    import datasets


def load(folder: str | Path, config: str = "clean", **kwargs: Any) -> "datasets.DatasetDict":
    """`datasets.load_dataset(folder, config)` after checking that the folder and the config exist."""
    import datasets

    folder = Path(folder)
    names = config_names(read_card_metadata(folder))
    if config not in names:
        raise AvnbError(f"{folder} has no config {config!r}; its configs are {', '.join(names)}")
    return datasets.load_dataset(str(folder), config, **kwargs)
