"""A summary of a benchmark folder: classes, split sizes, configs and realised noise."""

from dataclasses import dataclass
from pathlib import Path

from avnoisebench.dataset.layout import class_names, config_names, read_card_metadata, read_noise_card


@dataclass(frozen=True)
class ConfigSummary:
    """One noise config as realised: label noise, and mismatched pairs where the config has correspondence noise."""

    name: str
    mode: str
    rate: float
    realised_rate: float
    num_noisy: int
    mismatched: int | None = None


@dataclass(frozen=True)
class FolderSummary:
    """What `avnb info` shows."""

    name: str
    title: str
    num_classes: int
    splits: dict[str, int]
    configs: list[ConfigSummary]
    shortfall: int


def summarize(folder: Path) -> FolderSummary:
    """Read the card and the noise cards of a benchmark folder into a summary."""
    metadata = read_card_metadata(folder)
    info = metadata["dataset_info"][0]
    configs = []
    for name in config_names(metadata):
        card = read_noise_card(folder, name)
        mismatched = card["correspondence"]["num_mismatched"] if "correspondence" in card else None
        configs.append(
            ConfigSummary(name, card["mode"], card["rate"], card["realised_rate"], card["num_noisy"], mismatched)
        )
    return FolderSummary(
        name=metadata["avnoisebench"]["benchmark"],
        title=metadata["pretty_name"],
        num_classes=len(class_names(metadata)),
        splits={s["name"]: s["num_examples"] for s in info["splits"]},
        configs=configs,
        shortfall=len(metadata["avnoisebench"]["shortfall"]),
    )
