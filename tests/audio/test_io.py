"""talkgen.audio.io: loading audio files and video audio tracks, resampling, loudness, saving wav."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import soundfile as sf

from talkgen.audio.io import load_audio, normalize_loudness, resample, rms_dbfs, save_wav
from talkgen.errors import MediaError
from talkgen.media import MediaLimits


def _sine(freq: float, seconds: float, sr: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[spectrum.argmax()])


def _ffmpeg(*args: str) -> None:
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args]
    subprocess.run(cmd, check=True, timeout=60)


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_load_audio_files_to_16k_mono(tmp_path: Path, fmt: str) -> None:
    sr = 44100
    left = _sine(440, 1.0, sr, 0.5)
    stereo = np.stack([left, 0.5 * left], axis=1)  # mono mix = 0.75 * left
    path = tmp_path / f"tone.{fmt}"
    sf.write(path, stereo, sr)  # libsndfile 1.2 writes all four, mp3 included
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) / 16000 == pytest.approx(1.0, abs=0.06)  # mp3 adds encoder padding
    assert _peak_hz(audio, 16000) == pytest.approx(440, abs=2)
    assert rms_dbfs(audio) == pytest.approx(rms_dbfs(0.75 * left), abs=0.8)


def test_load_audio_other_rate_and_loudness(tmp_path: Path) -> None:
    path = tmp_path / "quiet.wav"
    sf.write(path, _sine(300, 0.5, 16000, 0.01), 16000)
    audio = load_audio(path, 22050, loudness_dbfs=-20.0)
    assert len(audio) == 11025
    assert rms_dbfs(audio) == pytest.approx(-20.0, abs=0.1)
    assert _peak_hz(audio, 22050) == pytest.approx(300, abs=2)


@pytest.mark.parametrize(("container", "codec"), [("mp4", "aac"), ("webm", "libopus")])
def test_load_audio_from_video_track_at_16k(tmp_path: Path, container: str, codec: str) -> None:
    # 48 kHz 1 kHz tone next to a video track; moviepy would return silence here at 16 kHz.
    path = tmp_path / f"talk.{container}"
    vcodec = ["-c:v", "libx264", "-pix_fmt", "yuv420p"] if container == "mp4" else ["-c:v", "libvpx-vp9"]
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10",
        "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000",
        "-t", "1.5", *vcodec, "-c:a", codec, str(path),
    )  # fmt: skip
    audio = load_audio(path, 16000)
    assert len(audio) / 16000 == pytest.approx(1.5, abs=0.05)
    assert _peak_hz(audio, 16000) == pytest.approx(1000, abs=3)
    assert rms_dbfs(audio) == pytest.approx(20 * np.log10(0.125 / np.sqrt(2)), abs=1.0)  # lavfi sine: amp 1/8


def test_load_audio_refusals(tmp_path: Path) -> None:
    silent = tmp_path / "silent.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-t", "0.5", "-c:v", "libx264", str(silent))
    with pytest.raises(MediaError, match=r"silent\.mp4: has no audio track"):
        load_audio(silent)
    playlist = tmp_path / "speech.wav"
    playlist.write_bytes(b"#EXTM3U\n#EXTINF:1,\nhttp://example.com/a.wav\n")
    with pytest.raises(MediaError, match=r"speech\.wav: refused"):
        load_audio(playlist)
    long_wav = tmp_path / "long.wav"
    sf.write(long_wav, np.zeros(16000 * 3, np.float32), 16000)
    with pytest.raises(MediaError, match=r"long\.wav: duration 3\.00 s exceeds .*max_duration"):
        load_audio(long_wav, limits=MediaLimits(max_duration=2.0))
    with pytest.raises(MediaError, match="max_bytes"):
        load_audio(long_wav, limits=MediaLimits(max_bytes=100))


def test_normalize_loudness_is_clipping_safe() -> None:
    x = _sine(200, 1.0, 16000, 0.05)
    y = normalize_loudness(x, -20.0)
    assert rms_dbfs(y) == pytest.approx(-20.0, abs=0.05)
    spikes = np.zeros(16000, np.float32)
    spikes[::4000] = 0.5  # very low RMS, high peak: full gain would clip
    z = normalize_loudness(spikes, -20.0, peak_dbfs=-1.0)
    assert np.abs(z).max() == pytest.approx(10 ** (-1 / 20), rel=1e-5)
    assert rms_dbfs(z) < -20.0
    silence = np.zeros(100, np.float32)
    np.testing.assert_array_equal(normalize_loudness(silence), silence)
    with pytest.raises(ValueError):
        normalize_loudness(x, 3.0)


def test_resample_keeps_pitch_and_length() -> None:
    x = _sine(440, 1.0, 44100)
    y = resample(x, 44100, 16000)
    assert y.dtype == np.float32 and len(y) == 16000
    assert _peak_hz(y, 16000) == pytest.approx(440, abs=1.5)
    assert resample(x, 16000, 16000) is not None and len(resample(x, 16000, 16000)) == len(x)


def test_save_wav_round_trip_atomic_and_clipped(tmp_path: Path) -> None:
    x = _sine(440, 0.25, 16000, 0.9)
    x[:10] = 2.0  # out of range: clipped, not wrapped
    out = save_wav(tmp_path / "new" / "say.wav", x, 16000)
    data, sr = sf.read(out, dtype="float32")
    assert sr == 16000 and sf.info(out).subtype == "PCM_16"
    np.testing.assert_allclose(data[:10], 32767 / 32768, atol=1e-6)
    np.testing.assert_allclose(data[10:], x[10:], atol=1.01 / 32768)
    assert [p.name for p in out.parent.iterdir()] == ["say.wav"]
    with pytest.raises(ValueError):
        save_wav(tmp_path / "bad.wav", np.array([np.nan], np.float32), 16000)
    assert not (tmp_path / "bad.wav").exists()
    np.testing.assert_allclose(load_audio(out)[10:], x[10:], atol=1.01 / 32768)


def test_float_wav_with_nan_or_inf_samples_is_refused_naming_the_file(tmp_path: Path, capsys) -> None:
    import soundfile as sf

    from talkgen.cli import main

    wave = np.sin(np.linspace(0, 200, 16000)).astype(np.float32)
    for bad, name in ((np.nan, "nan.wav"), (np.inf, "inf.wav")):
        wave_bad = wave.copy()
        wave_bad[100:110] = bad
        sf.write(tmp_path / name, wave_bad, 16000, subtype="FLOAT")
        with pytest.raises(MediaError, match=f"{name}: 10 audio samples are NaN or infinite"):
            load_audio(tmp_path / name)
    sf.write(tmp_path / "ok.wav", wave, 16000, subtype="FLOAT")
    assert np.isfinite(load_audio(tmp_path / "ok.wav")).all()
    clip = Path(__file__).parents[2] / "samples" / "synth" / "clip_seed7.mp4"
    assert main(["eval", "sync", str(clip), "--audio", str(tmp_path / "nan.wav")]) == 2
    assert "nan.wav: 10 audio samples are NaN or infinite" in capsys.readouterr().err
