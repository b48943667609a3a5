"""Weight-free audio-visual sync on 1-D per-frame signals (SyncNet's protocol without SyncNet's weights).

A video track (mouth opening per frame) and an audio track (RMS envelope per frame, band-passed 2-7 Hz, the
syllable rate of speech) are compared by normalised cross-correlation over lags ``-max_lag .. +max_lag`` frames.

Sign convention (used everywhere in :mod:`talkgen.eval`): ``offset > 0`` means the **audio lags the video** by
``offset`` frames, i.e. a sound is heard ``offset`` frames after the mouth makes it. Delaying the audio track of a
synced clip by 5 frames gives ``offset == 5``; advancing the audio by ``offset`` frames fixes the clip.
Formally ``corr[k] = pearson(video[t], audio[t + k])`` over the frames where both exist, ``offset = argmax_k``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import signal as sps

DEFAULT_BAND_HZ = (2.0, 7.0)
DEFAULT_MAX_LAG = 15


def rms_envelope(waveform: np.ndarray, sample_rate: int, fps: float, num_frames: int | None = None) -> np.ndarray:
    """RMS of the waveform over each video frame's time span ``[t / fps, (t + 1) / fps)``.

    Args:
        waveform: float (N,) mono samples.
        sample_rate: samples per second of ``waveform``.
        fps: video frame rate.
        num_frames: frames to produce; defaults to ``ceil(N / sample_rate * fps)``. Frames past the end of the
            audio get 0 (silence).

    Returns:
        float64 (num_frames,) RMS per frame.
    """
    wav = np.asarray(waveform, dtype=np.float64).reshape(-1)
    if sample_rate <= 0 or fps <= 0:
        raise ValueError(f"sample_rate and fps must be positive (got {sample_rate}, {fps})")
    if num_frames is None:
        num_frames = int(np.ceil(len(wav) / sample_rate * fps))
    edges = np.round(np.arange(num_frames + 1) * (sample_rate / fps)).astype(np.int64)
    edges = np.clip(edges, 0, len(wav))
    csum = np.concatenate([[0.0], np.cumsum(wav * wav)])
    counts = np.diff(edges)
    energy = csum[edges[1:]] - csum[edges[:-1]]
    out = np.zeros(num_frames, dtype=np.float64)
    ok = counts > 0
    out[ok] = np.sqrt(np.maximum(energy[ok], 0.0) / counts[ok])
    return out


def bandpass(x: np.ndarray, fps: float, band: tuple[float, float] = DEFAULT_BAND_HZ, order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth band-pass of a per-frame signal (no lag is introduced).

    The upper edge is clipped to 0.9 x Nyquist for low frame rates. NaNs are linearly interpolated first.

    Args:
        x: float (T,) signal sampled at ``fps``.
        fps: sample rate of ``x`` (the video frame rate).
        band: ``(low, high)`` pass band in Hz.
        order: filter order (applied forwards and backwards, so the effective order doubles).

    Returns:
        float64 (T,) filtered signal (the mean removed when the signal is too short to filter).
    """
    x = fill_nan(np.asarray(x, dtype=np.float64).reshape(-1))
    low, high = band
    nyq = fps / 2.0
    high = min(high, 0.9 * nyq)
    if not 0 < low < high:
        raise ValueError(f"band {band} is empty at {fps} fps")
    sos = sps.butter(order, [low / nyq, high / nyq], btype="bandpass", output="sos")
    padlen = min(3 * (2 * len(sos) + 1), len(x) - 1)
    if len(x) < 8:
        return x - x.mean() if len(x) else x
    return sps.sosfiltfilt(sos, x - x.mean(), padlen=max(padlen, 0))


def fill_nan(x: np.ndarray) -> np.ndarray:
    """Linearly interpolate NaNs of a 1-D signal (edges held); all-NaN becomes zeros. Returns float64 (T,)."""
    x = np.asarray(x, dtype=np.float64).copy()
    bad = ~np.isfinite(x)
    if bad.all():
        return np.zeros_like(x)
    if bad.any():
        idx = np.arange(len(x))
        x[bad] = np.interp(idx[bad], idx[~bad], x[~bad])
    return x


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equal-length 1-D arrays; 0.0 when either is constant or shorter than 3."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if len(a) != len(b):
        raise ValueError(f"length mismatch: {len(a)} vs {len(b)}")
    if len(a) < 3:
        return 0.0
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 1e-12 else 0.0


