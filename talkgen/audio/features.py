"""Audio features and their alignment to the video frame rate.

``log_mel`` is Whisper's front end (80 mel bins, 16 kHz input, 10 ms hop = 100 Hz). ``align_to_fps`` is the one
function that maps any feature rate onto any video frame rate; the frame rate is always a parameter.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from talkgen import SPEECH_RATE

WHISPER_HOP = 160
WHISPER_N_FFT = 400
LOG_MEL_RATE = SPEECH_RATE / WHISPER_HOP  # 100 feature frames per second


def log_mel(waveform: np.ndarray | torch.Tensor, sample_rate: int = SPEECH_RATE, n_mels: int = 80) -> torch.Tensor:
    """Whisper log-mel spectrogram of a mono waveform.

    Args:
        waveform: (N,) float samples in [-1, 1] at ``sample_rate`` (must be 16 kHz; resample first).
        sample_rate: rate of ``waveform``.
        n_mels: 80 or 128 (the bins Whisper ships filters for).

    Returns:
        (n_mels, N // 160) float32 tensor at 100 Hz, Whisper's scaling (roughly in [-1, 1.5]).
    """
    if sample_rate != SPEECH_RATE:
        raise ValueError(f"log_mel needs 16 kHz audio, got {sample_rate} Hz; resample with talkgen.audio.io.resample")
    if n_mels not in (80, 128):
        raise ValueError(f"n_mels must be 80 or 128 (Whisper's mel filters), got {n_mels}")
    audio = torch.as_tensor(waveform, dtype=torch.float32)
    if audio.ndim != 1:
        raise ValueError(f"log_mel expects a mono waveform of shape (N,), got {tuple(audio.shape)}")
    if audio.numel() <= WHISPER_N_FFT // 2:  # too short for the STFT's reflect padding (at most one frame)
        return torch.zeros(n_mels, audio.numel() // WHISPER_HOP)
    # Whisper's computation: power STFT (400-point Hann, hop 160, last frame dropped), Slaney mel filters,
    # log10 clamped at 1e-10, floored 8 below the peak, then scaled to (x + 4) / 4.
    window = torch.hann_window(WHISPER_N_FFT, device=audio.device)
    stft = torch.stft(audio, WHISPER_N_FFT, WHISPER_HOP, window=window, return_complex=True)
    power = stft[..., :-1].abs() ** 2
    log_spec = torch.clamp(_mel_filters(n_mels).to(audio.device) @ power, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


@functools.cache
def _mel_filters(n_mels: int) -> torch.Tensor:
    """(n_mels, 201) Slaney mel filter bank for 16 kHz and a 400-point FFT: the matrices Whisper ships."""
    import librosa

    return torch.from_numpy(librosa.filters.mel(sr=SPEECH_RATE, n_fft=WHISPER_N_FFT, n_mels=n_mels).astype(np.float32))


def num_video_frames(duration: float, fps: float) -> int:
    """Number of whole video frames that cover ``duration`` seconds at ``fps`` (rounded, at least 0)."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return max(0, int(math.floor(duration * fps + 0.5)))


def align_to_fps(
    features: torch.Tensor, feature_rate: float, fps: float, num_frames: int | None = None
) -> torch.Tensor:
    """Resample a feature sequence from ``feature_rate`` to the video frame rate ``fps``.

    Each output frame ``j`` covers the time span ``[j / fps, (j + 1) / fps)`` and is the time-weighted average of
    the features whose spans ``[k / feature_rate, (k + 1) / feature_rate)`` overlap it (exact area averaging: a
    down-sample averages, an up-sample repeats). Frames past the end of the features repeat the last feature, so
    the result always has ``num_frames`` frames.

    Args:
        features: (..., T_feat, C) features at ``feature_rate`` Hz.
        feature_rate: features per second (e.g. 50 for Wav2Vec2, 100 for log-mel).
        fps: video frames per second.
        num_frames: output length; default: ``round(T_feat * fps / feature_rate)``.

    Returns:
        (..., num_frames, C) tensor, same dtype as ``features``.
    """
    if feature_rate <= 0 or fps <= 0:
        raise ValueError(f"feature_rate and fps must be positive, got {feature_rate} and {fps}")
    if features.ndim < 2:
        raise ValueError(f"features must have shape (..., T, C), got {tuple(features.shape)}")
    t_feat = features.shape[-2]
    if num_frames is None:
        num_frames = num_video_frames(t_feat / feature_rate, fps)
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    if t_feat == 0:
        raise ValueError("cannot align an empty feature sequence (no audio)")
    x = features.to(torch.float64)
    # Pad with the last feature so that every frame span lies inside the integrated signal.
    end_time = num_frames / fps
    need = max(t_feat, int(math.ceil(end_time * feature_rate)) + 1)
    if need > t_feat:
        pad = x[..., -1:, :].expand(*x.shape[:-2], need - t_feat, x.shape[-1])
        x = torch.cat([x, pad], dim=-2)
    # Cumulative integral I(k / feature_rate) at the knots, in feature-seconds.
    zero = torch.zeros_like(x[..., :1, :])
    knots = torch.cat([zero, torch.cumsum(x, dim=-2) / feature_rate], dim=-2)  # (..., need + 1, C)

    def integral(t: torch.Tensor) -> torch.Tensor:
        pos = t * feature_rate
        k = torch.clamp(torch.floor(pos).long(), 0, need - 1)
        frac = (pos - k.to(pos.dtype)).unsqueeze(-1)  # (F, 1)
        return knots[..., k, :] + frac * x[..., k, :] / feature_rate

    edges = torch.arange(num_frames + 1, dtype=torch.float64, device=features.device) / fps
    values = integral(edges)
    out = (values[..., 1:, :] - values[..., :-1, :]) * fps
    return out.to(features.dtype)
