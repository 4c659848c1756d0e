"""AV-R: ISTA sparse coding over memory banks, its step size, the dissimilarity term, the blend, gradients through
the unrolled solver, and a short two-stage run on synthetic-av with resume."""

import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from harnesskit import run_settings

import baselines.avr as avr
from avnoisebench.evaluation.scoring import evaluate_run
from avnoisebench.harness.registry import load_method
from avnoisebench.harness.settings import TrainSettings
from avnoisebench.harness.training import run_training
from avnoisebench.models import build_model
from avnoisebench.plugin import AvnbError, Batch
from avnoisebench.runs.folder import RunFolder
from baselines.avr import (
    AVR,
    IstaSettings,
    MemoryBank,
    avr_loss,
    ista_objective,
    ista_step,
    similarity_penalty,
    sparse_codes,
    spectral_bound,
)

EPOCHS = 6


def dictionary(atoms: int, dim: int, seed: int = 0, norm: float = 4.0) -> torch.Tensor:
    """`atoms` random rows of length `norm` in R^dim."""
    rows = torch.randn(atoms, dim, generator=torch.Generator().manual_seed(seed))
    return norm * rows / rows.norm(dim=1, keepdim=True)


def test_ista_codes_a_dictionary_atom_as_a_near_one_hot_vector_and_reconstructs_it() -> None:
    atoms = dictionary(96, 64)  # overcomplete, like the paper's 1024 atoms in R^512
    bank = MemoryBank.build(atoms)
    targets = torch.tensor([3, 7, 50])
    codes = sparse_codes(atoms, atoms[targets], bank.step, IstaSettings(max_iter=2000, tol=1e-6))
    assert torch.equal(codes.abs().argmax(dim=1), targets)
    on_atom = codes[torch.arange(3), targets]
    assert torch.all(on_atom > 0.99)  # 1 - sparsity / ||atom||^2 = 0.99375
    off_atom = codes.clone()
    off_atom[torch.arange(3), targets] = 0
    assert off_atom.abs().max() < 1e-3 and (off_atom == 0).sum() >= 3 * 94
    error = (codes @ atoms - atoms[targets]).norm(dim=1) / atoms[targets].norm(dim=1)
    assert torch.all(error < 0.01)


def test_soft_thresholding_leaves_exact_zeros() -> None:
    atoms = dictionary(32, 16)
    features = 0.05 * torch.randn(4, 16, generator=torch.Generator().manual_seed(1))
    codes = ista_step(atoms, features, torch.zeros(4, 32), step=0.05, sparsity=0.1)
    below = (0.05 * features @ atoms.t()).abs() <= 0.05 * 0.1
    assert 0 < below.sum() < below.numel()
    assert torch.all(codes[below] == 0.0) and torch.all(codes[~below] != 0.0)


def objectives(atoms: torch.Tensor, features: torch.Tensor, step: float, steps: int) -> list[float]:
    codes = torch.zeros(features.shape[0], atoms.shape[0], dtype=atoms.dtype)
    values = [float(ista_objective(atoms, features, codes, 0.1))]
    for _ in range(steps):
        codes = ista_step(atoms, features, codes, step, 0.1)
        values.append(float(ista_objective(atoms, features, codes, 0.1)))
    return values


def test_spectral_step_makes_the_ista_objective_non_increasing() -> None:
    atoms = dictionary(48, 24, norm=3.0).double()
    features = torch.randn(6, 24, generator=torch.Generator().manual_seed(2), dtype=torch.float64).abs()
    bank = MemoryBank.build(atoms)
    assert bank.step == pytest.approx(0.9 / spectral_bound(atoms))
    values = objectives(atoms, features, bank.step, 300)
    assert all(b <= a + 1e-9 for a, b in zip(values, values[1:], strict=False))
    assert values[-1] < 0.5 * values[0]
    too_large = objectives(atoms, features, 2.2 / spectral_bound(atoms), 50)
    assert any(b > a for a, b in zip(too_large, too_large[1:], strict=False))


