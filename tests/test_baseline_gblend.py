"""G-Blend and the unimodal references: the weight rule and its guard rails, the held-out split, the blended loss, the
toy estimate (a memorisable, uninformative modality gets no weight), resume, and a run through the harness."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from harnesskit import TensorSource, run_settings

from avnoisebench.evaluation.scoring import evaluate_run
from avnoisebench.harness.registry import load_method
from avnoisebench.harness.training import run_training
from avnoisebench.models import AVModel, FusionHead, MLPEncoder
from avnoisebench.plugin import AvnbError, Budget, RunLog, TrainData
from avnoisebench.runs.folder import RunFolder
from baselines.gblend import (
    BRANCHES,
    GBlend,
    Measure,
    blend_weights,
    blended_loss,
    generalisation_and_overfitting,
    holdout_split,
)
from baselines.late_fusion import LateFusion
from baselines.unimodal import AudioOnly, VideoOnly

CLASSES = 4


def toy(n: int, seed: int, video_noise: float = 2.5, code_dim: int = 512) -> tuple[torch.Tensor, ...]:
    """Labels, informative video (Gaussian classes) and uninformative audio (a random code per sample)."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(CLASSES, 16, generator=torch.Generator().manual_seed(99))
    labels = torch.arange(n) % CLASSES
    video = centres[labels] + video_noise * torch.randn(n, 16, generator=generator)
    return labels, video, torch.randn(n, code_dim, generator=generator)


def toy_data(n: int = 200, seed: int = 0) -> TrainData:
    labels, video, audio = toy(n, 1)
    return TrainData(labels.tolist(), np.ones(n, dtype=bool), TensorSource(video, audio), CLASSES, 32, seed)


def toy_model(seed: int = 0) -> torch.nn.Module:
    """Projections 256 wide inside and a 512-wide head: room for the 512-d audio to be memorised."""
    torch.manual_seed(seed)
    return AVModel(MLPEncoder(16, 32, hidden=256), MLPEncoder(512, 32, hidden=256), FusionHead(CLASSES, 32, 32, 512))


def toy_fit(method, run_dir: Path, data: TrainData | None = None, epochs: int = 20, log: RunLog | None = None):
    budget = Budget(epochs, 32, 3e-3, "cpu", 0)
    return method.fit(toy_model(), data or toy_data(), budget, log or RunLog(run_dir))


def clean_accuracy(predictor) -> float:
    labels, video, audio = toy(400, 2)
    return float((predictor(video, audio).argmax(1) == labels).float().mean())


def events(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in line.items() if k != "time"} for line in RunFolder(run_dir).metrics()]


# --- the weight rule ---------------------------------------------------------------------------------------------


def test_three_times_the_overfitting_gets_a_ninth_of_the_weight() -> None:
    result = blend_weights({"video": 0.5, "audio": 0.5, "av": -0.1}, {"video": 0.3, "audio": 0.1, "av": 0.2})
    w = result.weights
    assert w["video"] == pytest.approx(w["audio"] / 9)
    assert w["av"] == 0.0 and sum(w.values()) == pytest.approx(1.0)
    assert w["audio"] == pytest.approx(0.9) and not result.fallback and result.clamped == ()


def test_weights_are_proportional_to_gain_over_squared_overfitting() -> None:
    gains, overfits = {"video": 0.8, "audio": 0.1, "av": 0.4}, {"video": 0.2, "audio": 0.5, "av": 0.4}
    raw = {k: gains[k] / overfits[k] ** 2 for k in gains}
    w = blend_weights(gains, overfits).weights
    assert w == pytest.approx({k: v / sum(raw.values()) for k, v in raw.items()})


def test_guard_rails() -> None:
    clamped = blend_weights({"video": 1e-8, "audio": 1.0, "av": 1.0}, {"video": -0.3, "audio": 0.0, "av": 0.1})
    assert clamped.clamped == ("video", "audio")
    raw = {"video": 1e-8 / 1e-8, "audio": 1.0 / 1e-8, "av": 1.0 / 0.01}
    assert clamped.weights == pytest.approx({k: v / sum(raw.values()) for k, v in raw.items()})
    nothing = blend_weights({"video": 0.0, "audio": -1.0, "av": -0.2}, {"video": 0.1, "audio": 0.1, "av": 0.1})
    assert nothing.fallback and nothing.weights == {"video": 0.0, "audio": 0.0, "av": 1.0}
    equal = blend_weights({k: -1.0 for k in BRANCHES}, {k: 0.1 for k in BRANCHES}, fallback="equal")
    assert equal.fallback and equal.weights == pytest.approx({k: 1 / 3 for k in BRANCHES})


