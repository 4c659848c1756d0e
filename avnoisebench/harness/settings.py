"""A run's settings, resolved and checked before anything is decoded: the benchmark folder opened once, the method
and its typed options, the model against the benchmark's decoding, the initial weights, the budget, the device, the
media and the output folder. Unset values come from the benchmark card's recommended protocol."""

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from avnoisebench.dataset.decoding import Decoding
from avnoisebench.dataset.folder import BenchmarkFolder, open_folder
from avnoisebench.errors import AvnbError
from avnoisebench.harness.budget import Budget
from avnoisebench.harness.method import Method
from avnoisebench.harness.registry import load_method
from avnoisebench.hashing import sha256_file
from avnoisebench.media.coverage import available_clips
from avnoisebench.models import MODEL_NAMES, build_model
from avnoisebench.models.weights import read_card
from avnoisebench.provenance import code_version
from avnoisebench.runs.config import SCRATCH, TRACKS, InitRecord, RunConfig
from avnoisebench.userdirs import cache_root

CPU_MODELS = ("small", "tiny")
NO_INIT = ("none", "scratch")


@dataclass(frozen=True)
class Init:
    """The initial encoder weights of a run: an avnb weights file (`--init`) or the paper backbones' published
    files, with the record that goes into the run config and every result; none means random initialisation."""

    record: InitRecord = SCRATCH
    weights: Path | None = None
    visual_weights: Path | None = None
    audio_weights: Path | None = None


@dataclass(frozen=True)
class TrainSettings:
    """Everything a run depends on, resolved and checked (see `plan_run`); recorded in the run's config.json."""

    folder: BenchmarkFolder
    config: str
    method: Method
    media_root: Path
    out: Path | None
    track: str
    model: str
    init: Init
    epochs: int
    batch_size: int
    lr: float
    seed: int = 0
    device: str = "cpu"
    workers: int = 0
    cache_dir: Path = field(default_factory=lambda: cache_root() / "clips")
    decoding: Decoding = Decoding()
    name: str | None = None
    variant: dict[str, Any] = field(default_factory=dict)

    @property
    def budget(self) -> Budget:
        """The budget the method gets."""
        return Budget(self.epochs, self.batch_size, self.lr, self.device, self.seed)

    def record(self) -> RunConfig:
        """The run config of these settings (what config.json holds), with this process's torch thread count."""
        noise = self.folder.config(self.config)
        return RunConfig(
            benchmark=self.folder.name,
            benchmark_family=self.folder.family,
            benchmark_variant=self.folder.variant,
            benchmark_lock_sha256=self.folder.lock_sha256,
            config=self.config,
            label_noise_mode=noise.label_noise.mode,
            label_noise_rate=noise.label_noise.rate,
            correspondence=noise.correspondence,
            correspondence_kind=noise.correspondence_kind,
            method=self.method.name,
            method_options=self.method.options.as_dict(),
            model=self.model,
            init=self.init.record,
            track=self.track,
            seed=self.seed,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            decoding={"sampling": vars(self.decoding.sampling), "audio": vars(self.decoding.audio)},
            variant=dict(self.variant),
            benchmark_folder=str(self.folder.path),
            media_root=str(self.media_root),
            cache_dir=str(self.cache_dir),
            device=self.device,
            workers=self.workers,
            threads=torch.get_num_threads(),
            code_version=code_version(),
            name=self.name,
        )


