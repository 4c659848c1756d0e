"""AdaMML: Gumbel decisions, gated fusion, usage cost, temperature and phase schedule, and a harness run."""

from pathlib import Path

import numpy as np
import pytest
import torch
from harnesskit import TensorSource, run_settings, vector_task

from avnoisebench.evaluation.scoring import evaluate_run
from avnoisebench.harness.settings import TrainSettings
from avnoisebench.harness.training import run_training
from avnoisebench.models import build_model
from avnoisebench.plugin import AvnbError, Budget, RunLog, TrainData
from avnoisebench.runs.folder import RunFolder
from baselines.adamml import (
    AdaMML,
    AdaMMLParts,
    AdaMMLPredictor,
    GatedFusion,
    Networks,
    PolicyNet,
    Schedule,
    argmax_decisions,
    fuse,
    hard_gumbel,
    policy_loss,
    split_segments,
    usage_penalty,
)

OPTIONS = {"policy_backbone": "small"}


def test_hard_gumbel_is_exactly_binary_with_straight_through_gradients() -> None:
    logits = torch.randn(256, 2, generator=torch.Generator().manual_seed(0), requires_grad=True)
    decisions = hard_gumbel(logits, tau=5.0, generator=torch.Generator().manual_seed(1))
    assert set(decisions.unique().tolist()) == {0.0, 1.0}
    (decisions * torch.linspace(-1, 1, 256)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0 and torch.isfinite(logits.grad).all()
    again = hard_gumbel(logits.detach(), tau=5.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(decisions.detach(), again)
    assert torch.equal(argmax_decisions(torch.tensor([[0.0, 1.0], [2.0, -1.0]])), torch.tensor([1.0, 0.0]))


def test_a_zero_decision_removes_that_modality_from_the_fused_logits() -> None:
    logits = torch.randn(3, 2, 2, 5)
    weights = torch.tensor([0.3, 0.7])
    only_video = torch.tensor([1.0, 0.0]).expand(3, 2, 2)
    assert torch.allclose(fuse(logits, only_video, weights), 0.3 * logits[:, :, 0].mean(dim=1))
    both = torch.ones(3, 2, 2)
    assert torch.allclose(fuse(logits, both, weights), (0.3 * logits[:, :, 0] + 0.7 * logits[:, :, 1]).mean(dim=1))


def test_a_clip_with_every_modality_off_gets_zero_logits_and_the_weights_sum_to_one() -> None:
    fusion = GatedFusion(feature_dim=8, num_classes=4)
    assert torch.allclose(fusion.weights(), torch.tensor([0.5, 0.5])) and fusion.weights().sum() == 1
    decisions = torch.tensor([[[0.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]]])
    logits = fusion(torch.randn(2, 2, 8), torch.randn(2, 2, 8), decisions)
    assert torch.equal(logits[0], torch.zeros(4)) and logits[1].abs().sum() > 0


def test_usage_penalty_is_zero_without_usage_and_grows_as_lambda_times_usage_squared() -> None:
    lambdas = torch.tensor([1.0, 0.05])
    correct = torch.ones(1)
    none = torch.zeros(1, 4, 2)
    assert (
        usage_penalty(none, correct, lambdas, "blockdrop") == 0 and usage_penalty(none, correct, lambdas, "mean") == 0
    )
    for used in range(5):
        decisions = torch.zeros(1, 4, 2)
        decisions[0, :used] = 1.0
        expected = (1.0 + 0.05) * (used / 4) ** 2
        assert usage_penalty(decisions, correct, lambdas, "blockdrop").item() == pytest.approx(expected)
        assert usage_penalty(decisions, correct, lambdas, "mean").item() == pytest.approx(1.05 * used / 4)
        assert usage_penalty(decisions, torch.zeros(1), lambdas, "blockdrop") == 0


def test_policy_loss_has_no_gradient_when_every_prediction_is_wrong() -> None:
    policy_logits = torch.randn(4, 3, 2, 2, requires_grad=True)
    decisions = hard_gumbel(policy_logits, tau=1.0, generator=torch.Generator().manual_seed(0))
    logits = torch.eye(3)[[0, 1, 2, 0]]
    loss = policy_loss(decisions, logits, torch.tensor([1, 2, 0, 1]), torch.tensor([1.0, 0.05]), 10.0, "blockdrop")
    assert loss.item() == pytest.approx(10.0)
    loss.backward()
    assert torch.equal(policy_logits.grad, torch.zeros_like(policy_logits))


def test_temperature_decays_by_the_ratio_after_each_alternating_epoch() -> None:
    schedule = Schedule.rescaled(35)
    assert [schedule.temperature(e, 5.0, 0.965) for e in range(6)] == [5.0] * 6
    for done in range(21):
        assert schedule.temperature(5 + done, 5.0, 0.965) == pytest.approx(5.0 * 0.965**done)
    assert schedule.temperature(34, 5.0, 0.965) == pytest.approx(5.0 * 0.965**20)


@pytest.mark.parametrize(
    ("epochs", "warmup_end", "alternate_end"), [(35, 5, 25), (60, 9, 43), (10, 1, 7), (8, 1, 6), (1, 0, 1)]
)
def test_phases_rescale_5_20_10_to_the_budget(epochs: int, warmup_end: int, alternate_end: int) -> None:
    schedule = Schedule.rescaled(epochs)
    assert (schedule.warmup_end, schedule.alternate_end) == (warmup_end, alternate_end)
    phases = [schedule.phase(e) for e in range(epochs)]
    assert phases == ["warmup"] * warmup_end + ["alternate"] * (alternate_end - warmup_end) + ["finetune"] * (
        epochs - alternate_end
    )


def test_segments_are_consecutive_slices_of_the_clip_and_its_log_mel() -> None:
    video = torch.arange(4.0).view(1, 1, 4, 1, 1).expand(2, 3, 4, 5, 5)
    audio = torch.arange(9.0).view(1, 9, 1).expand(2, 9, 6)
    video_s, audio_s = split_segments(video, audio, 2)
    assert video_s.shape == (2, 2, 3, 2, 5, 5) and audio_s.shape == (2, 2, 4, 6)
    assert video_s[0, 1, 0, :, 0, 0].tolist() == [2.0, 3.0] and audio_s[0, 1, :, 0].tolist() == [4.0, 5.0, 6.0, 7.0]
    with pytest.raises(AvnbError, match="segments=3 does not divide the clip's 4 frames"):
        split_segments(video, audio, 3)


def test_mobilenet_policy_decides_per_segment_and_modality() -> None:
    policy = PolicyNet("mobilenet_v2")
    decisions, logits = policy(torch.randn(2, 3, 3, 2, 32, 32), torch.randn(2, 3, 20, 16), argmax_decisions)
    assert decisions.shape == (2, 3, 2) and logits.shape == (2, 3, 2, 2)
    assert set(decisions.unique().tolist()) <= {0.0, 1.0}


def test_policy_width_sizes_the_joint_layers_and_the_lstm_input() -> None:
    official, narrow = PolicyNet("small", input_dims=(128, 128)), PolicyNet("small", input_dims=(128, 128), width=256)
    assert official.joint[2].weight.shape == (2048, 2048) and narrow.joint[2].weight.shape == (256, 256)
    assert narrow.lstm.input_size == 256 + 4 and narrow.lstm.hidden_size == official.lstm.hidden_size == 256
    size = sum(p.numel() for p in narrow.parameters())
    assert size < sum(p.numel() for p in official.parameters()) / 9  # 0.79 M against 7.68 M
    decisions, _ = narrow(torch.randn(3, 1, 128), torch.randn(3, 1, 128), argmax_decisions)
    assert decisions.shape == (3, 1, 2)


def test_the_predictor_follows_the_learned_policy() -> None:
    model, parts = build_model("small", 4), AdaMMLParts(128, 4, "small", 160 / 224)
    with torch.no_grad():
        for head, use in zip(parts.policy.heads, (False, True), strict=True):
            head.weight.zero_()
            head.bias.copy_(torch.tensor([-10.0, 10.0] if use else [10.0, -10.0]))
    networks = Networks(model, parts.policy, parts.fusion, segments=2)
    video, audio = torch.randn(3, 3, 4, 32, 32), torch.randn(3, 40, 16)
    logits = AdaMMLPredictor(networks, argmax_decisions)(video, audio)
    video_s, audio_s = split_segments(video, audio, 2)
    with torch.no_grad():
        f_a = model.audio_encoder(audio_s.flatten(0, 1)).view(3, 2, -1)
        audio_only = 0.5 * parts.fusion.heads[1](f_a).mean(dim=1)
    assert torch.allclose(logits, audio_only, atol=1e-6)


def test_bad_options_are_refused_at_construction() -> None:
    with pytest.raises(AvnbError, match="adamml option penalty='l1': choose one of blockdrop, mean"):
        AdaMML(penalty="l1")
    with pytest.raises(AvnbError, match="adamml option segments=0 is out of range; allowed: >= 1"):
        AdaMML(segments=0)
    with pytest.raises(AvnbError, match=r"adamml option policy_scale=1.5 is out of range; allowed: \(0, 1\]"):
        AdaMML(policy_scale=1.5)
    with pytest.raises(AvnbError, match="adamml option temperature='hot': give a number"):
        AdaMML(temperature="hot")
    with pytest.raises(AvnbError, match="must be >= 0, not all 0"):
        AdaMML(warmup_epochs=0, alternate_epochs=0, finetune_epochs=0)
    assert AdaMML(segments="4", eval_decisions="sample").options.segments == 4
    assert (AdaMML.paper_name, AdaMML.order, AdaMML.robust) == ("AdaMML", 50, False)


def settings(bench: tuple[Path, Path], out: Path, **overrides) -> TrainSettings:
    return run_settings(bench, out, **{"method": "adamml", "epochs": 6, "options": OPTIONS, **overrides})


def epochs_logged(run: Path) -> list[dict]:
    return RunFolder(run).epochs()


def untimed(run: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "time"} for r in epochs_logged(run)]


def test_adamml_learns_on_synthetic_av_and_logs_usage(synthetic_bench, tmp_path: Path) -> None:
    run = run_training(settings(synthetic_bench, tmp_path / "run"))
    log = epochs_logged(run)
    assert [r["epoch"] for r in log] == list(range(6))
    assert [r["phase"] for r in log] == ["warmup"] + ["alternate"] * 3 + ["finetune"] * 2
    assert all(0.0 <= r[f"usage_{m}"] <= 1.0 for r in log for m in ("video", "audio"))
    assert [r["temperature"] for r in log] == pytest.approx([5.0 * 0.965 ** min(max(e - 1, 0), 3) for e in range(6)])
    record = evaluate_run(run).record
    assert record.metrics["V@1"] > 50.0
    assert set(record.diagnostics) == {"usage_video", "usage_audio", "all_off"}


def toy(n: int) -> tuple[TrainData, torch.Tensor, torch.Tensor]:
    """4 classes told by the video (colour channel and a bright half), audio pure noise."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 4
    video = 0.5 * torch.randn(n, 3, 4, 16, 16, generator=generator)
    video[torch.arange(n), labels % 3] += 1.0
    video[labels >= 3, :, :, :8] += 1.0
    audio = torch.randn(n, 40, 16, generator=generator)
    return TrainData(labels.tolist(), np.ones(n, dtype=bool), TensorSource(video, audio), 4, 16, 0), video, audio


def fit_toy(method: AdaMML, n: int, epochs: int, log: RunLog) -> AdaMMLPredictor:
    data, _, _ = toy(n)
    torch.manual_seed(0)
    try:
        return method.fit(build_model("small", 4), data, Budget(epochs, 16, 3e-3, "cpu", 0), log)
    finally:
        log.folder.release()


class StopAfter(RunLog):
    """A run log that interrupts the run once the checkpoint of epoch `stop` is written."""

    def __init__(self, run: Path, stop: int) -> None:
        super().__init__(run)
        self.stop = stop

    def checkpoint(self, epoch, modules, optimizers, extra=None) -> None:
        super().checkpoint(epoch, modules, optimizers, extra)
        if epoch == self.stop:
            raise KeyboardInterrupt


@pytest.mark.parametrize("stop", [0, 1])
def test_resume_after_interruption_equals_the_uninterrupted_run(tmp_path: Path, stop: int) -> None:
    """3 epochs: alternate, alternate, fine-tune. Interrupted within the alternating phase (the Gumbel generator
    mid-stream) or right before the fine-tuning (its fresh optimisers), the resumed run equals the whole one."""
    reference = fit_toy(AdaMML(**OPTIONS), 32, 3, RunLog(tmp_path / "a"))
    with pytest.raises(KeyboardInterrupt):
        fit_toy(AdaMML(**OPTIONS), 32, 3, StopAfter(tmp_path / "b", stop))
    assert set(RunFolder(tmp_path / "b").load_checkpoint()["extra"]) == {"gumbel_rng"}
    resumed = fit_toy(AdaMML(**OPTIONS), 32, 3, RunLog(tmp_path / "b", resume=True))
    assert untimed(tmp_path / "b") == untimed(tmp_path / "a")
    a, b = (RunFolder(r).load_checkpoint()["modules"]["adamml"] for r in (tmp_path / "a", tmp_path / "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    _, video, audio = toy(32)
    assert torch.equal(reference(video, audio), resumed(video, audio))


@pytest.mark.slow
def test_toy_noise_audio_with_a_large_audio_cost_is_switched_off_without_losing_accuracy(tmp_path: Path) -> None:
    method = AdaMML(policy_backbone="small", lambda_video=0.05, lambda_audio=5.0)
    predictor = fit_toy(method, 96, 8, RunLog(tmp_path))
    last = epochs_logged(tmp_path)[-1]
    assert last["usage_audio"] < 0.05 and last["usage_video"] > 0.9
    _, video, audio = toy(96)
    labels = torch.arange(96) % 4
    assert (predictor(video, audio).argmax(dim=1) == labels).float().mean() > 0.9


def test_on_feature_vectors_a_clip_is_one_segment_and_the_policy_reads_the_vectors(tmp_path: Path) -> None:
    labels = torch.arange(64) % 4
    video = torch.nn.functional.one_hot(labels, 4).float() + 0.1 * torch.randn(64, 4)
    model, data = vector_task(labels, video, torch.randn(64, 6), batch_size=16)
    adamml = AdaMML(segments=1, policy_width=32)
    predictor = adamml.fit(model, data, Budget(4, 16, 3e-3), RunLog(tmp_path / "run"))
    logits = predictor(video[:8], torch.randn(8, 6))
    summary = predictor.summary()
    assert logits.shape == (8, 4) and set(summary) == {"usage_video", "usage_audio", "all_off"}
    assert all(0.0 <= value <= 1.0 for value in summary.values())
    with pytest.raises(AvnbError, match="segments=2 on feature vectors .* set segments=1"):
        AdaMML(segments=2).fit(model, data, Budget(1, 16, 3e-3), RunLog(tmp_path / "again"))
