"""NTL (docs/methods.md section 2): the sanity checks of 2.12 for omega, the Sinkhorn codes, L_ins, the tied
autoencoder and L_cat, k-NN correction, the hybrid loss and its schedule; the phases of Algorithm 1, ablations,
resume, and an end-to-end run on synthetic-av with noisy labels and mismatched pairs against late fusion."""

import math
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from harnesskit import run_settings
from harnesskit import vector_task as harnesskit_vector_task
from typer.testing import CliRunner

import method.ntl as ntl
from avnoisebench.cli.main import app
from avnoisebench.evaluation.scoring import evaluate_run
from avnoisebench.harness.registry import load_method
from avnoisebench.harness.training import run_training
from avnoisebench.harness.truth import HiddenTruth, roc_auc
from avnoisebench.noise.correspondence import CorrespondenceSpec
from avnoisebench.noise.labels import NoiseSpec
from avnoisebench.plugin import AvnbError, Budget, RunLog, TrainData
from avnoisebench.pretrain.benchmark import plan_pretraining, pretrain_folder
from avnoisebench.recipes.synthetic_av import SyntheticAvOptions, build_synthetic_av
from avnoisebench.runs.folder import RunFolder
from method.losses import (
    TiedAutoencoder,
    batch_weights,
    category_loss,
    category_representations,
    instance_loss,
    noise_estimate,
    normalise_omega,
    swav_codes,
)


def generator(seed: int) -> torch.Generator:
    """A seeded CPU generator."""
    return torch.Generator().manual_seed(seed)