def lagged_correlation(video: np.ndarray, audio: np.ndarray, max_lag: int = DEFAULT_MAX_LAG) -> np.ndarray:
    """Normalised cross-correlation ``corr[k] = pearson(video[t], audio[t + k])`` for ``k = -max_lag..max_lag``.

    Args:
        video: float (T,) per-frame video signal (mouth opening).
        audio: float (T,) per-frame audio signal (envelope), same frame rate and length.
        max_lag: largest lag in frames.

    Returns:
        float64 (2 * max_lag + 1,) correlations; index ``i`` is lag ``i - max_lag``.
    """
    video = np.asarray(video, dtype=np.float64).reshape(-1)
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    if len(video) != len(audio):
        raise ValueError(f"video and audio tracks differ in length ({len(video)} vs {len(audio)} frames)")
    if max_lag < 0:
        raise ValueError(f"max_lag must be >= 0 (got {max_lag})")
    n = len(video)
    out = np.zeros(2 * max_lag + 1, dtype=np.float64)
    for i, k in enumerate(range(-max_lag, max_lag + 1)):
        if k >= 0:
            out[i] = pearson(video[: n - k], audio[k:]) if n - k >= 3 else 0.0
        else:
            out[i] = pearson(video[-k:], audio[: n + k]) if n + k >= 3 else 0.0
    return out


@dataclass
class SyncResult:
    """Outcome of :func:`sync_tracks`.

    Attributes:
        offset: best lag in frames; ``> 0`` means the audio lags the video (see the module docstring).
        confidence: ``max(corr) - median(corr)`` over all lags (SyncNet's confidence on correlations).
        correlation: correlation at the best lag.
        correlation_at_zero: correlation at lag 0.
        fps: frame rate of the tracks.
        lags: int64 (L,) lags in frames, ``L = 2 * max_lag + 1``.
        correlations: float64 (L,) correlation per lag.
        window_starts: int64 (W,) first frame of each sliding window.
        window_correlation: float64 (W,) correlation inside each window at the global ``offset``.
        window_offsets: int64 (W,) best lag inside each window.
        video_track: float64 (T,) the (band-passed) video signal that was compared.
        audio_track: float64 (T,) the (band-passed) audio signal that was compared.
    """

    offset: int
    confidence: float
    correlation: float
    correlation_at_zero: float
    fps: float
    lags: np.ndarray
    correlations: np.ndarray
    window_starts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    window_correlation: np.ndarray = field(default_factory=lambda: np.zeros(0))
    window_offsets: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    video_track: np.ndarray = field(default_factory=lambda: np.zeros(0))
    audio_track: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def offset_seconds(self) -> float:
        """The offset in seconds (same sign convention)."""
        return self.offset / self.fps

    def to_dict(self, include_tracks: bool = False) -> dict:
        """JSON-ready summary (lists instead of arrays); tracks only when ``include_tracks``."""
        out = {
            "offset_frames": int(self.offset),
            "offset_seconds": round(self.offset_seconds, 4),
            "offset_sign": "positive = audio lags video",
            "confidence": round(float(self.confidence), 4),
            "correlation": round(float(self.correlation), 4),
            "correlation_at_zero": round(float(self.correlation_at_zero), 4),
            "fps": float(self.fps),
            "lags": [int(v) for v in self.lags],
            "correlations": [round(float(v), 4) for v in self.correlations],
            "windows": [
                {"start_frame": int(s), "correlation": round(float(c), 4), "offset": int(o)}
                for s, c, o in zip(self.window_starts, self.window_correlation, self.window_offsets, strict=True)
            ],
        }
        if include_tracks:
            out["video_track"] = [round(float(v), 5) for v in self.video_track]
            out["audio_track"] = [round(float(v), 5) for v in self.audio_track]
        return out


def _at_lag(video: np.ndarray, audio: np.ndarray, k: int) -> float:
    n = len(video)
    if k >= 0:
        return pearson(video[: n - k], audio[k:]) if n - k >= 3 else 0.0
    return pearson(video[-k:], audio[: n + k]) if n + k >= 3 else 0.0


