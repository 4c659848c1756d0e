"""Audio windows and log-mel spectrograms with PANNs' constants (torch.stft + librosa's mel filters)."""

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from avnoisebench.dataset.decoding import LogMelConfig
from avnoisebench.media.probe import MediaError, require_complete
from avnoisebench.media.tools import tool_path


@dataclass(frozen=True)
class Waveform:
    """A mono waveform at a known rate; `has_audio` is False when the file had no audio stream (silence)."""

    samples: np.ndarray
    sample_rate: int
    has_audio: bool


def load_waveform(path: Path, sample_rate: int) -> Waveform:
    """Decode a file's first audio stream to mono float32 at `sample_rate`; silence if it has no audio stream;
    MediaError('truncated') when the samples end well before the stream's header duration."""
    import av

    if not path.is_file():
        raise MediaError("missing", path, "file does not exist")
    claimed = None
    try:
        with av.open(tool_path(path)) as container:
            if not container.streams.audio:
                return Waveform(np.zeros(0, dtype=np.float32), sample_rate, has_audio=False)
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                claimed = float(stream.duration * stream.time_base)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            chunks = [
                out.to_ndarray().reshape(-1) for frame in container.decode(stream) for out in resampler.resample(frame)
            ]
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    except av.error.FFmpegError as exc:
        raise MediaError("corrupt", path, f"cannot decode audio ({exc})") from exc
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    if claimed is not None:
        require_complete(path, len(samples) / sample_rate, claimed, "the audio")
    return Waveform(samples.astype(np.float32, copy=False), sample_rate, has_audio=True)


def aligned_window(waveform: Waveform, centre: float, seconds: float) -> np.ndarray:
    """The `seconds`-long window centred on `centre` (seconds), moved inside the recording where it would reach past
    an end (the window nearest the clip that holds only sound); zero-padded only where the recording is shorter than
    the window, or where the centre lies past its end."""
    length = round(seconds * waveform.sample_rate)
    start = round(centre * waveform.sample_rate) - length // 2
    if 0 <= round(centre * waveform.sample_rate) <= len(waveform.samples) and len(waveform.samples) >= length:
        start = min(max(start, 0), len(waveform.samples) - length)
    window = np.zeros(length, dtype=np.float32)
    lo, hi = max(start, 0), min(start + length, len(waveform.samples))
    if hi > lo:
        window[lo - start : hi - start] = waveform.samples[lo:hi]
    return window


@lru_cache(maxsize=8)
def _mel_basis(config: LogMelConfig) -> torch.Tensor:
    import librosa

    basis = librosa.filters.mel(
        sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax
    )
    return torch.from_numpy(basis).double()


def mel_power(windows: np.ndarray | torch.Tensor, config: LogMelConfig = LogMelConfig()) -> torch.Tensor:
    """Mel power spectrogram (float64, (..., n_mels, frames)) of waveform windows (..., samples)."""
    audio = torch.as_tensor(windows, dtype=torch.float64)
    spectrum = torch.stft(
        audio.reshape(-1, audio.shape[-1]),
        n_fft=config.n_fft,
        hop_length=config.hop,
        window=torch.hann_window(config.n_fft, dtype=torch.float64),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    mel = torch.matmul(_mel_basis(config), spectrum.abs() ** 2)
    return mel.reshape(*audio.shape[:-1], *mel.shape[-2:])


def log_mel(windows: np.ndarray | torch.Tensor, config: LogMelConfig = LogMelConfig()) -> torch.Tensor:
    """Log-mel power in dB (ref 1, amin 1e-10, no top_db) of waveform windows -> float32 (..., frames, n_mels)."""
    mel = mel_power(windows, config)
    db = 10.0 * torch.log10(torch.clamp(mel, min=config.amin)) - 10.0 * np.log10(max(config.amin, config.ref))
    return db.transpose(-1, -2).float()


def audio_features(path: Path, centres: np.ndarray, config: LogMelConfig = LogMelConfig()) -> tuple[torch.Tensor, bool]:
    """Log-mel (len(centres), frames, n_mels) of the windows aligned on `centres` (see aligned_window), and whether
    audio was present."""
    waveform = load_waveform(path, config.sample_rate)
    windows = np.stack([aligned_window(waveform, float(c), config.window_seconds) for c in centres])
    return log_mel(windows, config), waveform.has_audio