def unit(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit length."""
    return F.normalize(x, dim=1)


def samples(n: int) -> TrainData:
    """Training data of n valid samples (for resolving options; never batched)."""
    return TrainData([0] * n, np.ones(n, bool), None, 2, 16, 0)


def settings(**options) -> ntl.NTLOptions:
    """NTL options resolved for a 60-epoch budget, batch 16, 200 valid samples."""
    return ntl.NTLOptions(**options).resolve(samples(200), Budget(epochs=60, batch_size=16))


def two_modalities(n: int, classes: int, swapped: float, seed: int) -> tuple[torch.Tensor, ...]:
    """Gaussian classes seen by two modalities, the audio of a `swapped` share of samples taken from random other
    samples; returns video, audio, class ids and the swapped flags."""
    g = generator(seed)
    ids = torch.arange(n) % classes
    video = 3 * torch.randn(classes, 16, generator=g)[ids] + torch.randn(n, 16, generator=g)
    audio = 3 * torch.randn(classes, 16, generator=g)[ids] + torch.randn(n, 16, generator=g)
    flags = torch.rand(n, generator=g) < swapped
    donors = torch.randint(0, n, (n,), generator=g)
    audio[flags] = audio[donors[flags]]
    return video, audio, ids, flags & (ids[donors] != ids)


# Sinkhorn codes (the shared op; marginals and equivariance are also checked in test_ops.py)


def test_codes_have_unit_rows_near_equal_columns_and_no_gradient() -> None:
    g = generator(0)
    scores = (unit(torch.randn(64, 128, generator=g)) @ unit(torch.randn(51, 128, generator=g)).t()).requires_grad_()
    codes = swav_codes(scores, 0.05, 3, hard=False)
    assert not codes.requires_grad
    assert torch.allclose(codes.sum(dim=1), torch.ones(64), atol=1e-6)
    assert torch.allclose(codes.sum(dim=0), torch.full((51,), 64 / 51), rtol=0.06)
    assert torch.allclose(swav_codes(scores, 0.05, 30, False).sum(dim=0), torch.full((51,), 64 / 51), rtol=1e-4)
    perm = torch.randperm(64, generator=g)
    assert torch.allclose(swav_codes(scores[perm], 0.05, 3, False), codes[perm], atol=1e-6)
    assert torch.allclose(swav_codes(torch.zeros(16, 4), 0.05, 3, False), torch.full((16, 4), 0.25))
    hard = swav_codes(scores, 0.05, 3, hard=True)
    assert torch.equal(hard.argmax(dim=1), codes.argmax(dim=1)) and torch.equal(hard.sum(dim=1), torch.ones(64))


# omega (eqs. 2-6)


def test_omega_is_higher_for_matched_pairs() -> None:
    video, audio, _, swapped = two_modalities(400, 6, 0.4, seed=1)
    omega_v, omega_a = noise_estimate(video, audio, k=16)
    for omega in (omega_v, omega_a, (omega_v + omega_a) / 2):
        assert roc_auc(omega.numpy(), ~swapped.numpy()) > 0.9
    centred = noise_estimate(video - video.mean(0), audio - audio.mean(0), k=16)[0]
    assert centred.min() < 0
    clipped = normalise_omega(centred, "clip")
    assert clipped.min() >= 0 and clipped.max() <= 1


def test_omega_excludes_the_sample_itself_and_matches_brute_force() -> None:
    """Without swapped audio, so that the one duplicated audio is the only tie (which neighbour a tie keeps is the
    k-NN search's choice, not the brute force's)."""
    video, audio, _, _ = two_modalities(60, 3, 0.0, seed=2)
    audio[1] = audio[0]
    omega_v, omega_a = noise_estimate(video, audio, k=3, block_size=16)
    z_v, z_a = unit(video), unit(audio)
    for own, other, omega in ((z_v, z_a, omega_v), (z_a, z_v, omega_a)):
        neighbours = (other @ other.t()).fill_diagonal_(-2).topk(3, dim=1).indices
        assert not (neighbours == torch.arange(60)[:, None]).any()
        expected = torch.stack([(own[neighbours[i]] @ own[i]).mean() for i in range(60)])
        assert torch.allclose(omega, expected, atol=1e-5)
    nearest = noise_estimate(video, audio, k=1)[0]
    assert nearest[0] == pytest.approx(float(z_v[1] @ z_v[0]), abs=1e-5)


def test_omega_threshold_mode_and_normalisations() -> None:
    z_v = unit(torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]]))
    z_a = unit(torch.tensor([[1.0, 0.0], [1.0, 0.05], [-1.0, 0.2]]))
    top = noise_estimate(z_v, z_a, k=2)[0]
    thresholded = noise_estimate(z_v, z_a, k=2, threshold=0.5)[0]
    assert thresholded[0] == pytest.approx(float(z_v[1] @ z_v[0]), abs=1e-6) and thresholded[2] == 0
    assert top[0] == pytest.approx(float((z_v[1] + z_v[2]) @ z_v[0]) / 2, abs=1e-6)
    assert noise_estimate(z_v, z_a, k=2, tau1=0.5)[0] == pytest.approx(2 * top, abs=1e-6)
    raw = torch.tensor([-0.4, 0.2, 1.3])
    assert normalise_omega(raw, "clip").tolist() == pytest.approx([0.0, 0.2, 1.0])
    assert normalise_omega(raw, "affine").tolist() == pytest.approx([0.3, 0.6, 1.15])
    assert torch.equal(normalise_omega(raw, "none"), raw)
    weights = batch_weights(normalise_omega(raw, "batch_mean"), "batch_mean")
    assert weights.mean() == pytest.approx(1.0) and weights[0] == 0
    assert torch.equal(batch_weights(raw, "clip"), raw)


# L_ins (eqs. 7-11)


def test_instance_loss_matches_the_equations_is_symmetric_and_linear_in_omega() -> None:
    g = generator(3)
    z_v, z_a, prototypes = unit(torch.randn(16, 8, generator=g)), unit(torch.randn(16, 8, generator=g)), None
    prototypes = unit(torch.randn(5, 8, generator=g))
    omega_v, omega_a = torch.rand(16, generator=g), torch.rand(16, generator=g)
    loss = instance_loss(z_v, z_a, prototypes, omega_v, omega_a)
    codes_v, codes_a = (swav_codes(z @ prototypes.t(), 0.05, 3, False) for z in (z_v, z_a))
    e_v = -(codes_a * F.log_softmax(z_v @ prototypes.t() / 0.1, dim=1)).sum(dim=1)
    e_a = -(codes_v * F.log_softmax(z_a @ prototypes.t() / 0.1, dim=1)).sum(dim=1)
    assert loss == pytest.approx(float((omega_v * e_v + omega_a * e_a).mean()), rel=1e-5)
    assert instance_loss(z_a, z_v, prototypes, omega_a, omega_v) == pytest.approx(float(loss), rel=1e-6)
    assert instance_loss(z_v, z_a, prototypes, 2 * omega_v, 2 * omega_a) == pytest.approx(2 * float(loss), rel=1e-6)


def test_instance_loss_falls_to_the_code_entropy_on_identical_separated_modalities() -> None:
    g = generator(4)
    prototypes = unit(torch.randn(4, 32, generator=g))
    z = unit(prototypes[torch.arange(64) % 4] + 0.05 * torch.randn(64, 32, generator=g))
    ones = torch.ones(64)
    codes = swav_codes(z @ prototypes.t(), 0.05, 3, False)
    entropy = float(-(codes * codes.clamp_min(1e-12).log()).sum(dim=1).mean())
    separated = float(instance_loss(z, z, prototypes, ones, ones)) / 2
    assert entropy <= separated < entropy + 0.01
    far = float(instance_loss(z, z, unit(torch.randn(4, 32, generator=g)), ones, ones)) / 2
    assert far > separated + 0.1


# Tied autoencoder and L_cat (eqs. 12-15)


def test_tied_autoencoder_shares_its_weight_and_checks_the_input_size() -> None:
    ae = TiedAutoencoder(16, 8, generator(5))
    assert ae.decoder_weight.data_ptr() == ae.weight.data_ptr() and ae.decoder_weight.shape == (16, 8)
    assert sorted(name for name, _ in ae.named_parameters()) == ["decoder_bias", "encoder_bias", "weight"]
    p = torch.rand(3, 16)
    expected = torch.relu(p @ ae.weight.t() + ae.encoder_bias) @ ae.weight + ae.decoder_bias
    assert torch.allclose(ae(p), expected)
    with pytest.raises(ValueError, match="takes 16-vectors"):
        ae(torch.rand(3, 15))


def brute_force_category_loss(p_v, p_a, r_v, r_a, literal: bool) -> float:
    """The four terms of section 2.5 written out sample by sample (tau1 = 1)."""
    cos = F.cosine_similarity
    k = len(p_v)

    def term(anchor, positive, first, second, skip_first_self, skip_second_self) -> float:
        total = 0.0
        for i in range(k):
            den = sum(math.exp(cos(anchor[i], first[j], dim=0)) for j in range(k) if not (skip_first_self and j == i))
            den += sum(
                math.exp(cos(anchor[i], second[j], dim=0)) for j in range(k) if not (skip_second_self and j == i)
            )
            total -= math.log(math.exp(cos(anchor[i], positive[i], dim=0)) / den)
        return total / k

    skip = not literal
    l_r_v = term(p_v, r_v, r_v, r_a, False, skip)
    l_r_a = term(p_a, r_a, r_a, r_v, False, skip)
    l_c_v = term(r_v, r_a, r_v, r_a, skip, False)
    l_c_a = term(r_a, r_v, r_a, r_v, skip, False)
    return (l_c_v + l_c_a + l_r_v + l_r_a) / 4


@pytest.mark.parametrize("literal", [False, True])
def test_category_loss_matches_the_written_terms(literal: bool) -> None:
    g = generator(6)
    z_v, z_a = unit(torch.randn(8, 6, generator=g)), unit(torch.randn(8, 6, generator=g))
    prototypes = unit(torch.randn(4, 6, generator=g))
    ae = TiedAutoencoder(8, 4, generator(7))
    loss = category_loss(z_v, z_a, prototypes, ae, literal=literal)["loss"]
    p_v, p_a = category_representations(z_v, prototypes, 0.1), category_representations(z_a, prototypes, 0.1)
    assert p_v.shape == (4, 8) and torch.allclose(p_v.sum(dim=0), torch.ones(8))
    with torch.no_grad():
        expected = brute_force_category_loss(p_v, p_a, ae(p_v), ae(p_a), literal)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert ae.weight.grad is not None and ae.weight.grad.abs().sum() > 0


def test_inter_modal_term_is_smallest_when_both_modalities_agree() -> None:
    """Random perturbations of one modality raise l^c on average and almost always; not every time, since moving a
    category away from the other modality's other categories lowers the denominator to first order."""
    g = generator(8)
    prototypes = unit(torch.randn(4, 16, generator=g))
    z = unit(prototypes[torch.arange(16) % 4] + 0.3 * torch.randn(16, 16, generator=g))
    ae = TiedAutoencoder(16, 8, generator(9))
    with torch.no_grad():
        agreeing = float(category_loss(z, z, prototypes, ae)["l_c"])
        perturbed = [
            float(
                category_loss(z, unit(z + 0.5 * torch.randn(16, 16, generator=generator(100 + s))), prototypes, ae)[
                    "l_c"
                ]
            )
            for s in range(50)
        ]
    assert np.mean(perturbed) > agreeing + 0.05 and np.mean(np.array(perturbed) > agreeing) >= 0.9


def test_entropy_regulariser_and_identity_autoencoder() -> None:
    g = generator(10)
    z_v, z_a = unit(torch.randn(8, 6, generator=g)), unit(torch.randn(8, 6, generator=g))
    prototypes = unit(torch.randn(3, 6, generator=g))
    ae = TiedAutoencoder(8, 4, generator(11))
    plain = category_loss(z_v, z_a, prototypes, ae)["loss"]
    assert category_loss(z_v, z_a, prototypes, ae, entropy_weight=1.0)["loss"] >= plain
    identity = category_loss(z_v, z_a, prototypes, torch.nn.Identity())
    assert torch.isfinite(identity["loss"])


# k-NN correction (eq. 17) and the hybrid loss (eq. 18)


# The k-NN and end-to-end checks use smaller batches and features than the XDC* tests.
vector_task = partial(harnesskit_vector_task, batch_size=16, feature_dim=16)


def test_correction_votes_with_the_observed_labels_excluding_the_sample() -> None:
    video, audio, ids, _ = two_modalities(600, 5, 0.0, seed=12)
    noisy = ids.clone()
    flip = torch.rand(600, generator=generator(13)) < 0.4
    noisy[flip] = (ids[flip] + torch.randint(1, 5, (int(flip.sum()),), generator=generator(14))) % 5
    model, data = vector_task(noisy, video, audio)
    features = (video, audio)
    corrected = ntl.corrected_labels(model, features, data, settings(k_knn=16))
    assert float((noisy == ids).float().mean()) < 0.65 and float((corrected == ids).float().mean()) > 0.9
    nearest = ntl.corrected_labels(model, features, data, settings(k_knn=1))
    x = torch.cat([unit(video), unit(audio)], dim=1)
    assert torch.equal(nearest, noisy[(x @ x.t()).fill_diagonal_(-9).argmax(dim=1)])
    hidden = ntl.corrected_labels(
        model, model(video, audio)[:2], data, settings(k_knn=16, knn_features="fusion_hidden")
    )
    assert hidden.shape == noisy.shape


def test_hybrid_loss_endpoints() -> None:
    model, data = vector_task(torch.arange(32) % 4, torch.randn(32, 6), torch.randn(32, 5))
    batch = next(data.batches(0))
    corrected = torch.randint(0, 4, (32,), generator=generator(15))
    y, y_hat = batch.label, corrected[batch.index]
    with torch.no_grad():
        logits = model(batch.video, batch.audio)[2]
        steps = {g: float(ntl.supervised_step(model, corrected, g, batch)["loss"]) for g in (0.0, 0.7, 1.0)}
        plain = float(ntl.supervised_step(model, None, 0.0, batch)["loss"])
    assert steps[0.0] == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-6)
    assert steps[1.0] == pytest.approx(float(F.cross_entropy(logits, y_hat)), rel=1e-6)
    mixed = 0.3 * F.cross_entropy(logits, y) + 0.7 * F.cross_entropy(logits, y_hat)
    assert steps[0.7] == pytest.approx(float(mixed), rel=1e-6)
    assert plain == pytest.approx(steps[0.0], rel=1e-6)


