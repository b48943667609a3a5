"""talkgen.media.video: write_video -> probe -> read_video round trips, bounds while decoding, atomic writes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import talkgen.media.video as video_mod
from talkgen.errors import MediaError
from talkgen.media import MediaLimits, iter_frames, probe, read_video, write_video


def _sine(freq: float, seconds: float, sr: int) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="module")
def written(tmp_path_factory, frames_factory) -> tuple[Path, np.ndarray]:
    frames = frames_factory(30, 96, 128)
    out = tmp_path_factory.mktemp("rt") / "sub" / "talk.mp4"  # missing parent folder is created
    write_video(out, frames, 25, audio=_sine(440, 1.2, 16000), sample_rate=16000)
    return out, frames


def test_round_trip_write_probe_read(written) -> None:
    path, frames = written
    info = probe(path)
    assert info.format == "mp4"
    assert [(s.kind, s.codec) for s in info.streams] == [("video", "h264"), ("audio", "aac")]
    assert info.video is not None and info.video.pix_fmt == "yuv420p"
    assert (info.width, info.height, info.fps) == (128, 96, 25.0)
    assert info.audio is not None and info.audio.sample_rate == 16000 and info.audio.channels == 1
    # The file lasts as long as the longer track: 1.2 s of audio vs 30 / 25 = 1.2 s of video.
    assert info.duration == pytest.approx(1.2, abs=0.08)

    decoded, fps = read_video(path)
    assert fps == 25.0
    assert decoded.shape == frames.shape and decoded.dtype == np.uint8
    err = np.abs(decoded.astype(np.int16) - frames.astype(np.int16)).mean()
    assert err < 4.0, f"mean abs error {err:.2f} too high for crf 18"
    # Frame order survives: each decoded frame is closest to its own source frame.
    dist = np.abs(decoded[:, None].astype(np.int16) - frames[None].astype(np.int16)).mean(axis=(2, 3, 4))
    assert (dist.argmin(axis=1) == np.arange(len(frames))).all()


def test_audio_track_content_survives(written) -> None:
    from talkgen.audio.io import load_audio

    path, _ = written
    audio = load_audio(path, 16000)
    assert len(audio) / 16000 == pytest.approx(1.2, abs=0.05)
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    peak_hz = np.fft.rfftfreq(len(audio), 1 / 16000)[spectrum.argmax()]
    assert peak_hz == pytest.approx(440, abs=3)


def test_resample_resize_and_max_frames(written) -> None:
    path, frames = written
    small, fps = read_video(path, fps=10, size=(64, 48))
    assert fps == 10.0 and small.shape == (12, 48, 64, 3)
    first5, _ = read_video(path, max_frames=5)
    assert first5.shape == (5, 96, 128, 3)
    streamed = np.stack(list(iter_frames(path)))
    np.testing.assert_array_equal(streamed, read_video(path)[0])
    assert len(list(iter_frames(path, max_frames=3))) == 3


def test_ntsc_rate_float_frames_and_odd_size(tmp_path: Path, frames_factory) -> None:
    frames = frames_factory(12, 33, 47).astype(np.float32) / 255.0
    out = write_video(tmp_path / "ntsc.mp4", frames, 30000 / 1001)
    info = probe(out)
    assert info.fps == pytest.approx(30000 / 1001, abs=1e-9)
    assert (info.width, info.height) == (48, 34)  # padded to even sides
    assert not info.has_audio
    decoded, _ = read_video(out)
    assert decoded.shape == (12, 34, 48, 3)
    ref = np.round(frames * 255).astype(np.int16)
    assert np.abs(decoded[:, :33, :47].astype(np.int16) - ref).mean() < 8.0  # tiny frames: chroma is 24x17


def test_flat_colours_survive_encoding(tmp_path: Path) -> None:
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128], [20, 200, 90]], np.uint8)
    frames = np.repeat(np.repeat(colours[:, None, None, :], 32, axis=1), 32, axis=2)
    decoded, _ = read_video(write_video(tmp_path / "flat.mp4", frames, 25))
    np.testing.assert_allclose(decoded[:, 16, 16].astype(float), colours.astype(float), atol=4)


def test_write_video_rejects_bad_input(tmp_path: Path) -> None:
    good = np.zeros((2, 16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="shape"):
        write_video(tmp_path / "a.mp4", np.zeros((16, 16, 3), np.uint8), 25)
    with pytest.raises(ValueError, match="dtype"):
        write_video(tmp_path / "a.mp4", good.astype(np.int32), 25)
    with pytest.raises(ValueError, match="fps"):
        write_video(tmp_path / "a.mp4", good, 0)
    with pytest.raises(ValueError, match="audio"):
        write_video(tmp_path / "a.mp4", good, 25, audio=np.zeros((10, 5, 2), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_failed_encode_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    target.write_bytes(b"previous")
    with pytest.raises(MediaError, match=r"out\.mp4: encoding failed"):
        write_video(target, np.zeros((3, 16, 16, 3), np.uint8), 25, preset="no-such-preset")
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_truncated_faststart_mp4_refused_when_decoding(written, tmp_path: Path) -> None:
    path, _ = written
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # faststart: the index survives, the media data does not
    with pytest.raises(MediaError, match=r"cut\.mp4: the file is truncated or corrupt"):
        read_video(cut)


def test_decoding_enforces_limits(written, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = written
    with pytest.raises(MediaError, match="max_decoded_bytes"):
        read_video(path, MediaLimits(max_decoded_bytes=128 * 96 * 3 * 10))
    # A container that records no duration passes the probe; the decoder still stops at max_duration.
    real_probe = video_mod.probe
    monkeypatch.setattr(video_mod, "probe", lambda p, lim: dataclasses.replace(real_probe(p), duration=None))
    with pytest.raises(MediaError, match=r"more than 0\.5 s of video while decoding \(max_duration\)"):
        read_video(path, MediaLimits(max_duration=0.5))
    with pytest.raises(MediaError, match=r"max_duration"):
        list(iter_frames(path, MediaLimits(max_duration=0.5)))


def test_audio_only_file_has_no_video(tmp_path: Path) -> None:
    import soundfile as sf

    wav = tmp_path / "a.wav"
    sf.write(wav, _sine(440, 0.5, 16000), 16000)
    with pytest.raises(MediaError, match=r"a\.wav: has no video stream"):
        read_video(wav)


def test_rotated_phone_video_decodes_upright(written, tmp_path: Path, ffmpeg) -> None:
    path, frames = written
    rotated = tmp_path / "portrait.mp4"
    ffmpeg("-display_rotation", "90", "-i", str(path), "-c", "copy", str(rotated))
    info = probe(rotated)
    assert info.video is not None and info.video.rotation == 90
    assert (info.width, info.height) == (96, 128)
    decoded, _ = read_video(rotated)
    assert decoded.shape == (30, 128, 96, 3)
    err = min(np.abs(decoded.astype(np.int16) - np.rot90(frames, k, axes=(1, 2))).mean() for k in (1, -1))
    assert err < 4.0


def test_ffv1_mkv_round_trips_exactly_and_444_keeps_colour(tmp_path):
    import numpy as np

    from talkgen.media import probe, read_video, write_video
    from talkgen.media.video import h264_pix_fmt

    frames = np.random.default_rng(0).integers(0, 256, (4, 33, 47, 3), dtype=np.uint8)  # odd sides: no padding
    path = write_video(tmp_path / "a.mkv", frames, 25.0, np.zeros(8000, np.float32), codec="ffv1")
    decoded, _ = read_video(path)
    np.testing.assert_array_equal(decoded, frames)
    assert probe(path).audio.codec == "flac"
    even = frames[:, :32, :46]
    err = {}
    for fmt in ("yuv420p", "yuv444p"):
        out = write_video(tmp_path / f"{fmt}.mp4", even, 25.0, crf=10, pix_fmt=fmt)
        assert probe(out).video.pix_fmt == fmt
        err[fmt] = np.abs(read_video(out)[0].astype(int) - even).mean()
    assert err["yuv444p"] < err["yuv420p"] / 2  # random colours: chroma subsampling is most of the error
    assert [h264_pix_fmt(f) for f in ("yuvj444p", "yuv422p10le", "gbrp", None)] == [
        "yuv444p",
        "yuv422p",
        "yuv420p",
        "yuv420p",
    ]
    with pytest.raises(ValueError, match="codec must be"):
        write_video(tmp_path / "b.mp4", even, 25.0, codec="vp9")
    with pytest.raises(ValueError, match="pix_fmt must be"):
        write_video(tmp_path / "b.mp4", even, 25.0, pix_fmt="yuv410p")


def test_video_writer_streams_chunks_into_the_same_file_as_one_write(tmp_path):
    """Frames written a chunk at a time decode to exactly the frames (lossless FFV1), as one write_video call does."""
    from talkgen.media import VideoWriter

    frames = np.random.default_rng(3).integers(0, 256, (11, 24, 32, 3), dtype=np.uint8)
    with VideoWriter(tmp_path / "chunks.mkv", (32, 24), 25.0, codec="ffv1") as writer:
        for start in range(0, 11, 4):
            writer.write(frames[start : start + 4])
        writer.write(frames[0])  # a single (H, W, 3) frame
    assert writer.frames_written == 12
    decoded, _ = read_video(tmp_path / "chunks.mkv")
    np.testing.assert_array_equal(decoded, np.concatenate([frames, frames[:1]]))
    write_video(tmp_path / "whole.mkv", np.concatenate([frames, frames[:1]]), 25.0, codec="ffv1")
    np.testing.assert_array_equal(read_video(tmp_path / "whole.mkv")[0], decoded)


def test_video_writer_leaves_nothing_behind_on_an_error_or_no_frames(tmp_path):
    from talkgen.media import VideoWriter

    target = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="model failed"), VideoWriter(target, (16, 16), 25.0) as writer:
        writer.write(np.zeros((3, 16, 16, 3), np.uint8))
        raise RuntimeError("model failed")
    with pytest.raises(ValueError, match="frames are 8x16, the writer 16x16"), VideoWriter(target, (16, 16), 25) as w:
        w.write(np.zeros((1, 16, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="no frames were written"), VideoWriter(target, (16, 16), 25.0):
        pass
    assert list(tmp_path.iterdir()) == []
