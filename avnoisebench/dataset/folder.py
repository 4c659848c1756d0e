"""`BenchmarkFolder`: a built benchmark folder opened once and typed — card, lock, classes, splits, configs and their
noise, decoding recipe, recommended protocol — whose files are checked against the lock before they are used."""

import hashlib
import json
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from avnoisebench.dataset.benchmark import Shortfall
from avnoisebench.dataset.decoding import Decoding
from avnoisebench.dataset.layout import CARD, LOCK, TEST_FILE, noise_card_file, train_file
from avnoisebench.errors import AvnbError
from avnoisebench.hashing import sha256_file

if TYPE_CHECKING:
    import pandas as pd

SPLITS = ("train", "test")
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser where PyYAML was built with it
CLIP_COLUMNS = ("clip_id", "path", "class_name", "youtube_id", "time_start", "time_end", "source_split")
_DIGESTS: dict[tuple[str, int, int, int], str] = {}


def file_digest(path: Path) -> str:
    """SHA-256 of a file, remembered for this process by (path, size, mtime, inode) so that a file read again is
    not hashed again unless it changed."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if key not in _DIGESTS:
        _DIGESTS[key] = sha256_file(path)
    return _DIGESTS[key]


@dataclass(frozen=True)
class LabelNoise:
    """A config's label noise: mode (clean, sym or asym) and rate (fraction of training labels changed)."""

    mode: str
    rate: float


@dataclass(frozen=True)
class Protocol:
    """The training protocol a benchmark's card recommends (the paper's at GPU scale where the card names none):
    model, track, initial weights (`none`, or the name of an `avnb pretrain` recipe), epochs, learning rate and
    batch size; and the config on which `avnb pretrain` measures how well k-NN corrects noisy labels. `avnb train`
    uses it for every setting it is not given."""

    model: str = "r2plus1d18-panns22"
    track: str = "raw"
    init: str = "none"
    epochs: int = 60
    lr: float = 5e-5
    batch_size: int = 64
    quality_config: str | None = None
    recommended: bool = False

    @classmethod
    def from_recipe(cls, recipe: dict[str, Any] | None, source: str) -> "Protocol":
        """The card's `protocol` table (every field optional), or the paper's protocol when there is none."""
        if not recipe:
            return cls()
        known = {f.name for f in fields(cls)} - {"recommended"}
        unknown = sorted(set(recipe) - known)
        if unknown:
            raise AvnbError(f"{source}: protocol has no setting {unknown[0]!r}; rebuild the folder")
        return cls(**recipe, recommended=True)


@dataclass(frozen=True)
class NoiseConfig:
    """One config of a benchmark: its label noise and its noisy correspondence (percent of training pairs whose audio
    is another class's: synthetic for `ncNN-` configs, the benchmark's real level for mini-Kinetics, else None)."""

    name: str
    label_config: str
    label_noise: LabelNoise
    num_noisy: int
    realised_rate: float
    correspondence: float | None
    correspondence_kind: str | None
    mismatched: int | None