def test_gamma_schedules_and_their_scaling_to_the_budget() -> None:
    ramp = settings()
    assert (ramp.warmup_epochs, ramp.gamma_ramp_end, ramp.k, ramp.k_knn, ramp.ae_hidden) == (5, 20, 16, 16, 8)
    assert [ramp.gamma_at(e) for e in (0, 4, 5, 20, 59)] == pytest.approx([0, 0, 0.6, 0.8, 0.8])
    assert ramp.gamma_at(12.5) == pytest.approx(0.7)
    step = settings(gamma_schedule="step")
    assert [step.gamma_at(e) for e in (4, 5, 19, 20)] == pytest.approx([0, 0.6, 0.6, 0.8])
    constant = settings(gamma_schedule="constant", gamma=0.3, warmup_epochs=2)
    assert [constant.gamma_at(e) for e in (1, 2, 40)] == pytest.approx([0, 0.3, 0.3])
    short = ntl.NTLOptions().resolve(samples(20_000), Budget(epochs=12, batch_size=64))
    assert (short.warmup_epochs, short.gamma_ramp_end, short.k, short.ae_hidden) == (1, 4, 32, 32)
    tiny = ntl.NTLOptions().resolve(samples(10), Budget(epochs=1, batch_size=64))
    assert (tiny.warmup_epochs, tiny.k) == (0, 9)
    pinned = ntl.NTLOptions(k=3, k_knn=5, warmup_epochs=2, gamma_ramp_end=7, ae_hidden=4)
    assert pinned.resolve(samples(200), Budget(epochs=60)) == pinned


