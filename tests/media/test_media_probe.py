"""talkgen.media.probe: what is accepted, what is refused (and why), parsing, timeouts, ffmpeg argument safety."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from talkgen.errors import MediaError
from talkgen.media import MediaLimits, probe
from talkgen.media import _ffmpeg as ffm
from talkgen.media.probe import parse_ffmpeg_info
from talkgen.media.sniff import demuxer_options


def test_probe_reports_container_streams_duration_size_fps(clip: Path) -> None:
    info = probe(clip)
    assert info.format == "mp4" and info.demuxer == "mov"
    assert info.container == "mov,mp4,m4a,3gp,3g2,mj2"
    assert info.duration == pytest.approx(2.0, abs=0.05)
    assert (info.width, info.height, info.fps) == (128, 96, 25.0)
    assert info.num_frames == 50
    assert info.size_bytes == clip.stat().st_size
    kinds = [(s.kind, s.codec) for s in info.streams]
    assert kinds == [("video", "h264"), ("audio", "aac")]
    assert info.audio is not None and info.audio.sample_rate == 44100 and info.audio.channels == 1
    assert info.to_dict()["has_audio"] is True


@pytest.mark.parametrize(
    ("limits", "needle"),
    [
        (MediaLimits(max_bytes=1000), "max_bytes"),
        (MediaLimits(max_duration=1.5), "max_duration"),
        (MediaLimits(max_pixels=128 * 96 - 1), "max_pixels"),
        (MediaLimits(max_width=127), "max_width"),
        (MediaLimits(max_height=95), "max_height"),
        (MediaLimits(max_fps=24), "max_fps"),
        (MediaLimits(max_streams=1), "max_streams"),
        (MediaLimits(containers={"matroska,webm", "wav"}), "MediaLimits.containers"),
        (MediaLimits(video_codecs={"vp9"}), "video_codecs"),
        (MediaLimits(audio_codecs={"opus"}), "audio_codecs"),
    ],
)
def test_limits_refuse_with_file_and_limit_named(clip: Path, limits: MediaLimits, needle: str) -> None:
    with pytest.raises(MediaError) as err:
        probe(clip, limits)
    assert str(clip) in str(err.value)
    assert needle in str(err.value)


def test_high_fps_and_large_frames_refused_by_defaults(make_clip) -> None:
    fast = make_clip("fast.mp4", size="64x48", rate=240, seconds=0.2, audio=False, extra=("-c:v", "libx264"))
    with pytest.raises(MediaError, match=r"240 fps exceeds the limit of 120 fps \(max_fps\)"):
        probe(fast)
    # A 4100x16 frame is cheap to make yet wider than the default 4096 px.
    wide = make_clip("wide.mp4", size="4100x16", rate=5, seconds=0.2, audio=False, extra=("-c:v", "libx264"))
    with pytest.raises(MediaError, match="max_width"):
        probe(wide)


def test_truncated_files_refused(clip: Path, tmp_path: Path) -> None:
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # moov atom is at the end: gone
    with pytest.raises(MediaError, match=r"cut\.mp4.*(truncated|corrupt)"):
        probe(cut)
    stub = tmp_path / "stub.mp4"
    stub.write_bytes(data[:40])
    with pytest.raises(MediaError, match="stub.mp4"):
        probe(stub)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("random.mp4", os.urandom(4096)),
        ("text.mp4", b"hello, this is not a video\n" * 20),
        ("image.mp4", b"\x89PNG\r\n\x1a\n" + bytes(200)),
        ("script.wav", b"#!/bin/sh\nrm -rf /\n"),
    ],
)
def test_non_media_refused(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MediaError, match=rf"{name}: not a recognised media file"):
        probe(path)


def test_wrong_container_refused(tmp_path: Path, ffmpeg) -> None:
    flv = tmp_path / "clip.mp4"  # an FLV file wearing an mp4 name
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-t", "0.5", "-f", "flv", str(flv))
    with pytest.raises(MediaError, match="not a recognised media file"):
        probe(flv)


PLAYLISTS = {
    "hls": b"#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:10.0,\nhttp://example.com/seg0.ts\n",
    "m3u": b"\xef\xbb\xbf#EXTINF:123,Artist - Title\n/etc/passwd\n",
    "ffconcat": b"ffconcat version 1.0\nfile '/etc/passwd'\n",
    "concat": b"file 'a.mp4'\nfile 'b.mp4'\n",
    "sdp": b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nm=video 5004 RTP/AVP 96\r\n",
    "pls": b"[playlist]\nFile1=http://example.com/stream\nNumberOfEntries=1\n",
    "dash": b'<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011"></MPD>\n',
    "url": b"https://example.com/video.mp4\n",
}


@pytest.mark.parametrize("kind", sorted(PLAYLISTS))
@pytest.mark.parametrize("suffix", [".mp4", ".wav", ".m3u8"])
def test_playlists_refused_by_content(tmp_path: Path, kind: str, suffix: str) -> None:
    path = tmp_path / f"{kind}{suffix}"
    path.write_bytes(PLAYLISTS[kind])
    with pytest.raises(MediaError) as err:
        probe(path)
    msg = str(err.value)
    assert str(path) in msg and "refused" in msg and "self-contained" in msg


def test_empty_missing_directory_and_fifo_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(MediaError, match="empty"):
        probe(empty)
    with pytest.raises(MediaError, match="no such file"):
        probe(tmp_path / "missing.mp4")
    with pytest.raises(MediaError, match="not a regular file"):
        probe(tmp_path)
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(MediaError, match="not a regular file"):
        probe(fifo)  # would block forever if it were opened
    assert time.monotonic() - start < 2


def test_probe_timeout_kills_a_hung_ffmpeg(clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "still-running"
    fake = tmp_path / "ffmpeg"
    # A shell that spawns a child which would outlive a plain kill(); the process group must die.
    fake.write_text(f"#!/bin/sh\n(sleep 3; touch {marker}) &\nsleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setattr(ffm, "ffmpeg_exe", lambda: str(fake))
    start = time.monotonic()
    with pytest.raises(MediaError, match=r"clip\.mp4: ffmpeg did not finish within the 0\.5 s timeout"):
        probe(clip, MediaLimits(probe_timeout=0.5))
    assert time.monotonic() - start < 2.5
    time.sleep(3.3)
    assert not marker.exists(), "the timed-out ffmpeg's children kept running"


def test_real_ffmpeg_probe_timeout(clip: Path) -> None:
    with pytest.raises(MediaError, match="timeout"):
        probe(clip, MediaLimits(probe_timeout=1e-4))


def test_every_input_gets_the_protocol_whitelist_and_relative_names_are_anchored() -> None:
    cmd = ffm.ffmpeg_command([(["-f", "mov"], "concat:a.mp4|b.mp4"), (["-f", "wav"], "/abs/a.wav")], ["-f", "null"])
    assert "shell" not in cmd
    i_positions = [i for i, a in enumerate(cmd) if a == "-i"]
    assert len(i_positions) == 2
    for i in i_positions:
        assert cmd[i - 2 : i] == ["-protocol_whitelist", "file,pipe"]
    assert cmd[i_positions[0] + 1] == "./concat:a.mp4|b.mp4"
    assert cmd[i_positions[1] + 1] == "/abs/a.wav"
    assert demuxer_options("mov") == ["-f", "mov", "-enable_drefs", "0"]  # no QuickTime external references


def test_file_named_like_a_protocol_is_read_as_a_local_file(clip: Path, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "http:evil.mp4").write_bytes(clip.read_bytes())
    monkeypatch.chdir(tmp_path)
    assert probe("http:evil.mp4").duration == pytest.approx(2.0, abs=0.05)


FFMPEG_REPORT = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'phone.mov':
  Metadata:
    major_brand     : qt
  Duration: 00:01:02.50, start: 0.000000, bitrate: 9000 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive), 1920x1080, \
8000 kb/s, 29.97 fps, 29.97 tbr, 600 tbn (default)
    Metadata:
      handler_name    : Core Media Video
    Side data:
      displaymatrix: rotation of -90.00 degrees
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 128 kb/s (default)
  Stream #0:2[0x3](und): Data: none (mebx / 0x7862656D), 0 kb/s (default)
  Stream #0:3: Video: mjpeg (Baseline), yuvj420p(pc, bt470bg/unknown/unknown), 300x300, 90k tbr, 90k tbn (attached pic)
At least one output file must be specified
"""


def test_parse_ffmpeg_report() -> None:
    container, duration, streams = parse_ffmpeg_info(FFMPEG_REPORT)
    assert container == "mov,mp4,m4a,3gp,3g2,mj2"
    assert duration == pytest.approx(62.5)
    v, a, d, pic = streams
    assert (v.codec, v.width, v.height, v.pix_fmt) == ("h264", 1920, 1080, "yuv420p")
    assert v.fps == pytest.approx(30000 / 1001, abs=1e-9)
    assert v.rotation == 270 and v.display_size == (1080, 1920)
    assert (a.kind, a.codec, a.sample_rate, a.channels) == ("audio", "aac", 48000, 2)
    assert d.kind == "data"
    assert pic.attached_pic and pic.codec == "mjpeg" and (pic.width, pic.height) == (300, 300)
    with pytest.raises(ValueError):
        parse_ffmpeg_info("garbage")


def test_limits_validate_their_fields() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        MediaLimits(max_bytes=0)
    with pytest.raises(ValueError, match="containers"):
        MediaLimits(containers="mp4")
    assert MediaLimits(containers=["wav"]).containers == frozenset({"wav"})
