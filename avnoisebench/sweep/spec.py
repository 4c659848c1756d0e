"""Sweep files: a TOML grid (benchmarks × configs × methods × seeds × varied settings and options) and its cells."""

import hashlib
import itertools
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from avnoisebench.dataset.decoding import ClipSampling, LogMelConfig
from avnoisebench.dataset.folder import BenchmarkFolder
from avnoisebench.dataset.layout import LOCK
from avnoisebench.errors import AvnbError
from avnoisebench.evaluation.scoring import run_result_key
from avnoisebench.harness.settings import TrainSettings, check_media_present, plan_run
from avnoisebench.runs.config import TRACKS, RunConfig, variant_label

TOP_KEYS = ("name", "runs", "results", "shared_log", "settings", "options", "grid")
GRID_KEYS = ("benchmarks", "configs", "methods", "seeds", "settings", "options", "vary")
VARY_KEYS = ("settings", "options")
SETTINGS: dict[str, type] = {
    "track": str,
    "model": str,
    "epochs": int,
    "batch_size": int,
    "lr": float,
    "device": str,
    "workers": int,
    "media_root": Path,
    "cache_dir": Path,
    "init": str,
    "visual_weights": Path,
    "audio_weights": Path,
    "sampling": ClipSampling,
    "audio": LogMelConfig,
}
"""Harness settings a sweep file may give, by type; `sampling` and `audio` are tables of fields that replace those of
the benchmark's recommended decoding."""
DEFAULT_MEDIA_ROOT = Path("avnb-data/media")
KEY_LENGTH = 16


@dataclass(frozen=True)
class Grid:
    """One grid of a sweep file: its axes, the settings and method options its cells share, and the varied ones."""

    benchmarks: list[Path]
    configs: list[str]
    methods: list[str]
    seeds: list[int]
    settings: dict[str, Any] = field(default_factory=dict)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    vary_settings: dict[str, list[Any]] = field(default_factory=dict)
    vary_options: dict[str, dict[str, list[Any]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1 .. count) of a sweep split `count` ways: every count-th cell of the sweep's cell order."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """`i/n` (e.g. `2/4`) as a shard."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if match is None:
            raise AvnbError(f"--shard {text!r} is not i/n; write e.g. --shard 2/4 for the second of four shards")
        index, count = map(int, match.groups())
        if not 1 <= index <= count:
            raise AvnbError(f"--shard {text}: i must be 1 to {count}; write e.g. --shard 1/{max(count, 1)}")
        return cls(index, count)

    @classmethod
    def from_slurm(cls, environ: Mapping[str, str] = os.environ) -> "Shard | None":
        """The shard of a SLURM array task: task SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT evenly spaced ones from
        SLURM_ARRAY_TASK_MIN by SLURM_ARRAY_TASK_STEP (0 and 1 when unset); None outside an array job."""
        if "SLURM_ARRAY_TASK_ID" not in environ or "SLURM_ARRAY_TASK_COUNT" not in environ:
            return None
        try:
            task, count = int(environ["SLURM_ARRAY_TASK_ID"]), int(environ["SLURM_ARRAY_TASK_COUNT"])
            first, step = int(environ.get("SLURM_ARRAY_TASK_MIN", "0")), int(environ.get("SLURM_ARRAY_TASK_STEP", "1"))
        except ValueError as exc:
            raise AvnbError(f"a SLURM array variable is not an integer ({exc}); pass --shard i/n instead") from exc
        index, off = divmod(task - first, max(step, 1))
        if off or not 0 <= index < count:
            raise AvnbError(
                f"SLURM array task {task} is not one of {count} tasks from {first} by {step}; submit the sweep with "
                f"--array=0-{count - 1} (or a range with a step), or pass --shard i/n"
            )
        return cls(index + 1, count)

    @classmethod
    def chosen(cls, text: str | None, environ: Mapping[str, str] = os.environ) -> "Shard | None":
        """The shard asked for: `--shard i/n` when given, else the SLURM array task's, else None (every cell)."""
        return cls.parse(text) if text is not None else cls.from_slurm(environ)

    def select(self, cells: list["Cell"]) -> list["Cell"]:
        """This shard's cells: every count-th from the index-th on, so that the shards are disjoint and cover all."""
        return cells[self.index - 1 :: self.count]

    def log(self, results: Path) -> Path:
        """This shard's own results log beside `results`: `<stem>.shard-i-of-n.jsonl`."""
        return results.with_name(f"{results.stem}.shard-{self.index}-of-{self.count}{results.suffix}")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True)
