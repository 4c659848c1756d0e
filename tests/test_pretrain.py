"""Label-free encoder pretraining: deterministic, resumable, label- and pairing-blind, and its features beat random
ones on synthetic-av."""

import inspect
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from avnoisebench.dataset.folder import open_folder
from avnoisebench.errors import AvnbError
from avnoisebench.loaders.clips import ClipDataset
from avnoisebench.models import build_model
from avnoisebench.pretrain import RECIPES, PretrainSpec, pretrain_encoders
from avnoisebench.pretrain.encoders import build_encoder, fold_standardisation
from avnoisebench.pretrain.quality import Clips, feature_quality, knn_classify

SPEC = PretrainSpec("test", model="tiny", epochs=3, batch_size=16)


def _arrays(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    video = rng.integers(0, 256, size=(n, 3, 4, 16, 16), dtype=np.uint8)
    logmel = rng.normal(-30.0, 10.0, size=(n, 20, 16)).astype(np.float16)
    return video, logmel


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class _Interrupt(Exception):
    pass


class _StopAfter:
    """A progress sink that interrupts the run after `epochs` epochs of the first modality."""

    def __init__(self, epochs: int) -> None:
        self.left = epochs

    def task(self, name: str, total: int | None, unit: str = "steps") -> "_StopAfter":
        return self

    def advance(self, steps: int = 1, **status: object) -> None:
        self.left -= steps
        if self.left == 0:
            raise _Interrupt

    def close(self) -> None:
        pass

    def note(self, text: str) -> None:
        pass


class _Record:
    """A progress sink that records every task and every step (with the task's name)."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, int, dict]] = []
        self.tasks: list[tuple[str, int | None, str]] = []

    def task(self, name: str, total: int | None, unit: str = "steps") -> "_RecordedTask":
        self.tasks.append((name, total, unit))
        return _RecordedTask(name, self.steps)

    def note(self, text: str) -> None:
        pass


class _RecordedTask:
    def __init__(self, name: str, steps: list[tuple[str, int, dict]]) -> None:
        self.name, self.steps = name, steps

    def advance(self, steps: int = 1, **status: object) -> None:
        self.steps.append((self.name, steps, status))

    def close(self) -> None:
        pass


def test_same_seed_gives_identical_weights_and_leaves_the_global_rng_alone() -> None:
    video, logmel = _arrays()
    before = torch.random.get_rng_state()
    first, card = pretrain_encoders(video, logmel, SPEC, seed=3)
    assert torch.equal(torch.random.get_rng_state(), before)
    second, _ = pretrain_encoders(video, logmel, SPEC, seed=3)
    other, _ = pretrain_encoders(video, logmel, SPEC, seed=4)
    assert _equal(first, second)
    assert not _equal(first, other)
    assert (
        card["seed"] == 3
        and card["hyperparameters"]["batch_size"] == 16
        and set(card["seconds"])
        == {
            "video",
            "audio",
        }
    )


def test_a_resumed_pretraining_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    video, logmel = _arrays()
    whole, _ = pretrain_encoders(video, logmel, SPEC, seed=1)
    with pytest.raises(_Interrupt):
        pretrain_encoders(video, logmel, SPEC, seed=1, progress=_StopAfter(2), workdir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["video.pt"]
    resumed, _ = pretrain_encoders(video, logmel, SPEC, seed=1, workdir=tmp_path)
    assert _equal(whole, resumed)
    finished, _ = pretrain_encoders(video, logmel, SPEC, seed=1, workdir=tmp_path)
    assert _equal(whole, finished)


def test_a_checkpoint_of_another_run_is_refused(tmp_path: Path) -> None:
    video, logmel = _arrays()
    short = replace(SPEC, epochs=1)
    pretrain_encoders(video, logmel, short, seed=1, workdir=tmp_path)
    with pytest.raises(AvnbError, match="checkpoint of another pretraining"):
        pretrain_encoders(video, logmel, short, seed=2, workdir=tmp_path)
    (tmp_path / "video.pt").write_bytes(b"not a checkpoint")
    for jobs in (1, 2):
        with pytest.raises(AvnbError, match="not a readable pretraining checkpoint"):
            pretrain_encoders(video, logmel, short, seed=1, workdir=tmp_path, jobs=jobs)


def test_two_processes_give_the_sequential_weights() -> None:
    video, logmel = _arrays()
    short = replace(SPEC, epochs=2)
    sequential, _ = pretrain_encoders(video, logmel, short, seed=5)
    record = _Record()
    parallel, card = pretrain_encoders(video, logmel, short, seed=5, progress=record, jobs=2)
    assert _equal(sequential, parallel)
    assert card["jobs"] == 2
    assert (
        sorted(name for name, _, _ in record.steps) == ["pretrain audio encoder"] * 2 + ["pretrain video encoder"] * 2
    )


def test_progress_is_one_step_per_epoch_per_modality() -> None:
    record = _Record()
    pretrain_encoders(*_arrays(), SPEC, seed=0, progress=record)
    assert record.tasks == [("pretrain video encoder", 3, "epochs"), ("pretrain audio encoder", 3, "epochs")]
    assert [(name, steps) for name, steps, _ in record.steps] == [("pretrain video encoder", 1)] * 3 + [
        ("pretrain audio encoder", 1)
    ] * 3
    assert all("loss" in status for _, _, status in record.steps)


def test_pretraining_receives_arrays_and_its_recipe_only() -> None:
    parameters = list(inspect.signature(pretrain_encoders).parameters)
    assert parameters == ["video", "logmel", "spec", "seed", "progress", "workdir", "jobs"]


@pytest.mark.parametrize("model", ["small", "tiny"])
def test_the_weights_load_strictly_into_build_model(model: str) -> None:
    video, logmel = _arrays(n=8)
    state, _ = pretrain_encoders(video, logmel, replace(SPEC, model=model, epochs=1, batch_size=8), seed=0)
    av = build_model(model, num_classes=5)
    expected = {k for k in av.state_dict() if k.startswith(("video_encoder.", "audio_encoder."))}
    assert set(state) == expected
    av.video_encoder.load_state_dict({k.removeprefix("video_encoder."): v for k, v in state.items() if "video_" in k})
    av.audio_encoder.load_state_dict({k.removeprefix("audio_encoder."): v for k, v in state.items() if "audio_" in k})


def _bad_inputs() -> list[tuple[object, object, str]]:
    video, logmel = _arrays(n=4)
    nan = logmel.copy()
    nan[0, 0, 0] = np.nan
    return [
        (video.astype(np.float32), logmel, "uint8 array"),
        (video[:, :2], logmel, "uint8 array"),
        (video[:, :, 0], logmel, "uint8 array"),
        (video.tolist(), logmel, "uint8 array"),
        (video[:1], logmel[:1], "at least 2"),
        (video, logmel[:3], "one per clip"),
        (video, logmel.astype(np.int16), "float array"),
        (video, logmel[:, :, :, None], "float array"),
        (video, nan, "NaN"),
    ]


@pytest.mark.parametrize(("video", "logmel", "message"), _bad_inputs())
def test_bad_inputs_are_refused_with_one_clear_error(video: object, logmel: object, message: str) -> None:
    with pytest.raises(AvnbError, match=message) as caught:
        pretrain_encoders(video, logmel, SPEC, seed=0)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


def test_bad_recipes_and_models_are_refused() -> None:
    with pytest.raises(AvnbError, match="epochs"):
        PretrainSpec("bad", epochs=0)
    with pytest.raises(AvnbError, match="temperature"):
        PretrainSpec("bad", temperature=0.0)
    with pytest.raises(AvnbError, match="jobs"):
        pretrain_encoders(*_arrays(n=4), SPEC, seed=0, jobs=3)
    with pytest.raises(AvnbError, match="'small' or 'tiny'"):
        build_encoder("mlp", "video", 0)


def _split(folder: Path, media: Path, split: str) -> Clips:
    decoding = open_folder(folder).decoding
    sampling = decoding.sampling if split == "test" else decoding.with_sampling(num_views=1).sampling
    dataset = ClipDataset(folder, "clean", split, media, mode="eval", sampling=sampling, audio=decoding.audio)
    samples = [dataset[i] for i in range(len(dataset))]
    return Clips(
        video=np.stack([s.video.numpy() for s in samples]),
        logmel=np.stack([s.logmel.numpy() for s in samples]),
        clean_labels=np.asarray(dataset.clean_labels),
    )


def test_short_pretraining_beats_random_features_on_synthetic_av(tmp_path: Path) -> None:
    from tests.harnesskit import build_bench  # the harness's fixture module, imported only where it is needed

    folder, media = build_bench(tmp_path)
    train, test = _split(folder, media, "train"), _split(folder, media, "test")
    spec = RECIPES["synthetic-av"]
    state, _ = pretrain_encoders(train.video[:, 0], train.logmel[:, 0], spec, seed=0)
    random = {
        f"{m}_encoder.{k}": v
        for m in ("video", "audio")
        for k, v in build_encoder(spec.model, m, 0).state_dict().items()
    }
    pretrained = feature_quality(state, spec.model, train, test)["test_knn"]
    baseline = feature_quality(random, spec.model, train, test)["test_knn"]
    # random conv features already hear the class tones (about 95 %) but see nothing (chance is 25 %)
    assert pretrained["video"] >= baseline["video"] + 0.2, (pretrained, baseline)
    assert sum(pretrained.values()) > sum(baseline.values()) + 0.1, (pretrained, baseline)


def test_folding_the_standardisation_keeps_the_first_stage_away_from_the_padding() -> None:
    encoder = build_encoder("small", "audio", seed=0).eval()
    with torch.no_grad():
        norm = encoder.stages[0][1]
        norm.running_mean.uniform_(-1, 1)
        norm.running_var.uniform_(0.5, 2)
    logmel = torch.randn(4, 1, 51, 40) * 9 - 26
    first = encoder.stages[0][:2]
    standardised = first((logmel + 26) / 9)
    fold_standardisation(encoder, -26.0, 9.0)
    raw = first(logmel)
    torch.testing.assert_close(raw[:, :, 1:-1, 1:-1], standardised[:, :, 1:-1, 1:-1], rtol=1e-4, atol=1e-4)


def test_knn_classify_votes_and_breaks_ties_by_similarity() -> None:
    bank = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = torch.tensor([0, 0, 1, 1])
    query = torch.tensor([[1.0, 0.05], [0.05, 1.0], [0.6, 0.5]])
    assert knn_classify(query, bank, labels, k=2).tolist() == [0, 1, 0]
    assert knn_classify(query, bank, labels, k=4).tolist() == [0, 1, 0]
