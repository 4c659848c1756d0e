"""Pretrain a benchmark build's CPU encoders (`avnb pretrain`): decode its training clips with their own audio and
without any label or pairing, pretrain label-free, then measure the frozen features and write the weights with a
card saying how they were made."""

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from avnoisebench.dataset.folder import BenchmarkFolder, open_folder
from avnoisebench.errors import AvnbError
from avnoisebench.harness.cache import cache_clips, cache_split
from avnoisebench.harness.settings import default_weights
from avnoisebench.loaders.clips import ClipDataset
from avnoisebench.models.weights import save_encoder_weights
from avnoisebench.pretrain.quality import Clips, feature_quality
from avnoisebench.pretrain.recipe import RECIPES, PretrainSpec
from avnoisebench.pretrain.run import pretrain_encoders
from avnoisebench.progress import SILENT, Progress
from avnoisebench.userdirs import cache_root


@dataclass(frozen=True)
class PretrainPlan:
    """What `avnb pretrain` will do, checked before anything is decoded."""

    folder: BenchmarkFolder
    spec: PretrainSpec
    media_root: Path
    out: Path
    seed: int
    jobs: int
    cache_dir: Path
    quality_config: str | None

    @property
    def workdir(self) -> Path:
        """Where per-epoch checkpoints live until the weights are written (a rerun resumes from them)."""
        return self.out.with_name(f".{self.out.name}.work")


def recipe_named(name: str) -> PretrainSpec:
    """The pretraining recipe called `name` (e.g. simclr-av-mnist)."""
    by_name = {spec.name: spec for spec in RECIPES.values()}
    if name not in by_name:
        raise AvnbError(f"no pretraining recipe named {name!r}; the recipes are {', '.join(sorted(by_name))}")
    return by_name[name]


def plan_pretraining(
    folder: str | Path | BenchmarkFolder,
    media_root: Path,
    out: Path | None = None,
    recipe: str | None = None,
    epochs: int | None = None,
    seed: int = 0,
    jobs: int = 2,
    cache_dir: Path | None = None,
    overwrite: bool = False,
) -> PretrainPlan:
    """Resolve and check a pretraining run: the recipe (the card's recommended one unless named), epochs, the output
    file (the card's default place for this build unless given), seed and jobs."""
    bench = open_folder(folder)
    name = recipe or bench.protocol.init
    if name in ("none", "scratch"):
        raise AvnbError(f"{bench.name}'s card recommends no pretraining; name a recipe with --recipe")
    spec = recipe_named(name)
    if epochs is not None:
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise AvnbError(f"--epochs {epochs!r} must be a whole number of at least 1")
        spec = replace(spec, epochs=epochs)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise AvnbError(f"--seed {seed!r} must be a whole number of at least 0")
    if jobs not in (1, 2):
        raise AvnbError(f"--jobs {jobs} must be 1 or 2 (one process per modality)")
    target = Path(out) if out is not None else default_weights(bench, spec.name)
    if target.suffix != ".pt":
        raise AvnbError(f"--out {target} must name a .pt file (its card is written beside it as .json)")
    if target.exists() and not overwrite:
        raise AvnbError(f"{target} already exists; pass --overwrite to pretrain again, or use it with --init {target}")
    quality = bench.protocol.quality_config
    return PretrainPlan(
        bench,
        spec,
        Path(media_root),
        target,
        seed,
        jobs,
        cache_dir or cache_root() / "clips",
        quality if quality in bench.config_names else None,
    )


def _as_arrays(video: np.ndarray, logmel: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The decodable clips' first view: uint8 video (N, 3, T, H, W) and float32 log-mels (N, frames, mels)."""
    rows = np.flatnonzero(valid)
    return np.ascontiguousarray(video[rows, 0]), np.asarray(logmel[rows, 0], dtype=np.float32)


def pretrain_folder(plan: PretrainPlan, progress: Progress = SILENT) -> dict[str, Any]:
    """Pretrain the plan's encoders on the build's training clips (own audio, no label read), measure the frozen
    features, write the weights and their card; returns the card."""
    bench, decoding = plan.folder, plan.folder.decoding
    centre = decoding.with_sampling(num_views=1)
    own = ClipDataset.unlabelled(bench, "train", plan.media_root, centre.sampling, centre.audio)
    if not own.clip_ids:
        raise AvnbError(f"no training clip of {bench.path} is in {plan.media_root}; fill it with avnb download/link")
    clips = cache_clips(own, bench, "train-own-audio", centre, plan.cache_dir, progress=progress)
    video, logmel = _as_arrays(clips.video, clips.logmel, clips.valid)
    state, card = pretrain_encoders(video, logmel, plan.spec, plan.seed, progress, plan.workdir, plan.jobs)
    progress.note("measuring the frozen features (k-NN, k = 16)")
    quality = measure(bench, state, plan, clips.clip_ids, clips.valid, video, logmel, progress)
    card |= {
        "benchmark": bench.name,
        "source_lock_sha256": bench.lock_sha256,
        "trained_on": "the training split's clips, each with its own audio; no label, no pairing, no test clip",
        "quality": quality,
    }
    save_encoder_weights(plan.out, state, card)
    return card


def training_minutes(card: dict[str, Any]) -> float:
    """Minutes of training a card's weights took (resumed runs included): the modalities ran at once with jobs > 1,
    one after the other otherwise."""
    seconds = card["seconds"].values()
    return (max(seconds) if card["jobs"] > 1 else sum(seconds)) / 60


def measure(
    bench: BenchmarkFolder,
    state: dict,
    plan: PretrainPlan,
    clip_ids: list[str],
    valid: np.ndarray,
    video: np.ndarray,
    logmel: np.ndarray,
    progress: Progress,
) -> dict[str, Any]:
    """Frozen-feature k-NN accuracy on the test split (train features with clean labels as the bank), and the
    accuracy of k-NN correction of the quality config's noisy training labels (hidden truth): an evaluation of the
    weights, made after pretraining."""
    labels = bench.manifest(bench.config_names[0], "train", ["clip_id", "clean_label"]).to_pydict()
    clean = dict(zip(labels["clip_id"], labels["clean_label"], strict=True))
    train = Clips(video, logmel, np.array([clean[c] for c, ok in zip(clip_ids, valid, strict=True) if ok]))
    config = plan.quality_config or bench.config_names[0]
    test_cache = cache_split(bench, config, "test", plan.media_root, bench.decoding, plan.cache_dir, progress=progress)
    rows = np.flatnonzero(test_cache.valid)
    test = Clips(test_cache.video[rows], test_cache.logmel[rows], np.asarray(test_cache.clean_labels)[rows])
    noisy = None
    if plan.quality_config is not None:
        pairs = cache_split(bench, config, "train", plan.media_root, bench.decoding, plan.cache_dir, progress=progress)
        keep = np.flatnonzero(pairs.valid)
        noisy = Clips(
            pairs.video[keep],
            pairs.logmel[keep],
            np.asarray(pairs.clean_labels)[keep],
            np.asarray(pairs.labels)[keep],
        )
    report = feature_quality(state, plan.spec.model, train, test, noisy)
    return {**report, "k": 16, "quality_config": plan.quality_config}