class Sweep:
    """A parsed sweep file: its grids, where it writes run folders and the results log (a shard's own log unless the
    file asks for one `shared_log`), and the shard this process runs, if any."""

    path: Path
    name: str
    runs: Path
    results: Path
    grids: list[Grid]
    shard: Shard | None = None
    shared_log: bool = False


@dataclass(frozen=True)
class Cell:
    """One run of the grid: its harness settings (run folder named by `key`), the grid values it varies, its label,
    and the key (setup and seed) of the result record its run will append."""

    settings: TrainSettings
    varied: dict[str, Any]
    key: str
    result_key: tuple

    @property
    def label(self) -> str:
        """The method name, followed by the varied grid values: `ntl[ablation=ins]`."""
        return variant_label(self.settings.method.name, self.varied)


def _fail(path: Path, key: str, problem: str, fix: str) -> AvnbError:
    return AvnbError(f"sweep file {path}: {key} {problem}; {fix}")


def _table(path: Path, key: str, value: Any, known: tuple[str, ...] | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, key, f"is {type(value).__name__}, not a table", f"write it as [{key}]")
    unknown = sorted(set(value) - set(known)) if known is not None else []
    if unknown:
        raise _fail(path, f"{key}.{unknown[0]}" if key else unknown[0], "is not a known key", f"use {', '.join(known)}")
    return value


def _list(path: Path, key: str, value: Any, kind: type) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise _fail(path, key, "must be a non-empty list", f"write e.g. {key.rsplit('.', 1)[-1]} = [...]")
    bad = [v for v in value if not isinstance(v, kind) or (kind is int and isinstance(v, bool))]
    if bad:
        wanted = {str: "strings", int: "integers"}[kind]
        raise _fail(path, key, f"holds {bad[0]!r}", f"list {wanted} only")
    if len(set(map(json.dumps, value))) != len(value):
        raise _fail(path, key, "repeats a value", "list each value once")
    return value


def _setting(path: Path, key: str, name: str, value: Any) -> Any:
    """A harness setting converted to the type TrainSettings holds."""
    kind = SETTINGS.get(name)
    if kind is None:
        raise _fail(path, key, "is not a harness setting", f"use one of {', '.join(SETTINGS)}")
    if kind in (ClipSampling, LogMelConfig):
        known = {f.name: type(f.default) for f in fields(kind)}
        table = _table(path, key, value, tuple(known))
        return {k: _setting_value(path, f"{key}.{k}", v, known[k]) for k, v in table.items()}
    converted = _setting_value(path, key, value, kind)
    if name == "track" and converted not in TRACKS:
        raise _fail(path, key, f"is {converted!r}", f"use one of {', '.join(TRACKS)}")
    return converted


