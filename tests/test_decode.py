"""Video decoding: frame choice by time, one pass for all views, short / VFR / odd-size / broken files."""

from pathlib import Path

import av
import numpy as np
import pytest
import torch
from mediagen import make_counter_video, make_video

from avnoisebench.media import decode as decode_module
from avnoisebench.media.decode import (
    ClipSampling,
    decode_eval_views,
    decode_train_clip,
    frame_index,
    normalize_video,
    open_video,
)
from avnoisebench.media.probe import MediaError

BACKENDS = ["decord", "pyav"]
SMALL = ClipSampling(num_frames=4, stride=0.25, num_views=5, short_side=48, crop=40)


def reference(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every frame's timestamp and mean RGB value, decoded sequentially with PyAV."""
    with av.open(str(path)) as container:
        frames = [(f.time, f.to_ndarray(format="rgb24").mean()) for f in container.decode(video=0)]
    return np.array([t for t, _ in frames]), np.array([m for _, m in frames])


def view_means(views: torch.Tensor) -> np.ndarray:
    """Mean value of each frame of each view: (V, T)."""
    return views.float().mean(dim=(1, 3, 4)).numpy()


def test_view_starts_formula() -> None:
    sampling = ClipSampling()
    assert sampling.span == 2.0
    assert np.allclose(sampling.view_starts(10.0), np.arange(10) * 8.0 / 9)
    assert np.allclose(sampling.view_starts(1.5), 0.0)
    assert np.allclose(ClipSampling(num_views=1).view_starts(10.0), [4.0])
    assert np.allclose(sampling.frame_times(np.array([1.0]))[0], 1.0 + (np.arange(8) + 0.5) * 0.25)


def test_frame_index_takes_the_frame_shown_at_each_time() -> None:
    stamps = np.array([0.0, 0.1, 0.2, 0.5])
    assert frame_index(stamps, np.array([-1.0, 0.0, 0.15, 0.49, 0.5, 9.0])).tolist() == [0, 0, 1, 2, 3, 3]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("vfr", [False, True])
def test_eval_views_pick_the_frames_of_the_formula(tmp_path: Path, backend: str, vfr: bool) -> None:
    path = make_counter_video(tmp_path / "counter.mp4", seconds=4, fps=10, vfr=vfr)
    stamps, means = reference(path)
    views, centres = decode_eval_views(path, SMALL, backend)
    assert views.shape == (5, 3, 4, 40, 40) and views.dtype == torch.uint8
    with open_video(path, backend) as video:
        duration = video.duration
    starts = SMALL.view_starts(duration)
    assert np.allclose(centres, starts + 0.5)
    expected = means[frame_index(stamps, SMALL.frame_times(starts).ravel())].reshape(5, 4)
    assert np.allclose(view_means(views), expected, atol=1.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_video_shorter_than_a_clip_repeats_its_last_frame(tmp_path: Path, backend: str) -> None:
    path = make_counter_video(tmp_path / "short.mp4", seconds=0.5, fps=10)
    _, means = reference(path)
    views, _ = decode_eval_views(path, ClipSampling(num_frames=8, stride=0.25, num_views=3, short_side=48, crop=40))
    got = view_means(views)
    assert np.allclose(got, got[0])
    assert np.allclose(got[0, -6:], means[-1], atol=1.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_all_views_come_from_one_decoding_pass(tmp_path: Path, backend: str, monkeypatch) -> None:
    path = make_counter_video(tmp_path / "counter.mp4", seconds=4, fps=10)
    opened, reads = [], []
    real_open = decode_module.open_video

    def counting_open(*args, **kwargs):
        opened.append(1)
        return real_open(*args, **kwargs)

    for cls in (decode_module._DecordVideo, decode_module._PyAVVideo):
        real = cls.frames_at
        monkeypatch.setattr(
            cls, "frames_at", lambda self, times, real=real: reads.append(len(times)) or real(self, times)
        )
    monkeypatch.setattr(decode_module, "open_video", counting_open)
    decode_module.decode_eval_views(path, ClipSampling(), backend)
    assert opened == [1] and reads == [80]


@pytest.mark.parametrize("backend", BACKENDS)
def test_train_clips_follow_the_generator(tmp_path: Path, backend: str) -> None:
    path = make_video(tmp_path / "v.mp4", seconds=4, size="97x55", pix_fmt="yuv444p")
    first, centre = decode_train_clip(path, ClipSampling(), np.random.default_rng(3), backend)
    again, same_centre = decode_train_clip(path, ClipSampling(), np.random.default_rng(3), backend)
    assert first.shape == (3, 8, 112, 112) and torch.equal(first, again) and centre == same_centre
    others = [decode_train_clip(path, ClipSampling(), np.random.default_rng(s), backend)[1] for s in range(5)]
    assert len(set(others)) > 1 and all(1.0 <= c <= 3.0 for c in others)


def test_decord_and_pyav_agree(tmp_path: Path) -> None:
    path = make_video(tmp_path / "v.mp4", seconds=3)
    a, ca = decode_eval_views(path, SMALL, "decord")
    b, cb = decode_eval_views(path, SMALL, "pyav")
    assert np.allclose(ca, cb, atol=0.05)
    assert (a.float() - b.float()).abs().mean() < 2.0


@pytest.mark.parametrize("backend", ["auto", *BACKENDS])
def test_broken_and_missing_files_raise_media_errors(tmp_path: Path, backend: str) -> None:
    good = make_video(tmp_path / "good.mp4", seconds=3)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(0).bytes(5000))
    for path in (truncated, noise):
        with pytest.raises(MediaError) as info:
            decode_eval_views(path, SMALL, backend)
        assert info.value.category == "corrupt"
    with pytest.raises(MediaError) as info:
        decode_eval_views(tmp_path / "absent.mp4", SMALL, backend)
    assert info.value.category == "missing"


def test_unknown_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown video backend"):
        decode_eval_views(make_video(tmp_path / "v.mp4"), SMALL, "opencv")


def test_normalisation_uses_the_video_preset() -> None:
    clip = torch.full((3, 2, 4, 4), 255, dtype=torch.uint8)
    out = normalize_video(clip)
    assert torch.allclose(
        out[:, 0, 0, 0], (1 - torch.tensor(decode_module.VIDEO_MEAN)) / torch.tensor(decode_module.VIDEO_STD)
    )


@pytest.mark.parametrize(
    "name",
    [
        "flipping_a_pancake.mkv",
        "ucf_apply_eye_makeup.avi",
        "v_GGSY1Qvo990.mp4",
        "v_ZNVhz7ctTq0.mp4",
        "no_audio_demo.mp4",
    ],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_real_files_decode(name: str, backend: str) -> None:
    from conftest import shared

    views, centres = decode_eval_views(shared("media") / name, ClipSampling(), backend)
    assert views.shape == (10, 3, 8, 112, 112)
    assert centres[0] == pytest.approx(1.0) and np.all(np.diff(centres) > 0)
    assert views.float().std() > 10