@pytest.mark.parametrize(
    "options, message",
    [
        ({"tau1": -1}, "ntl option tau1=-1 is out of range; allowed: > 0"),
        ({"ablation": "both"}, "ntl option ablation='both': choose one of none, ins, cat, full"),
        ({"omega": True}, "ntl option omega=True: choose one of on, off"),
        ({"omega_norm": "softmax"}, "omega_norm='softmax': choose one of clip, affine, batch_mean, none"),
        ({"k": "many"}, "ntl option k='many': give a whole number"),
        ({"k": 0}, "ntl option k=0 is out of range; allowed: >= 1, none"),
        ({"gamma": 1.5}, r"ntl option gamma=1.5 is out of range; allowed: \[0, 1\]"),
        ({"sinkhorn_iters": "3.5"}, "sinkhorn_iters='3.5': give a whole number"),
        ({"omega_threshold": 2}, "omega_threshold=2 is out of range"),
        ({"paper_version": "v3"}, "paper_version='v3': choose one of v1"),
        ({"hard_codes": "maybe"}, "hard_codes='maybe': give true or false"),
        (
            {"feature_source": "training_pass", "reuse_knn_features_for_omega": True},
            "applies to feature_source=extract",
        ),
    ],
)
def test_bad_options_are_refused_at_construction(options: dict, message: str) -> None:
    with pytest.raises(AvnbError, match=message):
        ntl.NTL(**options)
    with pytest.raises(AvnbError, match="'ntl' has no option\\(s\\) lambda_; its options are ablation, omega"):
        ntl.NTL(lambda_=1)