def _setting_value(path: Path, key: str, value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind is Path and isinstance(value, str):
        return Path(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    wanted = {Path: "a path string", int: "an integer", float: "a number", str: "a string"}[kind]
    raise _fail(path, key, f"is {value!r}, not {wanted}", f"write {wanted}")


def load_sweep(path: Path, runs: Path | None = None, results: Path | None = None, shard: Shard | None = None) -> Sweep:
    """Read and check a sweep file (`runs` and `results` replace the file's); with a `shard`, the sweep runs only that
    shard's cells and appends to the shard's own log, unless the file sets `shared_log = true`. Every problem is one
    AvnbError naming the key and the fix."""
    if not path.is_file():
        raise AvnbError(f"sweep file {path} not found; pass a TOML file such as sweeps/paper-avmnist.toml")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise AvnbError(f"sweep file {path} is not valid TOML ({exc}); fix the syntax there") from exc
    _table(path, "", data, TOP_KEYS)
    if "grid" not in data:
        raise _fail(path, "[grid]", "is missing", "add a [grid] table with benchmarks, configs, methods and seeds")
    tables = data["grid"] if isinstance(data["grid"], list) else [data["grid"]]
    keys = [f"grid[{i}]" for i in range(len(tables))] if isinstance(data["grid"], list) else ["grid"]
    settings = _settings(path, "settings", data.get("settings", {}))
    options = _table(path, "options", data.get("options", {}))
    grids = [_grid(path, key, table, settings, options) for key, table in zip(keys, tables, strict=True)]
    unused = sorted(set(options) - {m for g in grids for m in g.methods})
    if unused:
        raise _fail(path, f"options.{unused[0]}", "names a method that no grid runs", "add it to a grid's methods")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise _fail(path, "name", f"is {name!r}", "give a non-empty string")
    runs = runs or _setting_value(path, "runs", data.get("runs", f"runs/{name}"), Path)
    results = results or _setting_value(path, "results", data.get("results", str(runs / "results.jsonl")), Path)
    shared = data.get("shared_log", False)
    if not isinstance(shared, bool):
        raise _fail(path, "shared_log", f"is {shared!r}", "write true or false")
    if shard is not None and not shared:
        results = shard.log(results)
    return Sweep(path=path, name=name, runs=runs, results=results, grids=grids, shard=shard, shared_log=shared)


def _settings(path: Path, key: str, value: Any) -> dict[str, Any]:
    return {name: _setting(path, f"{key}.{name}", name, v) for name, v in _table(path, key, value).items()}


def _grid(path: Path, key: str, value: Any, settings: dict[str, Any], options: dict[str, Any]) -> Grid:
    """One grid table, with the file's shared settings and options under its own."""
    grid = _table(path, key, value, GRID_KEYS)
    for required in ("benchmarks", "configs", "methods", "seeds"):
        if required not in grid:
            raise _fail(path, f"{key}.{required}", "is missing", f"add {required} = [...] to [{key.split('[')[0]}]")
    methods = _list(path, f"{key}.methods", grid["methods"], str)
    vary = _table(path, f"{key}.vary", grid.get("vary", {}), VARY_KEYS)
    vary_settings = {
        name: [
            _setting(path, f"{key}.vary.settings.{name}", name, v)
            for v in _list(path, f"{key}.vary.settings.{name}", values, object)
        ]
        for name, values in _table(path, f"{key}.vary.settings", vary.get("settings", {})).items()
    }
    own_settings = _settings(path, f"{key}.settings", grid.get("settings", {}))
    shared = sorted(set(own_settings) & set(vary_settings))
    if shared:
        raise _fail(path, f"{key}.vary.settings.{shared[0]}", f"is also in {key}.settings", "keep it in one of them")
    fixed = {k: v for k, v in {**settings, **own_settings}.items() if k not in vary_settings}
    own = _method_tables(path, f"{key}.options", grid.get("options", {}), methods, lambda k, v: v)
    vary_options = _method_tables(
        path, f"{key}.vary.options", vary.get("options", {}), methods, lambda k, v: _list(path, k, v, object)
    )
    merged = {
        m: {k: v for k, v in {**options.get(m, {}), **own.get(m, {})}.items() if k not in vary_options.get(m, {})}
        for m in methods
    }
    return Grid(
        benchmarks=[Path(b) for b in _list(path, f"{key}.benchmarks", grid["benchmarks"], str)],
        configs=_list(path, f"{key}.configs", grid["configs"], str),
        methods=methods,
        seeds=_list(path, f"{key}.seeds", grid["seeds"], int),
        settings=fixed,
        options=merged,
        vary_settings=vary_settings,
        vary_options=vary_options,
    )


def _method_tables(path: Path, key: str, value: Any, methods: list[str], check: Any) -> dict[str, dict[str, Any]]:
    tables = _table(path, key, value)
    for method, table in tables.items():
        if method not in methods:
            raise _fail(
                path, f"{key}.{method}", "names a method the grid does not run", "add it to methods or remove it"
            )
        _table(path, f"{key}.{method}", table)
    return {m: {k: check(f"{key}.{m}.{k}", v) for k, v in t.items()} for m, t in tables.items()}


def _open(path: Path, folder: Path) -> BenchmarkFolder:
    if not (folder / LOCK).is_file():
        raise _fail(
            path,
            "grid.benchmarks",
            f"names {folder}, which is not a built benchmark folder (no {LOCK})",
            "build it with `avnb build ...` first (relative paths count from the working directory)",
        )
    return BenchmarkFolder(folder)


def _product(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]


def cell_key(config: RunConfig) -> str:
    """A stable digest of what a cell's result depends on (its run config's identity: benchmark build, config,
    method and options, varied values, model, initial weights, budget, track, decoding; not where files live)."""
    text = json.dumps(config.identity(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


def expand(sweep: Sweep) -> list[Cell]:
    """Every cell of the sweep's grids, seeds outermost (an interrupted sweep has whole seeds done first), each once;
    checks the benchmarks, their configs, the methods' options, the models and the media before anything runs, and
    that no two cells would append results the log cannot tell apart."""
    cells = sorted((cell for grid in sweep.grids for cell in _grid_cells(sweep, grid)), key=lambda c: c.settings.seed)
    unique: dict[str, Cell] = {}
    for cell in cells:
        unique.setdefault(cell.key, cell)
    results: dict[tuple, Cell] = {}
    for cell in unique.values():
        other = results.setdefault(cell.result_key, cell)
        if other is not cell:
            s = cell.settings
            raise AvnbError(
                f"sweep file {sweep.path}: two {cell.label} cells on {s.folder.path.name} {s.config} seed {s.seed} "
                "differ only in decoding settings, which a result record does not hold, so the results log could not "
                "tell their results apart; put them in separate sweeps with their own results logs"
            )
    return list(unique.values())


def sweep_cells(sweep: Sweep) -> list[Cell]:
    """The cells this sweep runs: all of `expand(sweep)`, or its shard's share of them."""
    cells = expand(sweep)
    return sweep.shard.select(cells) if sweep.shard else cells


def _grid_cells(sweep: Sweep, grid: Grid) -> list[Cell]:
    folders = {folder: _open(sweep.path, folder) for folder in grid.benchmarks}
    for folder, bench in folders.items():
        missing = [c for c in grid.configs if c not in bench.config_names]
        if missing:
            raise _fail(
                sweep.path,
                "configs",
                f"names {missing[0]!r}, which {folder} does not have",
                f"use {', '.join(bench.config_names)}",
            )
    cells, media_checked = [], set()
    for point in _points(grid):
        values = {**grid.settings, **point.setting_values}
        given = {**grid.options.get(point.method, {}), **point.option_values}
        try:
            settings = plan_run(
                folders[point.folder],
                point.config,
                point.method,
                out=sweep.runs,
                media_root=values.pop("media_root", DEFAULT_MEDIA_ROOT),
                options=given,
                seed=point.seed,
                cache_dir=values.pop("cache_dir", None),
                sampling=values.pop("sampling", None),
                audio=values.pop("audio", None),
                variant=point.varied,
                check_media=False,
                **values,
            )
        except AvnbError as exc:
            raise AvnbError(f"sweep file {sweep.path}: {point.label} on {point.folder} {point.config}: {exc}") from exc
        if (point.folder, settings.media_root) not in media_checked:
            check_media_present(settings)
            media_checked.add((point.folder, settings.media_root))
        config = settings.record()
        key = cell_key(config)
        cells.append(Cell(replace(settings, out=sweep.runs / key), point.varied, key, run_result_key(config)))
    return cells


@dataclass(frozen=True)
class GridPoint:
    """Where one cell sits in its grid: benchmark folder, config, method, seed and the values it varies."""

    folder: Path
    config: str
    method: str
    seed: int
    setting_values: dict[str, Any]
    option_values: dict[str, Any]

    @property
    def varied(self) -> dict[str, Any]:
        """The varied settings and options together, as the cell's label shows them."""
        return {**self.setting_values, **self.option_values}

    @property
    def label(self) -> str:
        """The results log's method for this cell: `ntl[ablation=ins]`."""
        return variant_label(self.method, self.varied)


def _points(grid: Grid) -> list[GridPoint]:
    return [
        GridPoint(folder, config, method, seed, setting_values, option_values)
        for seed, folder, config, method in itertools.product(grid.seeds, grid.benchmarks, grid.configs, grid.methods)
        for setting_values in _product(grid.vary_settings)
        for option_values in _product(grid.vary_options.get(method, {}))
    ]


def grid_points(sweep: Sweep) -> list[GridPoint]:
    """Every cell's place in the sweep's grids, read from the file alone (no built benchmark needed), in grid order;
    what a results log must hold for the sweep to be complete."""
    return [point for grid in sweep.grids for point in _points(grid)]