def test_generalisation_and_overfitting_deltas_and_multibench_variant() -> None:
    before, after = Measure(train=1.3, valid=1.4), Measure(train=0.5, valid=1.0)
    gain, overfit = generalisation_and_overfitting(before, after)
    assert gain == pytest.approx(0.4) and overfit == pytest.approx(0.5 - 0.1)
    assert generalisation_and_overfitting(before, after, "multibench") == pytest.approx((1.0, 0.5))


# --- held-out split and blended loss ---------------------------------------------------------------------------


def test_holdout_is_a_seeded_disjoint_eight_percent_of_the_usable_samples() -> None:
    valid = torch.ones(1000, dtype=torch.bool)
    valid[::10] = False
    train, held = holdout_split(valid, 0.08, seed=3)
    assert len(held) == round(0.08 * 900) == 72 and len(train) == 900 - 72
    assert not set(train) & set(held) and set(train) | set(held) == set(np.flatnonzero(valid.numpy()))
    assert np.array_equal(held, holdout_split(valid, 0.08, seed=3)[1])
    assert not np.array_equal(held, holdout_split(valid, 0.08, seed=4)[1])
    with pytest.raises(AvnbError, match="no held-out"):
        holdout_split(torch.ones(5, dtype=torch.bool), 0.08, seed=0)


