"""Signal metrics on constructed signals with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from talkgen.eval.signals import (
    bandpass,
    lagged_correlation,
    pearson,
    rms_envelope,
    shift_audio,
    shift_track,
    shuffle_segments,
    sync_tracks,
)

FPS = 25.0


def _syllables(n: int, seed: int) -> np.ndarray:
    """A random positive per-frame signal with energy in the 2-7 Hz band."""
    rng = np.random.default_rng(seed)
    x = rng.random(n) ** 2
    k = np.hanning(5)
    return np.convolve(x, k / k.sum(), mode="same")


def test_rms_envelope_of_known_bursts():
    sr = 1000
    wav = np.zeros(sr)  # 1 s
    wav[200:400] = 0.5  # frames 5..9 at 25 fps (40 samples a frame)
    wav[600:640] = np.where(np.arange(40) % 2 == 0, 1.0, -1.0)  # frame 15
    env = rms_envelope(wav, sr, FPS)
    assert env.shape == (25,)
    np.testing.assert_allclose(env[5:10], 0.5)
    assert env[15] == pytest.approx(1.0)
    assert env[:5].max() == 0 and env[10:15].max() == 0 and env[16:].max() == 0
    # padding past the end of the audio is silence
    assert rms_envelope(wav, sr, FPS, num_frames=30)[25:].max() == 0


def test_rms_envelope_non_integer_hop():
    sr = 16000
    wav = np.ones(sr, dtype=np.float32)
    env = rms_envelope(wav, sr, 29.97)
    assert len(env) == 30 and np.allclose(env[:29], 1.0)


def test_bandpass_keeps_band_and_rejects_outside():
    t = np.arange(500) / FPS
    inside = np.sin(2 * np.pi * 4.0 * t)
    slow = np.sin(2 * np.pi * 0.2 * t)
    fast = np.sin(2 * np.pi * 11.5 * t)
    out = bandpass(inside + slow + fast + 3.0, FPS)
    mid = slice(100, 400)
    assert pearson(out[mid], inside[mid]) > 0.97
    # zero phase: the 4 Hz component is not delayed
    assert int(np.argmax(lagged_correlation(out, inside, 5))) == 5


def test_lagged_correlation_sign_convention():
    x = _syllables(300, 0)
    audio_late = shift_track(x, 4)  # audio heard 4 frames after the mouth
    corr = lagged_correlation(x, audio_late, 10)
    assert corr.shape == (21,)
    assert int(np.argmax(corr)) - 10 == 4
    assert corr.max() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("shift", [0, 5, -7, 15, -15])
def test_sync_tracks_recovers_shift(shift):
    mouth = _syllables(400, 1)
    res = sync_tracks(mouth, shift_track(mouth, shift), FPS)
    assert res.offset == shift
    assert res.correlation > 0.95
    assert res.confidence > 0.5
    if shift == 0:
        assert res.correlation_at_zero == pytest.approx(res.correlation)
    else:
        assert res.correlation_at_zero < res.correlation - 0.2


def test_sync_tracks_unrelated_has_low_confidence():
    mouth = _syllables(2000, 2)
    rng = np.random.default_rng(3)
    res = sync_tracks(mouth, shuffle_segments(mouth, 25, rng), FPS)
    matched = sync_tracks(mouth, mouth, FPS)
    assert res.confidence < 0.15 < matched.confidence
    assert abs(res.correlation_at_zero) < 0.15


def test_sync_tracks_windows_and_nans():
    mouth = _syllables(250, 4)
    video = mouth.copy()
    video[40:50] = np.nan  # face lost for 10 frames
    res = sync_tracks(video, shift_track(mouth, 2), FPS, window_seconds=2.0, hop_seconds=1.0)
    assert res.offset == 2
    assert len(res.window_starts) == len(res.window_correlation) == len(res.window_offsets) == 9
    assert (res.window_offsets == 2).mean() >= 0.8
    assert np.isfinite(res.window_correlation).all()
    d = res.to_dict(include_tracks=True)
    assert d["offset_frames"] == 2 and len(d["correlations"]) == 31 and len(d["video_track"]) == 250


def test_sync_tracks_rejects_length_mismatch():
    with pytest.raises(ValueError, match="differ in length"):
        sync_tracks(np.zeros(10), np.zeros(11), FPS)


def test_shift_audio_and_track():
    wav = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(shift_audio(wav, 0.2, 10), [0, 0, 0, 1, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(shift_track(wav, -3), [3, 4, 5, 6, 7, 8, 9, 9, 9, 9])


def test_shuffle_segments_is_a_permutation_of_pieces():
    x = np.arange(100)
    y = shuffle_segments(x, 10, np.random.default_rng(0))
    assert sorted(y.tolist()) == x.tolist()
    assert not np.array_equal(x, y)
    # pieces stay contiguous
    assert all(np.all(np.diff(y[i : i + 10]) == 1) for i in range(0, 100, 10))
