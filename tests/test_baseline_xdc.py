"""XDC*: cross-modal targets, seeded k-means with re-seeding, fresh heads, k-NN rectification on noisy labels, resume,
and an end-to-end run through the harness on synthetic-av."""

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F
from harnesskit import run_settings, vector_task

import baselines.xdc as xdc
from avnoisebench.evaluation.scoring import evaluate_run
from avnoisebench.harness.registry import load_method
from avnoisebench.harness.training import run_training
from avnoisebench.plugin import AvnbError, Budget, RunLog, TrainData
from avnoisebench.runs.folder import RunFolder

NMI = xdc.normalized_mutual_information


def blobs(sizes: list[int], dim: int, spread: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Points around len(sizes) random centres (well apart for small `spread`) and their blob ids, shuffled."""
    generator = torch.Generator().manual_seed(seed)
    centres = 10 * torch.randn(len(sizes), dim, generator=generator)
    ids = torch.cat([torch.full((size,), i) for i, size in enumerate(sizes)])
    ids = ids[torch.randperm(len(ids), generator=generator)]
    return centres[ids] + spread * torch.randn(len(ids), dim, generator=generator), ids


def noisy_view(classes: torch.Tensor, dim: int, signal: int, noise: float, seed: int) -> torch.Tensor:
    """Vectors whose first `signal` dimensions carry the class (unit-spread blobs) and the rest Gaussian clutter."""
    generator = torch.Generator().manual_seed(seed)
    centres = 4 * torch.randn(int(classes.max()) + 1, signal, generator=generator)
    clean = centres[classes] + torch.randn(len(classes), signal, generator=generator)
    return torch.cat([clean, noise * torch.randn(len(classes), dim - signal, generator=generator)], dim=1)


def test_video_targets_are_audio_cluster_ids_and_audio_targets_video_cluster_ids() -> None:
    f_a, audio_blob = blobs([15, 15, 15, 15], 8, 0.1, seed=1)
    f_v = torch.relu(10 + 10 * F.one_hot(torch.arange(60) % 4, 4).float() + 0.1 * torch.randn(60, 4))
    video_blob = torch.arange(60) % 4
    assert NMI(audio_blob, video_blob) < 0.2
    seeds = (xdc.stream_seed(0, xdc.KMEANS_VIDEO, 0), xdc.stream_seed(0, xdc.KMEANS_AUDIO, 0))
    targets, video, audio = xdc.cross_modal_targets(f_v, f_a, torch.ones(60, dtype=torch.bool), 4, seeds, 0)
    assert torch.equal(targets.video, audio.labels) and torch.equal(targets.audio, video.labels)
    assert NMI(targets.video, audio_blob) == pytest.approx(1.0) and NMI(targets.audio, video_blob) == pytest.approx(1.0)


def test_the_loss_trains_each_head_on_the_other_modalitys_clusters() -> None:
    model, data = vector_task(torch.arange(8) % 2, torch.randn(8, 6), torch.randn(8, 5))
    heads = xdc.fresh_heads(32, 3, xdc.stream(0, xdc.HEADS, 0))
    audio_clusters, video_clusters = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]), torch.tensor([2, 2, 1, 1, 0, 0, 2, 1])
    ones = torch.ones(8)
    targets = xdc.Targets(video=audio_clusters, audio=video_clusters, video_weight=ones, audio_weight=ones)
    batch = next(data.batches(0))
    f_v, f_a, _ = model(batch.video, batch.audio)
    parts = xdc.xdc_loss(model, heads, batch, targets)
    expected_video = F.cross_entropy(heads["video"](f_v), audio_clusters[batch.index])
    expected_audio = F.cross_entropy(heads["audio"](f_a), video_clusters[batch.index])
    assert torch.allclose(parts["loss_video"], expected_video) and torch.allclose(parts["loss_audio"], expected_audio)
    assert torch.allclose(parts["loss"], expected_video + expected_audio)
    assert not torch.allclose(parts["loss_video"], F.cross_entropy(heads["video"](f_v), video_clusters[batch.index]))


def test_kmeans_keeps_every_cluster_it_can() -> None:
    points, _ = blobs([10, 10], 3, 0.1, seed=2)
    assert torch.bincount(xdc.kmeans(points, 3, 0).labels, minlength=3).min() >= 1
    duplicates = torch.cat([torch.zeros(10, 2), torch.ones(10, 2)])  # two distinct points for three clusters
    assert set(xdc.kmeans(duplicates, 3, 0).labels.tolist()) <= {0, 1, 2}


def test_kmeans_is_deterministic_for_a_seed_and_recovers_separated_blobs() -> None:
    points, ids = blobs([30, 25, 40, 35, 20], 16, 0.5, seed=3)
    first, again = (xdc.kmeans(points, 5, xdc.stream_seed(7, 1)) for _ in range(2))
    assert torch.equal(first.labels, again.labels) and torch.equal(first.centroids, again.centroids)
    for seed in range(5):
        assert NMI(xdc.kmeans(points, 5, xdc.stream_seed(seed)).labels, ids) == pytest.approx(1.0)
    low_rank, ids = blobs([30, 25, 40], 2, 0.5, seed=4)
    whitened = xdc.pca_whiten(torch.cat([low_rank, torch.zeros(len(ids), 6)], dim=1), 256)
    assert whitened.shape == (len(ids), 2) and torch.allclose(whitened.norm(dim=1), torch.ones(len(ids)))
    assert NMI(xdc.kmeans(whitened, 3, xdc.stream_seed(0)).labels, ids) == pytest.approx(1.0)


def test_rectification_votes_with_the_noisy_labels_and_k1_returns_the_nearest_other_samples_label() -> None:
    noisy = torch.randint(0, 3, (40,), generator=torch.Generator().manual_seed(4))
    model, data = vector_task(noisy, torch.randn(40, 6), torch.randn(40, 5))
    rectified = xdc.rectify_labels(model, data, k=1)
    f_v, f_a = data.extract_features(model)
    z = F.normalize(torch.cat([F.normalize(f_v, dim=1), F.normalize(f_a, dim=1)], dim=1), dim=1)
    cosine = (z @ z.t()).fill_diagonal_(-2)
    assert torch.equal(rectified, noisy[cosine.argmax(dim=1)])


def timeless(line: dict) -> dict:
    """A metrics line without its wall-clock values."""
    return {k: v for k, v in line.items() if k not in ("time", "seconds") and not k.endswith("_s")}


def test_a_run_on_vectors_recovers_classes_and_resumes_exactly(tmp_path: Path, monkeypatch) -> None:
    """Audio carries the classes cleanly, video the same classes under clutter: XDC rounds make the video clusters
    follow the classes, fresh heads each round; an interrupted run resumed mid-round or in the supervised phase ends
    where the whole run does."""
    classes = torch.arange(120) % 4
    audio = noisy_view(classes, 8, 8, 0.0, seed=5)
    video = noisy_view(classes, 24, 4, 3.0, seed=6)
    rounds: list[dict] = []
    made: list[dict] = []
    real_targets, real_heads = xdc.cross_modal_targets, xdc.fresh_heads

    def spy_targets(*args, **kwargs):
        targets, video_km, audio_km = real_targets(*args, **kwargs)
        rounds.append({"video_nmi": NMI(video_km.labels, classes), "targets": targets, "audio_km": audio_km})
        return targets, video_km, audio_km

    def spy_heads(*args, **kwargs):
        heads = real_heads(*args, **kwargs)
        made.append({k: v.clone() for k, v in heads.state_dict().items()})
        return heads

    monkeypatch.setattr(xdc, "cross_modal_targets", spy_targets)
    monkeypatch.setattr(xdc, "fresh_heads", spy_heads)
    options = {"clusters": "K", "knn_k": 5, "xdc_fraction": 0.6, "pca_dim": 0, "recluster_every": 2}
    budget = Budget(epochs=10, batch_size=32, lr=3e-3)
    model, data = vector_task(classes, video, audio)
    xdc.XDC(**options).fit(model, data, budget, RunLog(tmp_path / "whole"))
    assert len(rounds) == 3
    assert rounds[-1]["video_nmi"] > rounds[0]["video_nmi"] + 0.2, [r["video_nmi"] for r in rounds]
    assert all(torch.equal(r["targets"].video, r["audio_km"].labels) for r in rounds)
    assert len(made) == 1 + 3 and all(torch.equal(made[0][k], made[1][k]) for k in made[0])
    assert not torch.equal(made[1]["video.weight"], made[2]["video.weight"])
    print("video k-means NMI by round:", [round(r["video_nmi"], 3) for r in rounds])
    log = RunFolder(tmp_path / "whole").metrics()
    assert [(r["epoch"], r["phase"]) for r in log if "epoch" in r and "event" not in r] == [
        (e, "clustering" if e < 6 else "supervised") for e in range(10)
    ]
    assert [r["event"] for r in log if "event" in r] == ["xdc_budget", "rectify"]
    whole = {k: v.clone() for k, v in model.state_dict().items()}

    class StopAt(RunLog):
        def checkpoint(self, epoch, modules, optimizers, extra=None):
            super().checkpoint(epoch, modules, optimizers, extra)
            if epoch == self.stop:
                raise KeyboardInterrupt

    untimed = [timeless(r) for r in log]
    for stop in (2, 5, 7):
        run = tmp_path / f"stop{stop}"
        interrupted = StopAt(run)
        interrupted.stop = stop
        with pytest.raises(KeyboardInterrupt):
            xdc.XDC(**options).fit(*vector_task(classes, video, audio), budget, interrupted)
        interrupted.folder.release()
        model, data = vector_task(classes, video, audio, model_seed=1)
        xdc.XDC(**options).fit(model, data, budget, RunLog(run, resume=True))
        assert all(torch.equal(whole[k], v) for k, v in model.state_dict().items()), stop
        assert [timeless(r) for r in RunFolder(run).metrics()] == untimed, stop


def samples(n: int, classes: int = 4) -> TrainData:
    """Training data of n valid samples (for resolving options; never batched)."""
    return TrainData([0] * n, np.ones(n, bool), None, classes, 16, 0)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"knn_k": -3}, "xdc option knn_k=-3 is out of range; allowed: >= 1"),
        ({"clusters": 1}, "xdc option clusters=1 is out of range; allowed: >= 2"),
        ({"xdc_fraction": 1.0}, r"xdc option xdc_fraction=1.0 is out of range; allowed: \[0, 1\)"),
        ({"pca_dim": "many"}, "xdc option pca_dim='many': give a whole number"),
        ({"cluster_balance": "sample"}, "xdc option cluster_balance='sample': choose one of weight, none"),
        ({"hybrid_gamma": 1.5}, r"xdc option hybrid_gamma=1.5 is out of range; allowed: \[0, 1\], schedule"),
        ({"hybrid_gamma": "ramp"}, "xdc option hybrid_gamma='ramp': give a number or choose one of schedule"),
    ],
)
def test_bad_options_are_refused_at_construction(options: dict, message: str) -> None:
    with pytest.raises(AvnbError, match=message):
        xdc.XDC(**options)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"clusters": 500}, r"clusters=500 must be K, 2K or a number from 2 to 100"),
        ({"knn_k": 100}, r"knn_k=100 must be a number from 1 to 99"),
    ],
)
def test_options_beyond_the_data_are_refused_in_resolve(options: dict, message: str) -> None:
    with pytest.raises(AvnbError, match=message):
        xdc.XDCOptions(**options).resolve(samples(100), Budget())
    assert xdc.XDCOptions(clusters=100, knn_k=99).resolve(samples(100), Budget()).clusters == 100


def test_keyword_values_of_number_options() -> None:
    assert xdc.XDCOptions(clusters="K").resolve(samples(100, classes=5), Budget()).clusters == 5
    assert xdc.XDCOptions(clusters="2K").resolve(samples(100, classes=5), Budget()).clusters == 10
    assert xdc.XDCOptions.from_values({"clusters": "12", "hybrid_gamma": "0.5"}).clusters == 12
    with pytest.raises(AvnbError, match="clusters='3K': give a whole number or choose one of K, 2K"):
        xdc.XDC(clusters="3K")
    with pytest.raises(AvnbError, match="clusters='2K' must be K, 2K or a number from 2 to 9"):
        xdc.XDCOptions(clusters="2K").resolve(samples(9, classes=5), Budget())
    scheduled = xdc.XDCOptions(hybrid_gamma="schedule")
    assert [scheduled.gamma(e) for e in (0, 15, 30)] == pytest.approx([0.6, 0.8, 0.8])


def test_budget_split_and_gamma() -> None:
    assert xdc.xdc_epoch_count(60, 1 / 3) == 20 and xdc.xdc_epoch_count(1, 0.5) == 0
    assert xdc.XDCOptions(hybrid_gamma=0.7).gamma(30) == 0.7 and xdc.XDCOptions().gamma(0) == 1.0
    assert (xdc.XDC.paper_name, xdc.XDC.order, xdc.XDC.robust) == ("XDC*", 30, True)
    logits, noisy, rectified = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([1, 1, 1, 0, 0, 0])
    assert torch.allclose(xdc.hybrid_loss(logits, noisy, rectified, 1.0), F.cross_entropy(logits, rectified))
    assert torch.allclose(xdc.hybrid_loss(logits, noisy, rectified, 0.0), F.cross_entropy(logits, noisy))


def test_xdc_is_registered_and_learns_on_noisy_synthetic_av(synthetic_bench, tmp_path: Path, monkeypatch) -> None:
    folder, media = synthetic_bench
    seen = {}
    real_rectify = xdc.knn_rectify

    def spy(features, labels, k, num_classes):
        seen["labels"] = labels.clone()
        seen["rectified"] = real_rectify(features, labels, k, num_classes)
        return seen["rectified"]

    monkeypatch.setattr(xdc, "knn_rectify", spy)
    assert load_method("xdc") is xdc.XDC
    settings = run_settings(
        synthetic_bench,
        tmp_path / "run",
        config="sym20",
        method="xdc",
        epochs=12,
        options={"clusters": "K", "knn_k": 5, "xdc_fraction": 2 / 3, "recluster_every": 4, "pca_dim": 0},
    )
    run = run_training(settings)
    table = pq.read_table(folder / "data" / "sym20" / "train.parquet")
    noisy, clean = (torch.tensor(table[column].to_pylist()) for column in ("label", "clean_label"))
    assert torch.equal(seen["labels"], noisy) and not torch.equal(seen["labels"], clean)
    record = evaluate_run(run).record
    v_at_1 = record.metrics["V@1"]
    accuracy = [float((labels == clean).float().mean()) for labels in (noisy, seen["rectified"])]
    print(
        f"XDC* on synthetic-av sym20: label accuracy noisy {accuracy[0]:.3f} rectified {accuracy[1]:.3f}, V@1 {v_at_1}"
    )
    assert v_at_1 > 50.0
    (logged,) = RunFolder(run).events("corrected_labels")  # the rectified labels against the hidden truth
    assert logged["epoch"] == 8 and logged["accuracy"] == pytest.approx(accuracy[1], abs=1e-6)
    assert logged["observed_accuracy"] == pytest.approx(accuracy[0], abs=1e-6)
    assert record.diagnostics == pytest.approx({"observed": 100 * accuracy[0], "corrected": 100 * accuracy[1]})
