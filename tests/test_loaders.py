"""ClipDataset: samples from a media root, audio from audio_clip_id, skipped clips, coverage, determinism."""

from pathlib import Path

import pytest
import torch
from mediagen import make_video
from torch.utils.data import DataLoader

from avnoisebench.dataset.benchmark import Benchmark, manifest_table
from avnoisebench.dataset.decoding import ClipSampling
from avnoisebench.dataset.write import write_benchmark
from avnoisebench.errors import AvnbError
from avnoisebench.loaders import ClipDataset, ClipSample, SkippedClip, collate_clips
from avnoisebench.media.status import StatusRecord, append_record
from avnoisebench.noise.apply import apply_noise
from avnoisebench.noise.labels import parse_noise_configs

SAMPLING = ClipSampling(num_frames=4, stride=0.5, num_views=3, short_side=40, crop=32)
TONES = {"a0": 500, "a1": 500, "b0": 3000, "b1": 3000, "ta": 500, "tb": 3000, "gone": 500, "bad": 500, "mute": 500}


def tiny_benchmark(root: Path) -> Path:
    """Two classes; train clip a1 is paired with the audio of b0; 'gone' has no media, 'bad' is corrupt."""

    def table(ids: list[str], labels: list[int], audio: list[str]):
        return manifest_table(
            {
                "clip_id": ids,
                "youtube_id": [None] * len(ids),
                "time_start": [None] * len(ids),
                "time_end": [None] * len(ids),
                "class_name": [["low", "high"][y] for y in labels],
                "clean_label": labels,
                "path": [f"tiny/{i}.mp4" for i in ids],
                "audio_clip_id": audio,
                "source_split": ["train"] * len(ids),
            }
        )

    train = table(
        ["a0", "a1", "b0", "b1", "gone", "bad", "mute"],
        [0, 0, 1, 1, 0, 0, 1],
        ["a0", "b0", "b0", "b1", "gone", "bad", "mute"],
    )
    test = table(["ta", "tb"], [0, 1], ["ta", "tb"])
    bench = Benchmark("tiny", "tiny", "tiny", ["low", "high"], train, test, (), {}, "", "cc0")
    return write_benchmark(apply_noise(bench, parse_noise_configs(["sym50"]), None, seed=0), root / "tiny")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("loader")
    folder, media = tiny_benchmark(root), root / "media"
    for clip_id, tone in TONES.items():
        if clip_id == "gone":
            continue
        path = make_video(media / "tiny" / f"{clip_id}.mp4", seconds=3, tone=tone, audio=clip_id != "mute")
        if clip_id == "bad":
            path.write_bytes(path.read_bytes()[:1500])
        append_record(media, StatusRecord(clip_id=clip_id, path=f"tiny/{clip_id}.mp4", action="link", category="ok"))
    return folder, media


def high_band_energy(logmel: torch.Tensor) -> float:
    """Mean dB of the mel bins above ~2 kHz minus those below."""
    return float(logmel[..., 30:].mean() - logmel[..., :20].mean())


def test_train_samples_and_coverage(tiny) -> None:
    folder, media = tiny
    data = ClipDataset(folder, "clean", "train", media, sampling=SAMPLING)
    assert (data.coverage.total, data.coverage.available, data.coverage.unavailable) == (7, 6, ("gone",))
    sample = data[data.clip_ids.index("a0")]
    assert isinstance(sample, ClipSample) and sample.has_audio
    assert sample.video.shape == (3, 4, 32, 32) and sample.video.dtype == torch.uint8
    assert sample.logmel.shape == (201, 64) and sample.label == 0


def test_audio_comes_from_audio_clip_id(tiny) -> None:
    folder, media = tiny
    data = ClipDataset(folder, "clean", "train", media, sampling=SAMPLING)
    own, paired = data[data.clip_ids.index("a0")], data[data.clip_ids.index("a1")]
    assert high_band_energy(paired.logmel) > high_band_energy(own.logmel) + 10


def test_labels_are_the_configs_observed_labels(tiny) -> None:
    import pyarrow.parquet as pq

    folder, media = tiny
    manifest = pq.read_table(folder / "data" / "sym50" / "train.parquet").to_pylist()
    data = ClipDataset(folder, "sym50", "train", media, sampling=SAMPLING)
    assert data.labels == [manifest[i]["label"] for i in data.indices]
    assert any(row["label"] != row["clean_label"] for row in manifest)


def test_eval_mode_gives_every_view(tiny) -> None:
    folder, media = tiny
    data = ClipDataset(folder, "clean", "test", media, mode="eval", sampling=SAMPLING, normalize=True)
    sample = data[0]
    assert sample.video.shape == (3, 3, 4, 32, 32) and sample.video.dtype == torch.float32
    assert sample.logmel.shape == (3, 201, 64)


def test_epochs_and_seeds_choose_the_random_clips(tiny) -> None:
    folder, media = tiny

    def videos(data: ClipDataset) -> list[torch.Tensor]:
        return [s.video for s in (data[i] for i in range(len(data))) if isinstance(s, ClipSample)]

    data = ClipDataset(folder, "clean", "train", media, sampling=SAMPLING, seed=1)
    epoch0 = videos(data)
    assert all(torch.equal(a, b) for a, b in zip(epoch0, videos(data), strict=True))
    data.set_epoch(1)
    assert not all(torch.equal(a, b) for a, b in zip(epoch0, videos(data), strict=True))
    other = ClipDataset(folder, "clean", "train", media, sampling=SAMPLING, seed=2)
    assert not all(torch.equal(a, b) for a, b in zip(epoch0, videos(other), strict=True))


def test_broken_media_is_skipped_and_counted_by_the_loader(tiny) -> None:
    folder, media = tiny
    data = ClipDataset(folder, "clean", "train", media, sampling=SAMPLING)
    batches = list(DataLoader(data, batch_size=4, collate_fn=collate_clips))
    skipped = [s for b in batches for s in b.skipped]
    assert [(s.clip_id, s.category) for s in skipped] == [("bad", "corrupt")]
    assert sum(len(b.clip_id) for b in batches) == 5
    mute = next(b for b in batches if "mute" in b.clip_id)
    position = mute.clip_id.index("mute")
    assert not mute.has_audio[position] and torch.allclose(mute.logmel[position], torch.tensor(-100.0))
    assert isinstance(data[data.clip_ids.index("bad")], SkippedClip)


def test_bad_arguments(tiny) -> None:
    folder, media = tiny
    with pytest.raises(AvnbError, match="no config 'sym90'"):
        ClipDataset(folder, "sym90", "train", media)
    with pytest.raises(AvnbError, match="split 'val' does not exist"):
        ClipDataset(folder, "clean", "val", media)
    with pytest.raises(AvnbError, match="mode 'test' is unknown"):
        ClipDataset(folder, "clean", "test", media, mode="test")
