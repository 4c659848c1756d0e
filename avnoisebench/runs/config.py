"""A run's resolved settings as its config.json records them: typed, with the fields that define the run apart from
where files live."""

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from avnoisebench.errors import AvnbError

FORMAT = 2
TRACKS = ("raw", "cached", "features")
WHERE = ("benchmark_folder", "media_root", "cache_dir", "device", "workers", "threads", "code_version", "name")
"""Fields that say where and how a run was computed, not what it is: a resumed run may change them (but not its
torch threads, on which its numbers depend: `RunConfig.resume_changes`)."""


def variant_label(method: str, variant: dict[str, Any]) -> str:
    """A method with the values a sweep varied, as tables show it: `ntl[ablation=ins, gamma=0.2]`."""
    if not variant:
        return method
    return f"{method}[{', '.join(f'{k}={_show(v)}' for k, v in variant.items())}]"


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


@dataclass(frozen=True)
class InitRecord:
    """What the encoders started from: the SHA-256 of the weights (None: random initialisation, from scratch), a short
    name of their source, and the card of how they were made (pretraining recipe, seed, data), when there is one."""

    sha256: str | None
    source: str
    card: dict[str, Any] | None = None

    @property
    def short(self) -> str:
        """`scratch`, or the source and the first 12 hex digits of the digest."""
        return "scratch" if self.sha256 is None else f"{self.source}@{self.sha256[:12]}"


SCRATCH = InitRecord(None, "scratch")


@dataclass(frozen=True)
class RunConfig:
    """Everything a run depends on and where it ran; written once to config.json when the run folder is created.
    `threads`: the torch intra-op threads it trained with (None in runs written before they were recorded)."""

    benchmark: str
    benchmark_family: str
    benchmark_variant: str | None
    benchmark_lock_sha256: str
    config: str
    label_noise_mode: str
    label_noise_rate: float
    correspondence: float | None
    correspondence_kind: str | None
    method: str
    method_options: dict[str, Any]
    model: str
    init: InitRecord
    track: str
    seed: int
    epochs: int
    batch_size: int
    lr: float
    decoding: dict[str, Any]
    variant: dict[str, Any] = field(default_factory=dict)
    benchmark_folder: str = ""
    media_root: str = ""
    cache_dir: str | None = None
    device: str = "cpu"
    workers: int = 0
    threads: int | None = None
    code_version: str = ""
    name: str | None = None

    def identity(self) -> dict[str, Any]:
        """The fields that define the run (not where it ran), as JSON-ready values; of the initial weights, their
        digest (their card, e.g. the pretraining's CPU seconds, differs between machines that make the same
        weights)."""
        values = {k: v for k, v in self.to_json().items() if k not in WHERE}
        return {**values, "init": self.init.sha256}

    def resume_changes(self, wanted: "RunConfig") -> list[str]:
        """What resuming this run with `wanted` would change and may not: the fields that define the run, then
        `threads` when both counts are known and differ (the run's numbers depend on them)."""
        recorded, asked = self.identity(), wanted.identity()
        changed = sorted(k for k in set(recorded) | set(asked) if recorded.get(k) != asked.get(k))
        if None not in (self.threads, wanted.threads) and self.threads != wanted.threads:
            changed.append("threads")
        return changed

    def to_json(self) -> dict[str, Any]:
        """The JSON object of config.json."""
        return {"format": FORMAT, **asdict(self)}

    def write(self, path: Path) -> None:
        """Write config.json (one key per line, sorted)."""
        path.write_text(json.dumps(self.to_json(), indent=1, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> "RunConfig":
        """Read a config.json written by `write`; one AvnbError naming the file for anything else."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise AvnbError(f"{path} cannot be read as JSON ({exc}); train the run again") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise AvnbError(
                f"{path} is not a run config of format {FORMAT} (written by an older avnb?); train the run again"
            )
        known = {f.name for f in fields(cls)}
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        missing = sorted(name for name in required if name not in data)
        if missing:
            raise AvnbError(f"{path} lacks {', '.join(missing)}; train the run again")
        values = {k: v for k, v in data.items() if k in known}
        try:
            values["init"] = InitRecord(**values["init"])
            config = cls(**values)
        except TypeError as exc:
            raise AvnbError(f"{path} has unexpected values ({exc}); train the run again") from exc
        if isinstance(config.seed, bool) or not isinstance(config.seed, int):
            raise AvnbError(f"{path}: seed {config.seed!r} is not an integer; train the run again")
        return config
