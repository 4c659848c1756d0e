"""`avnb demo`: build a small noisy benchmark offline, train late-fusion and a noise-robust method, rank them."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from avnoisebench.benchmarks.build import synthetic_av_folder
from avnoisebench.errors import AvnbError
from avnoisebench.harness.registry import registered_methods
from avnoisebench.noise.correspondence import CorrespondenceSpec
from avnoisebench.noise.labels import NoiseSpec

ROBUST_PREFERENCE = ("ntl", "mrl", "avr", "xdc", "gblend", "adamml")


@dataclass(frozen=True)
class DemoPlan:
    """What the demo builds and trains: a synthetic-av size, one noise config, the methods and their budget."""

    classes: int = 4
    train_per_class: int = 20
    test_per_class: int = 8
    correspondence: float = 0.3
    label_noise: str = "sym60"
    epochs: int = 25
    lr: float = 1e-3
    batch_size: int = 16
    seed: int = 0

    @property
    def config(self) -> str:
        """The noise config trained on, e.g. `nc30-sym60`."""
        return f"{CorrespondenceSpec(self.correspondence).name}-{NoiseSpec.parse(self.label_noise).name}"


def robust_method() -> str:
    """The most noise-robust method registered here (the paper's own first)."""
    available = registered_methods()
    for name in ROBUST_PREFERENCE:
        if name in available:
            return name
    raise AvnbError(f"none of the noise-robust methods {', '.join(ROBUST_PREFERENCE)} is registered; reinstall")


def run_demo(out: Path, plan: DemoPlan = DemoPlan(), report: Callable[[str], None] = print) -> Path:
    """Build synthetic-av under `out`, train late-fusion and robust_method() on the plan's config (cached track,
    small model), evaluate both into out/results.jsonl and return that log."""
    from avnoisebench.evaluation.evaluate import evaluate_run
    from avnoisebench.evaluation.results import append_result
    from avnoisebench.harness.train import TrainSettings, run_training
    from avnoisebench.loaders.decoding import benchmark_decoding

    if out.exists() and any(out.iterdir()):
        raise AvnbError(f"demo folder {out} is not empty; remove it or pass another --out")
    report(f"building synthetic-av ({plan.classes} classes) with {plan.config} under {out}")
    folder = synthetic_av_folder(
        out / "synthetic-av",
        out / "media",
        classes=plan.classes,
        train_per_class=plan.train_per_class,
        test_per_class=plan.test_per_class,
        seed=plan.seed,
        noise=[NoiseSpec.parse(plan.label_noise)],
        correspondence=[CorrespondenceSpec(plan.correspondence)],
    )
    sampling, audio = benchmark_decoding(folder)
    results = out / "results.jsonl"
    for method in ("late-fusion", robust_method()):
        report(f"training {method} for {plan.epochs} epochs on {plan.config} (cached track, small model)")
        settings = TrainSettings(
            folder=folder,
            config=plan.config,
            method=method,
            media_root=out / "media",
            out=out / "runs" / method,
            track="cached",
            model="small",
            seed=plan.seed,
            epochs=plan.epochs,
            batch_size=plan.batch_size,
            lr=plan.lr,
            cache_dir=out / "cache",
            sampling=sampling,
            audio=audio,
        )
        append_result(results, evaluate_run(run_training(settings)).record)
    return results
