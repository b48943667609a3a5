"""Audio file I/O: load any speech source as mono float32 at a chosen rate, normalise loudness, save wav.

Audio files (wav, flac, ogg, mp3) are read with soundfile (libsndfile) and resampled with librosa (soxr).
Video files and any audio libsndfile cannot read go through :func:`talkgen.media.probe` (limits, allowlist,
playlist refusal) and a bundled-ffmpeg pipe ``-ac 1 -ar RATE -f f32le``: moviepy is not used because it reads
16 kHz audio as silence, and librosa cannot read mp4.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np

from talkgen import SPEECH_RATE
from talkgen.errors import MediaError
from talkgen.fs import atomic_path
from talkgen.media._ffmpeg import FfmpegStream, error_lines, ffmpeg_command
from talkgen.media.limits import DEFAULT_LIMITS, MediaLimits
from talkgen.media.sniff import demuxer_options, sniff

logger = logging.getLogger(__name__)

_SOUNDFILE_FORMATS = {"wav", "flac", "ogg", "mp3"}


def rms_dbfs(waveform: np.ndarray) -> float:
    """Root-mean-square level of ``waveform`` (any shape) in dB relative to full scale; ``-inf`` for silence."""
    x = np.asarray(waveform, dtype=np.float64)
    rms = math.sqrt(float(np.mean(x * x))) if x.size else 0.0
    return 20.0 * math.log10(rms) if rms > 0 else -math.inf


def normalize_loudness(
    waveform: np.ndarray, target_dbfs: float = -20.0, peak_dbfs: float = -1.0, silence_dbfs: float = -70.0
) -> np.ndarray:
    """Scale ``waveform`` so its RMS level is ``target_dbfs``, never letting its peak exceed ``peak_dbfs``.

    Args:
        waveform: float samples, ``(N,)`` or ``(N, C)``.
        target_dbfs: desired RMS level (dBFS).
        peak_dbfs: ceiling for the absolute peak after scaling (clipping-safe: the gain is reduced to respect it).
        silence_dbfs: inputs quieter than this are returned unchanged (no amplified noise floor).

    Returns:
        float32 array with the same shape.
    """
    if target_dbfs > 0 or peak_dbfs > 0:
        raise ValueError(f"target_dbfs and peak_dbfs must be <= 0 dBFS, got {target_dbfs}, {peak_dbfs}")
    x = np.asarray(waveform, dtype=np.float32)
    level = rms_dbfs(x)
    if level < silence_dbfs:
        return x.copy()
    gain = 10.0 ** ((target_dbfs - level) / 20.0)
    peak = float(np.max(np.abs(x)))
    ceiling = 10.0 ** (peak_dbfs / 20.0)
    if peak * gain > ceiling:
        gain = ceiling / peak
    return (x * gain).astype(np.float32)


def resample(waveform: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample ``(N,)`` or ``(N, C)`` float audio from ``orig_sr`` to ``target_sr`` (soxr high quality)."""
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    x = np.asarray(waveform, dtype=np.float32)
    if orig_sr == target_sr:
        return x
    import librosa

    return librosa.resample(x, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq", axis=0).astype(np.float32)


def _read_soundfile(path: Path, limits: MediaLimits) -> tuple[np.ndarray, int] | None:
    """Read with libsndfile after checking the duration limit; ``None`` if libsndfile cannot open the file."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError):
        return None
    if info.samplerate <= 0 or info.frames < 0:
        return None
    duration = info.frames / info.samplerate
    if duration > limits.max_duration:
        raise MediaError(
            f"{path}: duration {duration:.2f} s exceeds the limit of {limits.max_duration:g} s (max_duration)"
        )
    if info.channels > limits.max_streams * 8:
        raise MediaError(f"{path}: {info.channels} audio channels is implausible; refusing")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise MediaError(f"{path}: could not be decoded (truncated or corrupt?): {exc}") from None
    if data.shape[0] == 0:
        raise MediaError(f"{path}: contains no audio samples")
    return data.mean(axis=1), int(sr)


def _read_ffmpeg(path: Path, sample_rate: int, limits: MediaLimits) -> np.ndarray:
    """Decode the first audio stream of any allowed media file to mono float32 at ``sample_rate``."""
    from talkgen.media.probe import probe

    info = probe(path, limits)
    stream = info.audio
    if stream is None:
        raise MediaError(f"{path}: has no audio track")
    cap = int(limits.max_duration * sample_rate) + sample_rate
    outputs = ["-map", f"0:{stream.index}", "-vn", "-ac", "1", "-ar", str(sample_rate), "-loglevel", "error"]
    cmd = ffmpeg_command([(demuxer_options(info.demuxer), str(path))], [*outputs, "-nostats", "-f", "f32le", "pipe:1"])
    with FfmpegStream(cmd, timeout=limits.decode_timeout, what=str(path)) as proc:
        raw = proc.read_exact(4 * (cap + 1))
        if len(raw) > 4 * cap:
            raise MediaError(f"{path}: more than {limits.max_duration:g} s of audio while decoding (max_duration)")
        rc, stderr = proc.finish()
    if rc != 0:
        raise MediaError(f"{path}: audio decoding failed (ffmpeg exit {rc}): {error_lines(stderr) or 'no details'}")
    samples = np.frombuffer(raw[: len(raw) // 4 * 4], dtype="<f4").astype(np.float32)
    if samples.size == 0:
        raise MediaError(f"{path}: the audio track decoded to no samples (truncated or corrupt?)")
    return samples


def load_audio(
    path: str | os.PathLike[str],
    sample_rate: int = SPEECH_RATE,
    *,
    limits: MediaLimits | None = None,
    loudness_dbfs: float | None = None,
) -> np.ndarray:
    """Load speech from an audio file or a video's audio track as mono float32 at ``sample_rate``.

    Args:
        path: wav, flac, ogg or mp3 file (libsndfile), or any allowed media file with an audio track (mp4,
            mkv/webm, avi...; read through a bundled-ffmpeg pipe).
        sample_rate: output rate in Hz.
        limits: media limits (bytes, duration, container allowlist...); :data:`DEFAULT_LIMITS` when ``None``.
        loudness_dbfs: if given, normalise the RMS level to this many dBFS (clipping-safe, see
            :func:`normalize_loudness`).

    Returns:
        float32 array ``(N,)``, channels averaged to mono.

    Raises:
        MediaError: missing, refused, oversized, too long, truncated or track-less files, or samples that are
            NaN or infinite (float wav/flac).
    """
    if not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive int, got {sample_rate!r}")
    limits = limits or DEFAULT_LIMITS
    p, _, sniffed = sniff(path, limits)
    read = _read_soundfile(p, limits) if sniffed.format in _SOUNDFILE_FORMATS else None
    if read is not None:
        if not np.isfinite(read[0]).all():
            bad = int((~np.isfinite(read[0])).sum())
            raise MediaError(
                f"{p}: {bad} audio samples are NaN or infinite (a float file written from broken data); re-export"
                " the audio as 16-bit PCM or fix the samples"
            )
        wave = resample(read[0], read[1], sample_rate)
    else:
        wave = _read_ffmpeg(p, sample_rate, limits)
    if loudness_dbfs is not None:
        wave = normalize_loudness(wave, loudness_dbfs)
    return np.ascontiguousarray(wave, dtype=np.float32)


def save_wav(path: str | os.PathLike[str], waveform: np.ndarray, sample_rate: int, *, subtype: str = "PCM_16") -> Path:
    """Write ``waveform`` (``(N,)`` or ``(N, C)`` float in [-1, 1]) as a wav file, atomically.

    Samples are clipped to [-1, 1] before quantisation. ``subtype`` is a libsndfile subtype (``"PCM_16"``,
    ``"PCM_24"``, ``"FLOAT"``).

    Raises:
        ValueError: malformed waveform or sample rate. Missing parent directories are created.
    """
    import soundfile as sf

    out = Path(path)
    if not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive int, got {sample_rate!r}")
    x = np.asarray(waveform, dtype=np.float32)
    if x.ndim not in (1, 2) or x.shape[0] == 0:
        raise ValueError(f"waveform must be (N,) or (N, C) with N > 0, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("waveform contains NaN or infinite values")
    with atomic_path(out, suffix=".part") as tmp:
        sf.write(str(tmp), np.clip(x, -1.0, 1.0), sample_rate, subtype=subtype, format="WAV")
    return out