def test_options_from_the_command_line_are_typed_and_data_dependent_ones_checked_in_resolve() -> None:
    given = {"tau1": "0.5", "hard_codes": "yes", "k": "none", "k_knn": "7", "omega_threshold": "null"}
    options = ntl.NTLOptions.from_values(given)
    assert (options.tau1, options.hard_codes, options.k, options.k_knn, options.omega_threshold) == (
        0.5,
        True,
        None,
        7,
        None,
    )
    assert options.changed() == {"tau1": 0.5, "hard_codes": True, "k_knn": 7}
    assert ntl.NTL(options).options is options
    with pytest.raises(AvnbError, match="k=200 must be a whole number from 1 to 199"):
        settings(k=200)
    with pytest.raises(AvnbError, match="k_knn=10 must be a whole number from 1 to 9"):
        ntl.NTLOptions(k_knn=10).resolve(samples(10), Budget())


def test_avnb_methods_lists_the_options_of_the_dataclass() -> None:
    listed = CliRunner().invoke(app, ["methods", "--options", "ntl"], env={"COLUMNS": "300"})
    assert listed.exit_code == 0, listed.output
    rows = {line.split("│")[1].strip(): line for line in listed.stdout.splitlines() if line.count("│") >= 5}
    names = [f.name for f in ntl.NTLOptions.describe()]
    assert len(names) == 27 and set(names) <= set(rows)
    assert "feature_source" in rows and "training_pass" in rows["feature_source"]
    tau1 = [cell.strip() for cell in rows["tau1"].split("│")[1:-1]]
    assert tau1[:4] == ["tau1", "float", "1.0", "> 0"] and "temperature" in tau1[4]
    assert ntl.NTL.paper_name == "Ours" and ntl.NTL.order == 100 and ntl.NTL.robust


# Algorithm 1: phases, ablations, resume