def check_device(device: str) -> str:
    """`device` if torch can use it here; one clear error otherwise (unknown name, or CUDA without a GPU)."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise AvnbError(f"--device {device!r} is not a device name; use cpu, cuda or cuda:N") from exc
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise AvnbError(f"--device {device} needs a CUDA GPU, and torch sees none here; use --device cpu")
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise AvnbError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if parsed.type not in ("cpu", "cuda"):
        raise AvnbError(f"--device {device}: avnb trains on cpu or cuda devices")
    return device


def check_model_fits(model: str, bench: BenchmarkFolder, decoding: Decoding) -> None:
    """Refuse a model that cannot take the benchmark's decoding (a dry forward pass of two zero clips), naming the
    decoding and a model that fits."""
    if model not in MODEL_NAMES:
        raise AvnbError(f"--model {model!r} is unknown; choose one of {', '.join(MODEL_NAMES)}")
    if model == "mlp":
        raise AvnbError(
            "--model mlp runs on feature vectors only; with clips choose one of small, tiny, r2plus1d18-panns22"
        )
    sampling, audio = decoding.sampling, decoding.audio
    video = torch.zeros(2, 3, sampling.num_frames, sampling.crop, sampling.crop)
    logmel = torch.zeros(2, audio.num_frames, audio.n_mels)

    def fits(name: str) -> str | None:
        net = build_model(name, bench.num_classes).eval()
        try:
            with torch.no_grad():
                net(video, logmel)
        except (RuntimeError, ValueError) as exc:
            return str(exc).strip().splitlines()[0][:160]
        return None

    problem = fits(model)
    if problem is not None:
        others = [name for name in (*CPU_MODELS, "r2plus1d18-panns22") if name != model and fits(name) is None]
        shapes = (
            f"clips 3x{sampling.num_frames}x{sampling.crop}x{sampling.crop}, log-mels {audio.num_frames}x{audio.n_mels}"
        )
        fix = f"use --model {others[0]}" if others else "change the decoding (--frames, --crop)"
        raise AvnbError(f"model {model!r} cannot take {bench.name}'s decoding ({shapes}): {problem}; {fix}")


def default_weights(bench: BenchmarkFolder, recipe: str) -> Path:
    """Where `avnb pretrain` writes a benchmark build's weights of a recipe by default: beside the benchmark folder,
    `<folder>.weights/<recipe>-<lock digest prefix>.pt`."""
    return bench.path.with_name(f"{bench.path.name}.weights") / f"{recipe}-{bench.lock_sha256[:12]}.pt"


def resolve_init(
    init: str | None,
    bench: BenchmarkFolder,
    media_root: Path,
    visual_weights: Path | None = None,
    audio_weights: Path | None = None,
) -> Init:
    """The run's initial weights: `none` (random), a weights file, or the name of a pretraining recipe (its default
    file for this benchmark build, which must exist); the card's recommendation when `init` is None."""
    if visual_weights or audio_weights:
        if init not in (None, *NO_INIT):
            raise AvnbError("--init and --visual-weights/--audio-weights both give initial weights; pass one of them")
        files = [p for p in (visual_weights, audio_weights) if p is not None]
        for path in files:
            if not path.is_file():
                raise AvnbError(f"weights file {path} does not exist; pass the local file's path")
        digest = "+".join(sha256_file(p) for p in files)
        source = "+".join(f"{kind}:{p.name}" for kind, p in (("visual", visual_weights), ("audio", audio_weights)) if p)
        return Init(InitRecord(digest, source), None, visual_weights, audio_weights)
    chosen = bench.protocol.init if init is None else init
    if chosen in NO_INIT:
        return Init()
    path = Path(chosen)
    if not path.suffix:
        path = default_weights(bench, chosen)
        if not path.is_file():
            raise AvnbError(
                f"{bench.name}'s recommended weights ({chosen}) do not exist yet at {path}; make them first with "
                f"`avnb pretrain {bench.path} --media-root {media_root}` (minutes, once per build), or pass "
                f"--init none to train from scratch on purpose"
            )
    elif not path.is_file():
        raise AvnbError(f"--init {path}: no such weights file; pass a file written by `avnb pretrain`, or none")
    card = read_card(path)
    return Init(InitRecord(sha256_file(path), card.get("recipe", path.stem) if card else path.stem, card), path)


def _check_number(flag: str, value: int, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise AvnbError(f"--{flag} {value!r} must be a whole number of at least {least}")


def plan_run(
    folder: str | Path | BenchmarkFolder,
    config: str,
    method: str | Method,
    out: Path | None,
    media_root: Path,
    options: dict[str, Any] | None = None,
    track: str | None = None,
    model: str | None = None,
    init: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    seed: int = 0,
    device: str = "cpu",
    workers: int = 0,
    cache_dir: Path | None = None,
    sampling: dict[str, Any] | None = None,
    audio: dict[str, Any] | None = None,
    visual_weights: Path | None = None,
    audio_weights: Path | None = None,
    name: str | None = None,
    variant: dict[str, Any] | None = None,
    check_media: bool = True,
) -> TrainSettings:
    """Resolve and check every setting of a run, in the first second: nothing is decoded or written. Settings left
    None take the benchmark card's recommended protocol (the paper's where the card has none)."""
    bench = open_folder(folder)
    bench.require_config(config)
    chosen = method if isinstance(method, Method) else load_method(method)(**(options or {}))
    if isinstance(method, Method) and options:
        raise AvnbError("options come with the Method instance; do not pass them separately")
    protocol = bench.protocol
    _check_number("workers", workers, 0)
    device = check_device(device)
    budget = Budget(
        protocol.epochs if epochs is None else epochs,
        protocol.batch_size if batch_size is None else batch_size,
        protocol.lr if lr is None else lr,
        device,
        seed,
    )
    if name is not None and not name.strip():
        raise AvnbError("--name is empty; give the display name the run's results get, or leave it out")
    track = protocol.track if track is None else track
    if track not in TRACKS:
        raise AvnbError(f"--track {track!r} is unknown; use one of {', '.join(TRACKS)}")
    model = protocol.model if model is None else model
    decoding = bench.decoding.with_sampling(**(sampling or {}))
    if audio:
        decoding = Decoding(decoding.sampling, replace(decoding.audio, **audio))
    check_model_fits(model, bench, decoding)
    settings = TrainSettings(
        folder=bench,
        config=config,
        method=chosen,
        media_root=Path(media_root),
        out=None if out is None else Path(out),
        track=track,
        model=model,
        init=resolve_init(init, bench, Path(media_root), visual_weights, audio_weights),
        epochs=budget.epochs,
        batch_size=budget.batch_size,
        lr=budget.lr,
        seed=budget.seed,
        device=budget.device,
        workers=workers,
        cache_dir=cache_root() / "clips" if cache_dir is None else Path(cache_dir),
        decoding=decoding,
        name=name,
        variant=dict(variant or {}),
    )
    if check_media:
        check_media_present(settings)
    return settings


def check_media_present(settings: TrainSettings) -> None:
    """Refuse a run whose training or test split has no clip in the media root (nothing would be learned or
    scored), naming the fix."""
    present = available_clips(settings.folder, settings.media_root)
    for split in ("train", "test"):
        ids = settings.folder.manifest(settings.config, split, ["clip_id"])["clip_id"].to_pylist()
        if not any(clip in present for clip in ids):
            raise AvnbError(
                f"no {split} clip of {settings.folder.path} is in the media root {settings.media_root}; fill it "
                f"with `avnb download` or `avnb link` (or pass the right --media-root)"
            )