def test_a_step_too_large_for_the_bank_is_refused() -> None:
    atoms = dictionary(48, 24)
    bound = spectral_bound(atoms)
    assert bound == pytest.approx(float(torch.linalg.eigvalsh((atoms @ atoms.t()).double()).max()), rel=1e-6)
    with pytest.raises(AvnbError, match="ISTA step .* too large for the video bank"):
        MemoryBank.build(atoms, step=1.01 / bound, name="video")
    assert MemoryBank.build(atoms, step=avr.PUBLISHED_STEPS["audio"]).step == 5.8e-7


def test_dissimilarity_term_is_largest_for_agreeing_features_and_falls_as_they_disagree() -> None:
    f = torch.rand(5, 8) + 0.1
    assert similarity_penalty(f, f) == pytest.approx(1.0)
    assert similarity_penalty(f, 3 * f) == pytest.approx(1.0)
    assert similarity_penalty(f, -f) == pytest.approx(-1.0)
    x, y = torch.eye(2)
    angles = torch.linspace(0, math.pi, 7)
    rotated = torch.cos(angles)[:, None] * x + torch.sin(angles)[:, None] * y
    values = [float(similarity_penalty(x[None], r[None])) for r in rotated]
    assert values == pytest.approx(torch.cos(angles).tolist(), abs=1e-6)
    assert all(b < a for a, b in zip(values, values[1:], strict=False))
    assert similarity_penalty(x[None], y[None]) == pytest.approx(0.0)


