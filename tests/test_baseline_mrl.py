"""MRL: the RC loss and its gradient, the MC loss's properties, unit-norm centres, robustness of RC on a noisy toy,
resume, and a learning run on synthetic-av through the harness."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from harnesskit import TensorSource, run_settings

import baselines.mrl as mrl
from avnoisebench.evaluation.scoring import evaluate_run
from avnoisebench.harness.registry import load_method
from avnoisebench.harness.training import run_training
from avnoisebench.models import build_model
from avnoisebench.plugin import AvnbError, Budget, RunLog, TrainData
from avnoisebench.runs.folder import RunFolder
from baselines.mrl import MRL, ClassCentres, mc_loss, orthogonal_centres, rc_loss


def test_rc_loss_is_the_log_non_target_mass() -> None:
    logits = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([0, 1, 2, 3, 4, 0])
    p = logits.softmax(dim=1)
    expected = torch.log(p.sum(dim=1) - p[torch.arange(6), target]).mean()
    assert torch.allclose(rc_loss(logits, target), expected, atol=1e-6)


def test_rc_gradient_on_the_target_logit_is_minus_p_target() -> None:
    logits = torch.randn(1, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    target = torch.tensor([3])
    rc_loss(logits, target).backward()
    p = logits.detach().softmax(dim=1)
    assert torch.allclose(logits.grad[0, 3], -p[0, 3])
    step = torch.zeros_like(logits)
    step[0, 3] = 1e-6
    finite = (rc_loss(logits.detach() + step, target) - rc_loss(logits.detach() - step, target)) / 2e-6
    assert float(finite) == pytest.approx(float(-p[0, 3]), abs=1e-8)
    ce_logits = logits.detach().clone().requires_grad_()
    F.cross_entropy(ce_logits, target).backward()
    assert torch.allclose(ce_logits.grad[0, 3], -(1 - p[0, 3]))


def reference_mc(z_v: torch.Tensor, z_a: torch.Tensor, tau: float) -> torch.Tensor:
    """The MC loss written out from MRL's equation, term by term, rows then columns."""
    stacked, n = torch.cat([z_v, z_a]), len(z_v)
    sim = torch.exp(stacked @ stacked.t() / tau) * (1 - torch.eye(2 * n, dtype=z_v.dtype))
    total = torch.zeros((), dtype=z_v.dtype)
    for matrix in (sim, sim.t()):
        for r in range(2 * n):
            positive = sum(matrix[r, m * n + r % n] for m in range(2))
            total = total - torch.log(positive / matrix[r].sum())
    return total / (2 * n)


def test_mc_loss_matches_the_equation_and_excludes_self_similarity() -> None:
    g = torch.Generator().manual_seed(2)
    z_v, z_a = (F.normalize(torch.randn(5, 8, dtype=torch.float64, generator=g), dim=1) for _ in range(2))
    assert torch.allclose(mc_loss((z_v, z_a), 0.5), reference_mc(z_v, z_a, 0.5))
    # Identical modalities, orthogonal instances: each anchor's partner has similarity 1, the 2B - 2 others 0; with
    # self-similarity in the denominator the loss could not fall below 2 log 2.
    batch, tau = 6, 0.05
    z = torch.eye(batch, 16, dtype=torch.float64)
    expected = -2 * torch.log(torch.tensor(np.exp(1 / tau) / (np.exp(1 / tau) + 2 * batch - 2)))
    assert torch.allclose(mc_loss((z, z), tau), expected)
    assert float(mc_loss((z, z), tau)) < 1e-6


def test_mc_loss_prefers_true_pairs_and_ignores_joint_batch_order() -> None:
    g = torch.Generator().manual_seed(3)
    z = torch.eye(8, 32)
    shuffled = z[torch.randperm(8, generator=g)]
    assert mc_loss((z, z), 1.0) < mc_loss((z, shuffled), 1.0)
    z_v, z_a = (F.normalize(torch.randn(8, 16, generator=g), dim=1) for _ in range(2))
    order = torch.randperm(8, generator=g)
    assert torch.allclose(mc_loss((z_v, z_a), 1.0), mc_loss((z_v[order], z_a[order]), 1.0))


def test_centres_are_orthogonal_unit_columns_at_init() -> None:
    centres = orthogonal_centres(32, 10, torch.Generator().manual_seed(0))
    assert torch.allclose(centres.t() @ centres, torch.eye(10), atol=1e-5)
    wide = orthogonal_centres(8, 20, torch.Generator().manual_seed(0))
    assert torch.allclose(wide.norm(dim=0), torch.ones(20), atol=1e-5)


