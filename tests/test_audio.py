"""Audio: decoding to mono 32 kHz, centred windows, and log-mel equal to librosa's."""

from pathlib import Path

import librosa
import numpy as np
import pytest
import torch
from mediagen import make_video

from avnoisebench.media.audio import (
    LogMelConfig,
    Waveform,
    aligned_window,
    audio_features,
    load_waveform,
    log_mel,
    mel_power,
)
from avnoisebench.media.probe import MediaError


def librosa_mel(y: np.ndarray) -> np.ndarray:
    return librosa.feature.melspectrogram(
        y=y.astype(np.float64),
        sr=32000,
        n_fft=1024,
        hop_length=320,
        window="hann",
        center=True,
        pad_mode="reflect",
        power=2.0,
        n_mels=64,
        fmin=50,
        fmax=14000,
    )


def test_log_mel_matches_librosa() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(64000) / 32000
    y = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(64000)).astype(np.float32)
    reference = librosa_mel(y)
    ours = mel_power(y).numpy()
    assert ours.shape == reference.shape == (64, 201)
    assert np.max(np.abs(ours - reference) / np.abs(reference)) < 1e-4
    db = librosa.power_to_db(reference, ref=1.0, amin=1e-10, top_db=None).T
    assert np.max(np.abs(log_mel(y).numpy() - db) / np.abs(db)) < 1e-4


def test_window_is_centred_moved_inside_the_recording_and_padded_only_when_short() -> None:
    wave = Waveform(np.arange(1, 11, dtype=np.float32), sample_rate=2, has_audio=True)
    assert aligned_window(wave, 2.5, 2.0).tolist() == [4, 5, 6, 7]
    assert aligned_window(wave, 0.5, 2.0).tolist() == [1, 2, 3, 4]  # moved inside: no silence before the start
    assert aligned_window(wave, 4.5, 2.0).tolist() == [7, 8, 9, 10]
    assert aligned_window(wave, 40.0, 2.0).tolist() == [0, 0, 0, 0]  # a centre past the end hears nothing
    short = Waveform(np.arange(1, 4, dtype=np.float32), sample_rate=2, has_audio=True)
    assert aligned_window(short, 0.75, 2.0).tolist() == [1, 2, 3, 0]  # shorter than the window: padded


def test_decodes_to_mono_at_the_configured_rate(tmp_path: Path) -> None:
    path = make_video(tmp_path / "tone.mp4", seconds=3, tone=1000)
    wave = load_waveform(path, 32000)
    assert wave.has_audio and abs(len(wave.samples) / 32000 - 3.0) < 0.05
    segment = wave.samples[8000:40000]
    peak_hz = np.argmax(np.abs(np.fft.rfft(segment))) * 32000 / len(segment)
    assert abs(peak_hz - 1000) < 5


def test_features_of_windows_and_silence_without_audio(tmp_path: Path) -> None:
    with_audio = make_video(tmp_path / "a.mp4", seconds=3)
    features, has_audio = audio_features(with_audio, np.array([0.0, 1.0, 3.0]))
    assert features.shape == (3, 201, 64) and has_audio
    assert torch.equal(features[0], features[1])  # the window at the start moves inside: both hear seconds 0-2
    assert features[2].mean() > -90  # nor is the one at the end padded with silence
    silent, has_audio = audio_features(make_video(tmp_path / "s.mp4", seconds=3, audio=False), np.array([1.5]))
    assert not has_audio and np.allclose(silent.numpy(), -100.0)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(MediaError) as info:
        load_waveform(tmp_path / "absent.wav", 32000)
    assert info.value.category == "missing"
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    with pytest.raises(MediaError) as info:
        load_waveform(broken, 32000)
    assert info.value.category == "corrupt"


def test_config_shapes() -> None:
    config = LogMelConfig()
    assert (config.window_samples, config.num_frames) == (64000, 201)