def mean_cosine_after_training(lambda_ms: float, steps: int = 20) -> float:
    torch.manual_seed(0)
    model = build_model("mlp", 4, feature_dim=16, video_dim=12, audio_dim=10)
    g = torch.Generator().manual_seed(3)
    batch = Batch(
        torch.arange(64), torch.randn(64, 12, generator=g), torch.randn(64, 10, generator=g), torch.arange(64) % 4
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = avr_loss(model, batch, None, lambda_ms)[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return float(avr_loss(model, batch, None, 0.0)[2])


def test_dissimilarity_term_lowers_the_audio_visual_cosine_in_training() -> None:
    with_term, without = mean_cosine_after_training(1.0), mean_cosine_after_training(0.0)
    assert with_term < 0.1 < without


def test_blend_is_the_identity_at_mix_0_and_reconstructs_features_in_the_span_at_mix_1() -> None:
    atoms = dictionary(32, 64).double()
    bank = MemoryBank.build(atoms)
    features = torch.randn(5, 32, generator=torch.Generator().manual_seed(4), dtype=torch.float64) @ atoms
    ista = IstaSettings(sparsity=1e-6, max_iter=5000, tol=1e-10)
    assert torch.equal(bank.blend(features, 0.0, ista), features)
    error = (bank.blend(features, 1.0, ista) - features).norm() / features.norm()
    assert error < 1e-4


def test_gradients_flow_through_the_unrolled_ista_unless_detached() -> None:
    atoms = dictionary(40, 16)
    bank = MemoryBank.build(atoms)
    weights = torch.randn(3, 16, generator=torch.Generator().manual_seed(5))
    grads = {}
    for detach in (False, True):
        features = (torch.rand(3, 16, generator=torch.Generator().manual_seed(6)) + 0.5).requires_grad_()
        (bank.blend(features, 0.6, IstaSettings(max_iter=100, detach=detach)) * weights).sum().backward()
        grads[detach] = features.grad
    assert torch.allclose(grads[True], 0.4 * weights)
    through_codes = grads[False] - 0.4 * weights
    assert through_codes.norm() > 0.1 * weights.norm()


def test_registered_and_bad_options_are_refused_at_construction() -> None:
    assert load_method("avr") is AVR and (AVR.paper_name, AVR.order, AVR.robust) == ("AV-R", 40, False)
    with pytest.raises(AvnbError, match=r"avr option mix=1.5 is out of range; allowed: \[0, 1\]"):
        AVR(mix=1.5)
    with pytest.raises(AvnbError, match="avr option ista_step='fast': choose one of spectral, published"):
        AVR(ista_step="fast")
    with pytest.raises(AvnbError, match="avr option bank_size='many': give a whole number"):
        AVR(bank_size="many")
    with pytest.raises(AvnbError, match=r"stage1_fraction=1 is out of range; allowed: \(0, 1\)"):
        AVR(stage1_fraction=1)
    with pytest.raises(AvnbError, match="at least 2 epochs"):
        AVR().options.stage1_epochs(1)
    assert [AVR().options.stage1_epochs(e) for e in (2, 8, 60)] == [1, 4, 30]
    assert AVR(stage1_fraction="0.9").options.stage1_epochs(4) == 3


def settings(bench: tuple[Path, Path], out: Path) -> TrainSettings:
    return run_settings(bench, out, method="avr", epochs=EPOCHS)


def metrics(run: Path) -> list[dict]:
    return RunFolder(run).metrics()


@pytest.fixture(scope="module")
def reference_run(synthetic_bench, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_training(settings(synthetic_bench, tmp_path_factory.mktemp("avr-runs") / "reference"))


def test_two_stage_run_learns_on_synthetic_av(reference_run: Path) -> None:
    log = metrics(reference_run)
    epochs = [r for r in log if "epoch" in r]
    assert [r["stage"] for r in epochs] == [1] * (EPOCHS // 2) + [2] * (EPOCHS // 2)
    assert [r["phase"] for r in epochs] == ["stage 1"] * (EPOCHS // 2) + ["stage 2"] * (EPOCHS // 2)
    [banks] = [r for r in log if r.get("event") == "memory_banks"]
    assert banks["size"] == 80 and banks["step_video"] > 0 and banks["step_audio"] > 0
    assert epochs[-1]["ce"] < epochs[0]["ce"] / 2
    assert epochs[-1]["similarity"] < epochs[0]["similarity"]
    v_at_1 = evaluate_run(reference_run).record.metrics["V@1"]
    print(f"AV-R V@1 on synthetic-av: {v_at_1:.1f} %")
    assert v_at_1 > 50.0


def test_resume_in_stage_2_ends_where_the_uninterrupted_run_does(
    synthetic_bench, reference_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = avr.train_pass
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == EPOCHS // 2 + 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(avr, "train_pass", interrupted)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_training(settings(synthetic_bench, run))
    assert [r["stage"] for r in metrics(run) if "epoch" in r][-1] == 2
    monkeypatch.setattr(avr, "train_pass", real)
    assert RunFolder(run).load_checkpoint()["extra"]["banks"]["video"][0].shape[0] == 80
    run_training(settings(synthetic_bench, run), resume=True)
    losses = [[r["loss"] for r in metrics(r) if "epoch" in r] for r in (reference_run, run)]
    assert losses[0] == losses[1]
    assert pq.read_table(RunFolder(reference_run).predictions).equals(pq.read_table(RunFolder(run).predictions))


def test_fista_reaches_istas_minimiser_in_fewer_iterations() -> None:
    atoms = dictionary(256, 32, norm=3.0).double()
    features = torch.randn(8, 32, generator=torch.Generator().manual_seed(4), dtype=torch.float64).abs()
    step = MemoryBank.build(atoms).step
    exact = sparse_codes(atoms, features, step, IstaSettings(max_iter=20000, tol=1e-12, solver="fista"))
    best = float(ista_objective(atoms, features, exact, 0.1))
    assert float(
        ista_objective(
            atoms, features, sparse_codes(atoms, features, step, IstaSettings(max_iter=20000, tol=1e-12)), 0.1
        )
    ) == pytest.approx(best, rel=1e-4)

    def gap(solver: str) -> float:
        codes = sparse_codes(atoms, features, step, IstaSettings(max_iter=100, tol=0.0, solver=solver))
        return float(ista_objective(atoms, features, codes, 0.1)) / best - 1

    assert gap("fista") < gap("ista") / 5
