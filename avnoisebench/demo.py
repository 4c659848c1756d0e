"""`avnb demo`: build a small noisy benchmark offline, train late-fusion and a noise-robust method, rank them."""

from dataclasses import dataclass
from pathlib import Path

from avnoisebench.errors import AvnbError
from avnoisebench.harness.registry import registered_methods
from avnoisebench.noise.correspondence import CorrespondenceSpec
from avnoisebench.noise.labels import NoiseSpec
from avnoisebench.progress import SILENT, Progress
from avnoisebench.recipes.synthetic_av import SyntheticAvOptions, build_synthetic_av


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
    """The noise-robust method that comes last in the tables' order (the paper's own), from the registered methods'
    metadata."""
    robust = []
    for name, entry in registered_methods().items():
        try:
            method = entry.load()
        except Exception:  # a broken third-party plug-in is not a candidate
            continue
        if getattr(method, "robust", False):
            robust.append((getattr(method, "order", 0), name))
    if not robust:
        raise AvnbError("no noise-robust method is registered (a Method with robust = True); reinstall avnoisebench")
    return max(robust)[1]


def run_demo(out: Path, plan: DemoPlan = DemoPlan(), progress: Progress = SILENT) -> Path:
    """Build synthetic-av under `out`, train late-fusion and robust_method() on the plan's config (cached track,
    small model), evaluate both into out/results.jsonl and return that log."""
    from avnoisebench.evaluation.results import append_result
    from avnoisebench.evaluation.scoring import evaluate_run
    from avnoisebench.harness.settings import plan_run
    from avnoisebench.harness.training import run_training

    if out.exists() and any(out.iterdir()):
        raise AvnbError(f"demo folder {out} is not empty; remove it or pass another --out")
    progress.note(f"building synthetic-av ({plan.classes} classes) with {plan.config} under {out}")
    options = SyntheticAvOptions(
        out=out / "synthetic-av",
        media_root=out / "media",
        classes=plan.classes,
        train_per_class=plan.train_per_class,
        test_per_class=plan.test_per_class,
        seed=plan.seed,
        noise=(NoiseSpec.parse(plan.label_noise),),
        nc_synthetic=(CorrespondenceSpec(plan.correspondence),),
    )
    [folder] = build_synthetic_av(options)
    results = out / "results.jsonl"
    for method in ("late-fusion", robust_method()):
        progress.note(f"training {method} for {plan.epochs} epochs on {plan.config} (cached track, small model)")
        settings = plan_run(
            folder,
            plan.config,
            method,
            out=out / "runs" / method,
            media_root=out / "media",
            track="cached",
            model="small",
            init="none",
            seed=plan.seed,
            epochs=plan.epochs,
            batch_size=plan.batch_size,
            lr=plan.lr,
            cache_dir=out / "cache",
        )
        append_result(results, evaluate_run(run_training(settings, progress=progress)).record)
    return results