def sync_tracks(
    video: np.ndarray,
    audio: np.ndarray,
    fps: float,
    *,
    max_lag: int = DEFAULT_MAX_LAG,
    band: tuple[float, float] | None = DEFAULT_BAND_HZ,
    window_seconds: float = 2.0,
    hop_seconds: float = 0.5,
) -> SyncResult:
    """Sync between a per-frame video signal and a per-frame audio signal.

    Both tracks are band-passed with the same zero-phase filter (``band=None`` skips it), then compared by
    :func:`lagged_correlation`. A per-window curve (``window_seconds`` long, every ``hop_seconds``) gives the
    correlation at the global offset and the local best lag.

    Args:
        video: float (T,) mouth opening per frame (NaN = no face; interpolated).
        audio: float (T,) audio envelope per frame.
        fps: frame rate of both tracks.
        max_lag: lags searched, in frames, each side.
        band: pass band in Hz, or None.
        window_seconds: window length of the per-window curve.
        hop_seconds: window hop of the per-window curve.

    Returns:
        A :class:`SyncResult`.
    """
    video = fill_nan(np.asarray(video, dtype=np.float64).reshape(-1))
    audio = fill_nan(np.asarray(audio, dtype=np.float64).reshape(-1))
    if len(video) != len(audio):
        raise ValueError(f"video and audio tracks differ in length ({len(video)} vs {len(audio)} frames)")
    if band is not None:
        video = bandpass(video, fps, band)
        audio = bandpass(audio, fps, band)
    corr = lagged_correlation(video, audio, max_lag)
    lags = np.arange(-max_lag, max_lag + 1, dtype=np.int64)
    best = int(np.argmax(corr))
    offset = int(lags[best])

    win = max(int(round(window_seconds * fps)), 2 * max_lag + 3, 8)
    hop = max(int(round(hop_seconds * fps)), 1)
    starts = np.arange(0, max(len(video) - win, 0) + 1, hop, dtype=np.int64) if len(video) >= win else np.zeros(0)
    starts = starts.astype(np.int64)
    wcorr = np.zeros(len(starts))
    woff = np.zeros(len(starts), dtype=np.int64)
    for i, s in enumerate(starts):
        v, a = video[s : s + win], audio[s : s + win]
        wcorr[i] = _at_lag(v, a, offset)
        woff[i] = int(lags[int(np.argmax(lagged_correlation(v, a, max_lag)))])
    return SyncResult(
        offset=offset,
        confidence=float(corr[best] - np.median(corr)),
        correlation=float(corr[best]),
        correlation_at_zero=float(corr[max_lag]),
        fps=float(fps),
        lags=lags,
        correlations=corr,
        window_starts=starts,
        window_correlation=wcorr,
        window_offsets=woff,
        video_track=video,
        audio_track=audio,
    )


def shift_track(x: np.ndarray, frames: int, fill: float | None = None) -> np.ndarray:
    """Delay (``frames > 0``) or advance (``< 0``) a per-frame array along axis 0, keeping its length.

    Vacated frames take ``fill`` (default: the edge value). Returns a new array of the same shape and dtype.
    """
    x = np.asarray(x)
    out = np.empty_like(x)
    n = len(x)
    k = int(np.clip(frames, -n, n))
    if k >= 0:
        out[k:] = x[: n - k]
        out[:k] = x[0] if fill is None and n else (fill if fill is not None else 0)
    else:
        out[: n + k] = x[-k:]
        out[n + k :] = x[-1] if fill is None and n else (fill if fill is not None else 0)
    return out


def shift_audio(waveform: np.ndarray, seconds: float, sample_rate: int) -> np.ndarray:
    """Delay (``seconds > 0``) or advance a waveform by zero-padding, keeping its length. Returns float32 (N,)."""
    wav = np.asarray(waveform, dtype=np.float32).reshape(-1)
    return shift_track(wav, int(round(seconds * sample_rate)), fill=0.0)


def shuffle_segments(x: np.ndarray, segment: int, rng: np.random.Generator) -> np.ndarray:
    """Cut a per-frame (or per-sample) array into ``segment``-long pieces along axis 0 and permute them.

    Used for the floor row: the same media with its audio (or its reference track) scrambled so that any
    correlation left is chance. Returns a new array of the same shape.
    """
    x = np.asarray(x)
    if segment <= 0:
        raise ValueError(f"segment must be positive (got {segment})")
    pieces = [x[i : i + segment] for i in range(0, len(x), segment)]
    if len(pieces) < 2:
        return x.copy()
    order = rng.permutation(len(pieces))
    # avoid the identity permutation (and keep any piece from staying in place where possible)
    for _ in range(10):
        if not np.any(order == np.arange(len(pieces))):
            break
        order = rng.permutation(len(pieces))
    return np.concatenate([pieces[i] for i in order], axis=0)