def noisy_vectors(n: int = 96, seed: int = 16) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, HiddenTruth]:
    """Two-modality vectors with 40 % symmetric label noise and 30 % swapped audio, and their hidden truth."""
    video, audio, ids, swapped = two_modalities(n, 4, 0.3, seed)
    noisy = ids.clone()
    flip = torch.rand(n, generator=generator(seed + 1)) < 0.4
    noisy[flip] = (ids[flip] + 1) % 4
    truth = HiddenTruth.from_lists(noisy.tolist(), ids.tolist(), swapped.tolist(), np.ones(n, bool))
    return video, audio, noisy, truth


def read_log(run: Path) -> list[dict]:
    """The metrics log of a run folder."""
    return RunFolder(run).metrics()


def test_phases_follow_algorithm_1_and_the_head_rests_in_the_contrastive_phase(tmp_path: Path, monkeypatch) -> None:
    video, audio, noisy, truth = noisy_vectors()
    calls: list[tuple[int, str]] = []
    real_pass = ntl.train_pass

    def spy(model, data, epoch, optimizers, step, *args, **kwargs):
        phase = "contrastive" if kwargs.get("drop_last") else "supervised"
        head = {k: v.clone() for k, v in ntl.unwrap(model).head.state_dict().items()}
        result = real_pass(model, data, epoch, optimizers, step, *args, **kwargs)
        if phase == "contrastive":
            assert all(torch.equal(head[k], v) for k, v in ntl.unwrap(model).head.state_dict().items())
        calls.append((epoch, phase))
        return result

    monkeypatch.setattr(ntl, "train_pass", spy)
    model, data = vector_task(noisy, video, audio)
    ntl.NTL(warmup_epochs=2).fit(model, data, Budget(epochs=5, batch_size=16, lr=3e-3), RunLog(tmp_path, truth=truth))
    assert calls == [(0, "supervised"), (1, "supervised")] + [
        (e, p) for e in (2, 3, 4) for p in ("contrastive", "supervised")
    ]
    log = read_log(tmp_path)
    epochs = [r for r in log if "epoch" in r and "event" not in r]
    assert [r["gamma"] for r in epochs] == pytest.approx([0, 0, 0.6, 0.8, 0.8])
    assert all(
        r["contrastive_samples"] == 96 and "contrastive_l_ins" in r and "contrastive_l_cat" in r for r in epochs[2:]
    )
    corrected = [r for r in log if r.get("event") == "corrected_labels"]
    assert [r["epoch"] for r in corrected] == [2, 3, 4] and corrected[0]["observed_accuracy"] == pytest.approx(
        float(np.mean(truth.observed == truth.clean)), abs=1e-6
    )
    scores = [r for r in log if r.get("event") == "sample_scores"]
    assert {r["score"] for r in scores} == {"omega", "omega_v", "omega_a"} and len(scores) == 9
    assert all(0 <= r["auc_matched_vs_mismatched"] <= 1 for r in scores)
    assert RunFolder(tmp_path).scores("omega").epoch == 4
    assert [r["phase"] for r in epochs] == ["warm-up"] * 2 + ["contrastive+hybrid"] * 3


@pytest.mark.parametrize(
    "options, phases, omega_logged, parts",
    [
        ({"ablation": "none"}, ["supervised"], False, set()),
        ({"ablation": "ins"}, ["contrastive", "supervised"], True, {"contrastive_l_ins"}),
        ({"ablation": "cat"}, ["contrastive", "supervised"], False, {"contrastive_l_cat"}),
        ({"omega": "off"}, ["contrastive", "supervised"], False, {"contrastive_l_ins", "contrastive_l_cat"}),
    ],
)
def test_ablations(tmp_path: Path, monkeypatch, options: dict, phases: list[str], omega_logged: bool, parts) -> None:
    video, audio, noisy, truth = noisy_vectors()
    seen: list[str] = []
    weights: list[torch.Tensor] = []
    real_pass, real_step = ntl.train_pass, ntl.contrastive_step

    def spy_pass(model, data, epoch, optimizers, step, *args, **kwargs):
        seen.append("contrastive" if kwargs.get("drop_last") else "supervised")
        return real_pass(model, data, epoch, optimizers, step, *args, **kwargs)

    def spy_step(model, modules, options, omega, batch, **kwargs):
        weights.append(omega[0])
        return real_step(model, modules, options, omega, batch, **kwargs)

    monkeypatch.setattr(ntl, "train_pass", spy_pass)
    monkeypatch.setattr(ntl, "contrastive_step", spy_step)
    model, data = vector_task(noisy, video, audio)
    method = ntl.NTL(warmup_epochs=1, **options)
    method.fit(model, data, Budget(epochs=2, batch_size=16, lr=3e-3), RunLog(tmp_path, truth=truth))
    assert seen == ["supervised", *phases]
    log = read_log(tmp_path)
    assert any(r.get("event") == "sample_scores" for r in log) == omega_logged
    assert any(r.get("event") == "corrected_labels" for r in log)
    last = [r for r in log if r.get("epoch") == 1 and "event" not in r][0]
    assert {k for k in last if k.startswith("contrastive_l_") and k.count("_") == 2} == parts
    if options.get("omega") == "off":
        assert all(torch.equal(w, torch.ones(96)) for w in weights)