class BenchmarkFolder:
    """A benchmark folder written by `avnb build`, opened once: the card and lock are read and checked here; each
    manifest and noise card is checked against the lock when it is first read (`avnb verify` checks everything)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        lock_path = self._require(LOCK)
        lock_bytes = lock_path.read_bytes()
        try:
            self.lock: dict[str, Any] = json.loads(lock_bytes)
            self.files: dict[str, str] = dict(self.lock["files"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise AvnbError(
                f"{lock_path} is not a valid lock file ({exc}); rebuild the folder with `avnb build ... --overwrite`"
            ) from exc
        self.lock_sha256 = hashlib.sha256(lock_bytes).hexdigest()
        metadata = self._card_metadata()
        try:
            avnb = metadata["avnoisebench"]
            self.name: str = avnb["benchmark"]
            self.recipe: dict[str, Any] = avnb["recipe"]
            self.noise_seed: int = avnb.get("noise_seed", 0)
            self.shortfalls = tuple(Shortfall(**s) for s in avnb.get("shortfall", []))
            self.title: str = metadata["pretty_name"]
            self.license: str = metadata["license"]
            self.config_names: list[str] = [c["config_name"] for c in metadata["configs"]]
            info = metadata["dataset_info"][0]
            label = next(f for f in info["features"] if f["name"] == "label")["dtype"]["class_label"]["names"]
            self.class_names: list[str] = [label[str(i)] if str(i) in label else label[i] for i in range(len(label))]
            self.split_sizes: dict[str, int] = {s["name"]: s["num_examples"] for s in info["splits"]}
        except (KeyError, TypeError, StopIteration, IndexError) as exc:
            raise AvnbError(
                f"{self.path / CARD} lacks benchmark metadata ({exc!r}); rebuild the folder with `avnb build ...`"
            ) from exc
        self.decoding = Decoding.from_recipe(self.recipe.get("decoding", {}), str(self.path / CARD))
        self.protocol = Protocol.from_recipe(self.recipe.get("protocol"), str(self.path / CARD))
        self._configs: dict[str, NoiseConfig] = {}

    def __repr__(self) -> str:
        return f"BenchmarkFolder({str(self.path)!r}, {self.name}, lock {self.lock_sha256[:12]})"

    @property
    def num_classes(self) -> int:
        """K, the number of classes."""
        return len(self.class_names)

    @property
    def family(self) -> str:
        """The benchmark's family (`mini-kinetics` for every mini-Kinetics level; else its name)."""
        return str(self.recipe.get("benchmark", self.name))

    @property
    def variant(self) -> str | None:
        """The variant within the family (`nc30` for mini-Kinetics NC 30 %), None for a benchmark without variants."""
        return None if self.family == self.name else self.name.removeprefix(f"{self.family}-")

    def _require(self, relative: str) -> Path:
        path = self.path / relative
        if not path.is_file():
            raise AvnbError(
                f"{self.path} is not an avnoisebench benchmark folder (no {relative}); build one with `avnb build ...`"
            )
        return path

    def checked(self, relative: str) -> Path:
        """The path of one file of the folder after checking its digest against the lock (cached by mtime)."""
        path = self.path / relative
        expected = self.files.get(relative)
        if expected is not None and not path.is_file():
            raise AvnbError(
                f"{path} is missing, though the folder's lock ({LOCK}) lists it: the benchmark is damaged; run "
                f"`avnb verify {self.path}` to see what else is, then rebuild it with `avnb build ... --overwrite`"
            )
        path = self._require(relative)
        if expected is None or file_digest(path) != expected:
            problem = "is not in" if expected is None else "differs from"
            raise AvnbError(
                f"{path} {problem} the folder's lock ({LOCK}): the benchmark was changed after it was built; "
                f"run `avnb verify {self.path}` to see what changed, then rebuild it with `avnb build ... --overwrite`"
            )
        return path

    def _card_metadata(self) -> dict[str, Any]:
        path = self.checked(CARD)
        parts = path.read_text(encoding="utf-8").split("---\n", 2)
        if len(parts) < 3 or parts[0]:
            raise AvnbError(f"{path} has no YAML metadata block; rebuild the folder with `avnb build ... --overwrite`")
        metadata = yaml.load(parts[1], Loader=SAFE_LOADER)
        if not isinstance(metadata, dict):
            raise AvnbError(f"{path}: its YAML metadata is not a mapping; rebuild the folder with `avnb build ...`")
        return metadata

    def require_config(self, config: str) -> str:
        """`config` if the folder has it, else one AvnbError listing the configs."""
        if config not in self.config_names:
            raise AvnbError(f"{self.path} has no config {config!r}; its configs are {', '.join(self.config_names)}")
        return config

    def noise_card(self, config: str) -> dict[str, Any]:
        """The noise card of one config (JSON), checked against the lock."""
        path = self.checked(noise_card_file(self.require_config(config)))
        return json.loads(path.read_text(encoding="utf-8"))

    def config(self, name: str) -> NoiseConfig:
        """One config's label noise and noisy correspondence (read from its noise card once)."""
        if name not in self._configs:
            card = self.noise_card(name)
            pairs = card.get("correspondence")
            level = self.recipe.get("noisy_correspondence_level")
            if pairs is not None:
                correspondence, kind = round(100 * float(pairs["rate"]), 6), "synthetic"
            elif level is not None:
                correspondence, kind = float(level), "real"
            else:
                correspondence, kind = None, None
            self._configs[name] = NoiseConfig(
                name=name,
                label_config=card.get("label_config", name),
                label_noise=LabelNoise(card["mode"], float(card["rate"])),
                num_noisy=int(card["num_noisy"]),
                realised_rate=float(card["realised_rate"]),
                correspondence=correspondence,
                correspondence_kind=kind,
                mismatched=None if pairs is None else int(pairs["num_mismatched"]),
            )
        return self._configs[name]

    def split_file(self, config: str, split: str) -> str:
        """Relative path of a split's manifest: a config's training manifest, or the shared test manifest."""
        if split not in SPLITS:
            raise AvnbError(f"split {split!r} does not exist; use one of {', '.join(SPLITS)}")
        return train_file(self.require_config(config)) if split == "train" else TEST_FILE

    def manifest(self, config: str, split: str, columns: list[str] | None = None) -> pa.Table:
        """A split's manifest (train: with `config`'s noisy labels; test: clean), checked against the lock."""
        path = self.checked(self.split_file(config, split))
        try:
            return pq.read_table(path, columns=columns)
        except (pa.ArrowException, OSError) as exc:
            raise AvnbError(f"{path} is not a readable Parquet file ({exc}); rebuild the folder") from exc

    def frame(self, config: str, split: str) -> "pd.DataFrame":
        """A split's manifest as a pandas DataFrame, one row per clip."""
        return self.manifest(config, split).to_pandas()

    def clip_paths(self, split: str) -> dict[str, str]:
        """clip_id -> media path of a split's clips; reads those two columns only (no label, no pairing)."""
        table = self.manifest(self.config_names[0], split, ["clip_id", "path"])
        return dict(zip(table["clip_id"].to_pylist(), table["path"].to_pylist(), strict=True))

    @cached_property
    def clips(self) -> pa.Table:
        """Every clip of the folder (train and test) with its media path, source window and split, by clip_id."""
        parts = []
        for split in SPLITS:
            table = self.manifest(self.config_names[0], split, list(CLIP_COLUMNS))
            parts.append(table.append_column("split", pa.repeat(split, table.num_rows)))
        return pa.concat_tables(parts).sort_by("clip_id")


def open_folder(folder: "str | Path | BenchmarkFolder") -> BenchmarkFolder:
    """A BenchmarkFolder for a path (or the folder itself)."""
    return folder if isinstance(folder, BenchmarkFolder) else BenchmarkFolder(folder)