def test_blended_loss_is_the_weighted_sum_and_naive_weights_are_plain_fusion_ce() -> None:
    torch.manual_seed(0)
    logits = {k: torch.randn(6, CLASSES) for k in BRANCHES}
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    weights = {"video": 0.2, "audio": 0.3, "av": 0.5}
    loss, parts = blended_loss(logits, labels, weights)
    ce = {k: torch.nn.functional.cross_entropy(logits[k], labels) for k in BRANCHES}
    assert float(loss) == pytest.approx(sum(weights[k] * float(ce[k]) for k in BRANCHES), abs=1e-7)
    assert all(torch.equal(parts[k], ce[k]) for k in BRANCHES)

    model = toy_model()
    heads = torch.nn.Linear(32, CLASSES), torch.nn.Linear(32, CLASSES)
    video, audio = torch.randn(6, 16), torch.randn(6, 512)

    def gradients(naive: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        model.zero_grad()
        f_v, f_a, fused = model(video, audio)
        if naive:
            loss = torch.nn.functional.cross_entropy(fused, labels)
        else:
            outputs = {"video": heads[0](f_v), "audio": heads[1](f_a), "av": fused}
            loss = blended_loss(outputs, labels, {"video": 0.0, "audio": 0.0, "av": 1.0})[0]
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    (naive_loss, naive_grads), (blend_loss, blend_grads) = gradients(True), gradients(False)
    assert torch.equal(naive_loss, blend_loss)
    assert all(torch.equal(a, b) for a, b in zip(naive_grads, blend_grads, strict=True))


# --- the method on the toy -----------------------------------------------------------------------------------------


def test_memorisable_modality_gets_no_weight_and_the_blend_beats_naive_fusion(tmp_path: Path) -> None:
    blended = toy_fit(GBlend(estimate_epochs=5), tmp_path / "gblend")
    [estimate] = [e for e in events(tmp_path / "gblend") if e.get("event") == "gblend-estimate"]
    assert estimate["weights"]["audio"] < 0.01 and estimate["G"]["audio"] < 0 < estimate["G"]["video"]
    naive = toy_fit(LateFusion(), tmp_path / "naive")
    assert clean_accuracy(blended) >= clean_accuracy(naive) + 0.05


def test_the_held_out_part_is_measured_but_never_trained_on(tmp_path: Path) -> None:
    data = toy_data()
    toy_fit(GBlend(estimate_epochs=2), tmp_path / "run", data, epochs=3)
    _, held = holdout_split(data.valid, 0.08, data.seed)
    assert data.source.trained_on == set(range(200)) - set(held.tolist())
    everything = toy_data()
    toy_fit(GBlend(estimate_epochs=2, train_on_holdout=True), tmp_path / "all", everything, epochs=3)
    assert everything.source.trained_on == set(range(200))


class StopAfter(RunLog):
    """A run log that interrupts the run once the checkpoint of epoch `stop` is written."""

    def __init__(self, run_dir: Path, stop: int) -> None:
        super().__init__(run_dir)
        self.stop = stop

    def checkpoint(self, epoch, modules, optimizers, extra=None) -> None:
        super().checkpoint(epoch, modules, optimizers, extra)
        if epoch == self.stop:
            raise KeyboardInterrupt


@pytest.mark.parametrize("stop", [1, 2])
def test_online_run_resumed_after_interruption_equals_the_uninterrupted_one(tmp_path: Path, stop: int) -> None:
    options = {"mode": "online", "first_super_epoch": 2, "super_epoch": 2, "refit_epochs": 3}
    reference = toy_fit(GBlend(**options), tmp_path / "a", epochs=5)
    interrupted = StopAfter(tmp_path / "b", stop)
    with pytest.raises(KeyboardInterrupt):
        toy_fit(GBlend(**options), tmp_path / "b", epochs=5, log=interrupted)
    interrupted.folder.release()
    state = RunFolder(tmp_path / "b").load_checkpoint()
    assert state["epoch"] == stop and set(state["extra"]) == {"weights", "estimated_at"}
    resumed = toy_fit(GBlend(**options), tmp_path / "b", epochs=5, log=RunLog(tmp_path / "b", resume=True))
    assert events(tmp_path / "a") == events(tmp_path / "b")
    assert [e["epoch"] for e in events(tmp_path / "a") if e.get("event") == "gblend-estimate"] == [0, 2, 4]
    _, video, audio = toy(50, 2)
    assert torch.equal(reference(video, audio), resumed(video, audio))


def test_options_are_checked_at_construction() -> None:
    with pytest.raises(AvnbError, match="gblend option mode='sometimes': choose one of offline, online"):
        GBlend(mode="sometimes")
    with pytest.raises(AvnbError, match="gblend option estimate_epochs=0 is out of range; allowed: >= 1"):
        GBlend(estimate_epochs=0)
    with pytest.raises(AvnbError, match="estimate_epochs='ten': give a whole number"):
        GBlend(estimate_epochs="ten")
    with pytest.raises(AvnbError, match="needs mode=offline"):
        GBlend(mode="online", train_on_holdout=True)
    with pytest.raises(AvnbError, match=r"holdout=1.5 is out of range; allowed: \(0, 1\)"):
        GBlend(holdout=1.5)
    with pytest.raises(AvnbError, match=r"epsilon=0 is out of range; allowed: > 0"):
        GBlend(epsilon=0)
    options = GBlend(holdout="0.1", train_on_holdout="true", refit_epochs="0").options
    assert (options.holdout, options.train_on_holdout, options.refit_epochs) == (0.1, True, 0)
    assert (GBlend.paper_name, GBlend.order, GBlend.robust) == ("G-Blend", 10, False)


def test_unimodal_references_use_only_their_modality(tmp_path: Path) -> None:
    video_only = toy_fit(VideoOnly(), tmp_path / "video", epochs=10)
    audio_only = toy_fit(AudioOnly(), tmp_path / "audio", epochs=10)
    labels, video, audio = toy(40, 2)
    assert torch.equal(video_only(video, audio), video_only(video, torch.randn_like(audio)))
    assert torch.equal(audio_only(video, audio), audio_only(torch.randn_like(video), audio))
    assert clean_accuracy(video_only) > 0.6 and clean_accuracy(audio_only) < 0.4
    assert [load_method(name) for name in ("gblend", "video-only", "audio-only")] == [GBlend, VideoOnly, AudioOnly]


# --- through the harness -------------------------------------------------------------------------------------------


def test_gblend_learns_on_synthetic_av(synthetic_bench: tuple[Path, Path], tmp_path: Path) -> None:
    settings = run_settings(
        synthetic_bench,
        tmp_path / "run",
        config="sym20",
        method="gblend",
        epochs=6,
        cache_dir=tmp_path / "cache",
        options={"estimate_epochs": 2},
    )
    run = run_training(settings)
    log = events(run)
    [estimate] = [e for e in log if e.get("event") == "gblend-estimate"]
    assert sum(estimate["weights"].values()) == pytest.approx(1.0)
    assert [(e["epoch"], e["samples"]) for e in log if "loss" in e and "epoch" in e and "event" not in e] == [
        (epoch, 80 - round(0.08 * 80)) for epoch in range(6)
    ]
    assert evaluate_run(run).record.metrics["V@1"] > 50.0


@pytest.mark.slow
def test_gblend_under_ddp_on_two_cpu_processes(synthetic_bench: tuple[Path, Path], tmp_path: Path) -> None:
    folder, media = synthetic_bench
    run = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += [
        "-m",
        "avnoisebench",
        "train",
        str(folder),
        "--config",
        "clean",
        "--method",
        "gblend",
        "--out",
        str(run),
    ]
    command += ["--media-root", str(media), "--track", "cached", "--model", "small", "--epochs", "2"]
    command += ["--batch-size", "16", "--lr", "0.003", "--frames", "4", "--stride", "0.5", "--views", "3"]
    command += [
        "--short-side",
        "40",
        "--crop",
        "32",
        "--init",
        "none",
        "--quiet",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    command += ["--option", "estimate_epochs=1", "--option", "refit_epochs=2"]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    log = events(run)
    assert [e["samples"] for e in log if "samples" in e] == [74 - 74 % 2] * 2
    assert [e["event"] for e in log if "event" in e] == ["gblend-estimate", "gblend-refit", "predict"]