class StopAfter(RunLog):
    """A run log that interrupts the run once the checkpoint of epoch `stop` is written."""

    def __init__(self, run: Path, stop: int) -> None:
        super().__init__(run)
        self.stop = stop

    def checkpoint(self, epoch, modules, optimizers, extra=None) -> None:
        super().checkpoint(epoch, modules, optimizers, extra)
        if epoch == self.stop:
            raise KeyboardInterrupt


def untimed(run: Path) -> list[dict]:
    """The metrics log without wall-clock values."""
    return [{k: v for k, v in r.items() if k != "time" and not k.endswith("_s")} for r in read_log(run)]


@pytest.mark.parametrize(
    "options",
    [
        {"reuse_knn_features_for_omega": True, "proj_head": True, "freeze_prototypes": True},
        {"feature_source": "training_pass"},
    ],
    ids=["reuse", "training-pass"],
)
@pytest.mark.parametrize("stop", [0, 2])
def test_a_run_resumes_exactly(tmp_path: Path, options: dict, stop: int) -> None:
    """Interrupted in the warm-up or after a contrastive epoch and resumed from a model of another seed, the run ends
    bit-identical to the uninterrupted one, its log included."""
    video, audio, noisy, _ = noisy_vectors()
    options = {"warmup_epochs": 1, **options}
    budget = Budget(epochs=4, batch_size=16, lr=3e-3)
    model, data = vector_task(noisy, video, audio)
    ntl.NTL(**options).fit(model, data, budget, RunLog(tmp_path / "whole"))
    whole = {k: v.clone() for k, v in model.state_dict().items()}
    interrupted = StopAfter(tmp_path / "cut", stop)
    with pytest.raises(KeyboardInterrupt):
        ntl.NTL(**options).fit(*vector_task(noisy, video, audio), budget, interrupted)
    interrupted.folder.release()
    model, data = vector_task(noisy, video, audio, model_seed=1)
    ntl.NTL(**options).fit(model, data, budget, RunLog(tmp_path / "cut", resume=True))
    assert all(torch.equal(whole[k], v) for k, v in model.state_dict().items())
    assert untimed(tmp_path / "cut") == untimed(tmp_path / "whole")


def test_training_pass_features_skip_the_feature_passes_but_not_the_phases(tmp_path: Path, monkeypatch) -> None:
    """feature_source=training_pass: one whole-set extraction only when a sample has no features yet (no warm-up),
    then omega and the correction read what the last training pass computed (train mode, detached)."""
    video, audio, noisy, truth = noisy_vectors()
    extractions: list[int] = []
    real_extract = ntl.extract

    def spy(model, data):
        extractions.append(1)
        return real_extract(model, data)

    monkeypatch.setattr(ntl, "extract", spy)
    budget = Budget(epochs=3, batch_size=16, lr=3e-3)
    for warmup, expected in ((1, 0), (0, 1)):
        model, data = vector_task(noisy, video, audio)
        run = tmp_path / f"warmup{warmup}"
        method = ntl.NTL(warmup_epochs=warmup, feature_source="training_pass")
        method.fit(model, data, budget, RunLog(run, truth=truth))
        assert len(extractions) == expected
        extractions.clear()
        epochs = RunFolder(run).epochs()
        assert (
            all("contrastive_l_ins" in r for r in epochs[warmup:])
            and len(RunFolder(run).events("corrected_labels")) == 3 - warmup
        )
    model, data = vector_task(noisy, video, audio)
    kept = ntl.PassFeatures()
    ntl.train_pass(model, data, 0, [], partial(ntl.supervised_step, model, None, 0.0, kept=kept, num_samples=96))
    kept.end_pass()
    model.train()
    with torch.no_grad():
        f_v, f_a, _ = model(video, audio)
    assert torch.allclose(kept.features(model, data)[0], f_v, atol=1e-5) and not extractions