def noisy_toy(seed: int, noise: float = 0.6) -> tuple[torch.Tensor, ...]:
    """10 Gaussian blobs in 16-d (80 training points each, labels flipped to another class with probability
    `noise`) and a clean test set of 200 points per blob."""
    g = torch.Generator().manual_seed(seed)
    means = F.normalize(torch.randn(10, 16, generator=g), dim=1) * 5

    def sample(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(10).repeat_interleave(per_class)
        return means[labels] + torch.randn(len(labels), 16, generator=g), labels

    (x, y), (x_test, y_test) = sample(80), sample(200)
    flipped = torch.rand(len(y), generator=g) < noise
    noisy = torch.where(flipped, (y + torch.randint(1, 10, y.shape, generator=g)) % 10, y)
    return x, noisy, x_test, y_test


def clean_accuracy(loss_fn, x, noisy, x_test, y_test, seed: int) -> float:
    """Clean test accuracy of a linear map onto the unit sphere scored against MRL's unit centres, trained
    full-batch on the noisy labels with `loss_fn`."""
    torch.manual_seed(seed)
    linear = torch.nn.Linear(16, 16)
    centres = ClassCentres(16, 10, tau1=1.0, projection=False, generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.Adam([*linear.parameters(), *centres.parameters()], lr=0.02)
    for _ in range(150):
        centres.renormalise_()
        loss = loss_fn(centres(F.normalize(linear(x), dim=1)), noisy)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    centres.renormalise_()
    with torch.no_grad():
        return float((centres(F.normalize(linear(x_test), dim=1)).argmax(dim=1) == y_test).float().mean())


def test_rc_beats_cross_entropy_under_sixty_percent_symmetric_noise() -> None:
    toy = noisy_toy(seed=0)
    rc, ce = clean_accuracy(rc_loss, *toy, seed=0), clean_accuracy(F.cross_entropy, *toy, seed=0)
    assert rc > ce + 0.02, (rc, ce)


def memory_fit(run: Path, epochs: int, resume: bool = False, **options) -> mrl.MRLPredictor:
    """MRL on 48 random feature pairs (3 classes) with the `mlp` model, seeded."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat(16)
    video, audio = torch.randn(48, 12, generator=g), torch.randn(48, 10, generator=g)
    data = TrainData(labels.tolist(), np.ones(48, bool), TensorSource(video, audio), 3, batch_size=16, seed=0)
    torch.manual_seed(0)
    model = build_model("mlp", 3, feature_dim=8, video_dim=12, audio_dim=10)
    log = RunLog(run, resume=resume)
    predictor = MRL(**options).fit(model, data, Budget(epochs, 16, 1e-2), log)
    log.folder.release()
    return predictor


def test_centres_are_unit_columns_at_every_forward_and_after_training(tmp_path: Path, monkeypatch) -> None:
    norms: list[torch.Tensor] = []

    class Spy(ClassCentres):
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            norms.append(self.centres.detach().norm(dim=0))
            return super().forward(z)

    monkeypatch.setattr(mrl, "ClassCentres", Spy)
    predictor = memory_fit(tmp_path / "run", epochs=2, projection=True)
    assert len(norms) == 2 * 3 * 2
    assert all(torch.allclose(n, torch.ones(3), atol=1e-6) for n in norms)
    assert torch.allclose(predictor.centres.centres.norm(dim=0), torch.ones(3), atol=1e-6)


def test_resume_ends_where_the_uninterrupted_run_ends(tmp_path: Path) -> None:
    whole = memory_fit(tmp_path / "whole", epochs=3, fusion_head=True)
    memory_fit(tmp_path / "parts", epochs=1, fusion_head=True)
    resumed = memory_fit(tmp_path / "parts", epochs=3, resume=True, fusion_head=True)
    a, b = whole.centres.state_dict(), resumed.centres.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    video, audio = torch.randn(4, 12), torch.randn(4, 10)
    assert torch.equal(whole(video, audio), resumed(video, audio))


def test_options_are_checked_at_construction() -> None:
    assert load_method("mrl") is MRL and MRL().options.beta == 0.7
    assert (MRL.paper_name, MRL.order, MRL.robust) == ("MRL", 20, True)
    with pytest.raises(AvnbError, match=r"mrl option beta=1.5 is out of range; allowed: \[0, 1\]"):
        MRL(beta=1.5)
    with pytest.raises(AvnbError, match="mrl option tau2=0 is out of range; allowed: > 0"):
        MRL(tau2=0)
    with pytest.raises(AvnbError, match="mrl option fusion_head='maybe': give true or false"):
        MRL(fusion_head="maybe")
    with pytest.raises(AvnbError, match="mrl option tau1='warm': give a number"):
        MRL(tau1="warm")
    assert MRL(fusion_head="yes", beta="0.5").options == mrl.MRLOptions(fusion_head=True, beta=0.5)


@pytest.mark.parametrize("options", [{}, {"fusion_head": True}], ids=["centres", "fusion-head"])
def test_mrl_learns_on_synthetic_av_with_forty_percent_noise(synthetic_bench, tmp_path: Path, options: dict) -> None:
    settings = run_settings(synthetic_bench, tmp_path / "run", config="sym40", method="mrl", epochs=15, options=options)
    run = run_training(settings)
    losses = [r["loss"] for r in RunFolder(run).epochs()]
    assert len(losses) == 15 and losses[-1] < losses[0]
    assert evaluate_run(run).record.metrics["V@1"] > 50.0
