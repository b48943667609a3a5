"""Limits applied to untrusted media before and while decoding it."""

from __future__ import annotations

from dataclasses import dataclass, field

from talkgen.errors import ConfigError

# ffmpeg demuxer names (as printed after "Input #0,") that talkgen accepts. No playlist, concat, image2,
# lavfi, sdp, rtp or other demuxers that can open further files or URLs.
DEFAULT_CONTAINERS = frozenset(
    {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", "mpegts", "wav", "flac", "ogg", "mp3", "aac"}
)
DEFAULT_VIDEO_CODECS = frozenset(
    {"h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "mpeg2video", "mjpeg", "png", "prores", "rawvideo", "ffv1"}
)
DEFAULT_AUDIO_CODECS = frozenset(
    {
        "aac",
        "mp3",
        "opus",
        "vorbis",
        "flac",
        "alac",
        "pcm_s16le",
        "pcm_s16be",
        "pcm_s24le",
        "pcm_s32le",
        "pcm_f32le",
        "pcm_f64le",
        "pcm_u8",
        "pcm_mulaw",
        "pcm_alaw",
    }
)


@dataclass(frozen=True)
class MediaLimits:
    """Bounds on an input media file; anything outside them is refused with a :class:`MediaError`.

    Attributes:
        max_bytes: largest accepted file size.
        max_duration: longest accepted duration in seconds (checked from the header and again while decoding).
        max_width, max_height: largest frame side in pixels.
        max_pixels: largest ``width * height`` of a video stream.
        max_fps: highest accepted video frame rate.
        max_streams: most streams (video + audio + subtitle + data) in one file.
        max_decoded_bytes: most raw bytes one :func:`talkgen.media.read_video` call may hold in memory.
        containers: accepted ffmpeg demuxer names.
        video_codecs, audio_codecs: accepted codec names of video and audio streams.
        probe_timeout: seconds before probing is abandoned.
        decode_timeout: seconds before a full decode is abandoned.
    """

    max_bytes: int = 4 * 1024**3
    max_duration: float = 1800.0
    max_width: int = 4096
    max_height: int = 4096
    max_pixels: int = 4096 * 2160
    max_fps: float = 120.0
    max_streams: int = 8
    max_decoded_bytes: int = 6 * 1024**3
    containers: frozenset[str] = field(default=DEFAULT_CONTAINERS)
    video_codecs: frozenset[str] = field(default=DEFAULT_VIDEO_CODECS)
    audio_codecs: frozenset[str] = field(default=DEFAULT_AUDIO_CODECS)
    probe_timeout: float = 10.0
    decode_timeout: float = 600.0

    def __post_init__(self) -> None:
        for name in (
            "max_bytes",
            "max_duration",
            "max_width",
            "max_height",
            "max_pixels",
            "max_fps",
            "max_streams",
            "max_decoded_bytes",
            "probe_timeout",
            "decode_timeout",
        ):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
                raise ConfigError(f"MediaLimits.{name} must be a positive number, got {value!r}")
        for name in ("containers", "video_codecs", "audio_codecs"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ConfigError(f"MediaLimits.{name} must be a collection of names, not the string {value!r}")
            object.__setattr__(self, name, frozenset(value))


DEFAULT_LIMITS = MediaLimits()