def test_the_contrastive_phase_needs_one_full_batch(tmp_path: Path) -> None:
    video, audio, noisy, _ = noisy_vectors(n=12)
    model, data = vector_task(noisy, video, audio)
    with pytest.raises(AvnbError, match="full batches of 16"):
        ntl.NTL().fit(model, data, Budget(epochs=2, batch_size=16), RunLog(tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("source", ["extract", "training_pass"])
def test_ntl_under_ddp_on_two_cpu_processes(synthetic_bench, tmp_path: Path, source: str) -> None:
    """Two processes: each computes omega and the correction from the whole set (with training-pass features, each
    process's share gathered after every pass) and the run completes with both phases."""
    folder, media = synthetic_bench
    run = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += ["-m", "avnoisebench", "train", str(folder), "--config", "sym20", "--method", "ntl", "--out", str(run)]
    command += ["--media-root", str(media), "--track", "cached", "--model", "small", "--epochs", "3"]
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
    command += ["--option", "warmup_epochs=1", "--option", f"feature_source={source}"]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    epochs = RunFolder(run).epochs()
    assert [(r["phase"], r["samples"], r.get("contrastive_samples")) for r in epochs] == [
        ("warm-up", 80, None),
        ("contrastive+hybrid", 80, 64),
        ("contrastive+hybrid", 80, 64),
    ]
    assert [r["epoch"] for r in RunFolder(run).events("corrected_labels")] == [1, 2]


# End to end on synthetic-av: 60 % symmetric label noise, 30 % mismatched pairs


@pytest.fixture(scope="module")
def noisy_bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """synthetic-av, 4 classes of 20 training and 8 test clips, config nc30-sym60."""
    root = tmp_path_factory.mktemp("ntl")
    options = SyntheticAvOptions(
        out=root / "synthetic-av",
        media_root=root / "media",
        classes=4,
        train_per_class=20,
        test_per_class=8,
        noise=(NoiseSpec.parse("sym60"),),
        nc_synthetic=(CorrespondenceSpec(0.3),),
    )
    [folder] = build_synthetic_av(options)
    return folder, root / "media"


def test_ntl_omega_separates_mismatched_pairs_on_pretrained_features(noisy_bench, tmp_path: Path) -> None:
    """The paper's regime on synthetic-av: tiny encoders pretrained label-free (recipe simclr-synthetic-av), frozen
    (features track), 60 epochs as the card recommends. omega then tells mismatched pairs from matched ones (ROC-AUC
    0.55-0.80 over the epochs, median of the second half 0.73; from scratch 0.39-0.63, issue 17). V@1 is not compared:
    on 80 training clips neither regime puts ntl ahead of late-fusion (docs/methods/ntl.md, Notes from the CPU runs)."""
    assert load_method("ntl") is ntl.NTL
    folder, media = noisy_bench
    weights = tmp_path / "simclr.pt"
    pretrain_folder(plan_pretraining(folder, media, weights, jobs=1, cache_dir=folder.parent / "cache"))
    settings_ = run_settings(
        noisy_bench,
        tmp_path / "ntl",
        config="nc30-sym60",
        method="ntl",
        track="features",
        model="tiny",
        init=str(weights),
        epochs=60,
        lr=1e-3,
        sampling=None,
    )
    record = evaluate_run(run_training(settings_)).record
    assert record.init_sha256 and record.track == "features"
    log = read_log(tmp_path / "ntl")
    corrected = [r for r in log if r.get("event") == "corrected_labels"]
    auc = [r["auc_matched_vs_mismatched"] for r in log if r.get("event") == "sample_scores" and r["score"] == "omega"]
    print(f"V@1 ntl {record.metrics['V@1']:.1f}; omega AUC by epoch {[round(a, 2) for a in auc]}")
    assert len(corrected) == len(auc) > 40
    assert np.median(auc[len(auc) // 2 :]) > 0.65
