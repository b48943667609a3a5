"""Probing media files with the bundled ffmpeg (there is no ffprobe): container, streams, duration, size, fps.

:func:`probe` sniffs the content, forces the matching demuxer, runs ``ffmpeg -i FILE`` with a timeout, parses its
stream report and checks every :class:`MediaLimits` bound. Whatever is refused raises a :class:`MediaError` that
names the file and the limit.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from talkgen.errors import MediaError
from talkgen.media._ffmpeg import error_lines, ffmpeg_command, run_ffmpeg
from talkgen.media.limits import DEFAULT_LIMITS, MediaLimits
from talkgen.media.sniff import demuxer_options, sniff

logger = logging.getLogger(__name__)

_INPUT_RE = re.compile(r"^Input #0, (?P<fmt>[^ ]+?), from ", re.M)
_DURATION_RE = re.compile(r"^\s*Duration: (?P<dur>N/A|\d+:\d\d:\d\d(?:\.\d+)?)(?:, start: (?P<start>-?[\d.]+))?", re.M)
_STREAM_RE = re.compile(
    r"^\s*Stream #0:(?P<idx>\d+)[^:]*: (?P<kind>Video|Audio|Subtitle|Data|Attachment): (?P<rest>.*)$"
)
_ROTATION_RE = re.compile(r"rotation of (?P<deg>-?[\d.]+) degrees")
_RATE_RE = re.compile(r"^(?P<num>[\d.]+)(?P<k>k?) (?P<unit>fps|tbr)$")


@dataclass(frozen=True)
class StreamInfo:
    """One stream of a media file.

    Attributes:
        index: stream index in the file.
        kind: ``"video"``, ``"audio"``, ``"subtitle"``, ``"data"`` or ``"attachment"``.
        codec: ffmpeg codec name (``"h264"``, ``"aac"``...).
        width, height: coded frame size in pixels (video), before rotation.
        fps: average frame rate (video), exact for the usual NTSC rates (30000/1001 etc.).
        rotation: display rotation in degrees (video), applied by the decoder.
        sample_rate, channels: audio parameters.
        attached_pic: a still cover image, not a video track.
    """

    index: int
    kind: str
    codec: str
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    rotation: int = 0
    pix_fmt: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    attached_pic: bool = False

    @property
    def display_size(self) -> tuple[int, int] | None:
        """``(width, height)`` of decoded frames after rotation; ``None`` for non-video streams."""
        if self.width is None or self.height is None:
            return None
        if self.rotation % 180 == 90:
            return self.height, self.width
        return self.width, self.height


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` found in a file.

    Attributes:
        path: the probed file.
        format: sniffed short format name (``"mp4"``, ``"mkv"``, ``"wav"``...).
        demuxer: the ffmpeg demuxer forced when reading it (``"mov"``, ``"matroska"``...).
        container: ffmpeg demuxer name (``"mov,mp4,m4a,3gp,3g2,mj2"``...).
        size_bytes: file size.
        duration: seconds, or ``None`` when the container does not record it (then bounded while decoding).
        streams: every stream in file order.
    """

    path: Path
    format: str
    demuxer: str
    container: str
    size_bytes: int
    duration: float | None
    streams: tuple[StreamInfo, ...]

    @property
    def video(self) -> StreamInfo | None:
        """The first real video stream (cover art excluded), or ``None``."""
        return next((s for s in self.streams if s.kind == "video" and not s.attached_pic), None)

    @property
    def audio(self) -> StreamInfo | None:
        """The first audio stream, or ``None``."""
        return next((s for s in self.streams if s.kind == "audio"), None)

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    @property
    def width(self) -> int | None:
        """Decoded frame width (after rotation) of the video stream."""
        v = self.video
        return v.display_size[0] if v is not None and v.display_size else None

    @property
    def height(self) -> int | None:
        """Decoded frame height (after rotation) of the video stream."""
        v = self.video
        return v.display_size[1] if v is not None and v.display_size else None

    @property
    def fps(self) -> float | None:
        v = self.video
        return v.fps if v is not None else None

    @property
    def num_frames(self) -> int | None:
        """Frame count estimated from duration x fps (``None`` without video or duration)."""
        if self.duration is None or self.fps is None:
            return None
        return round(self.duration * self.fps)

    def to_dict(self) -> dict:
        """A JSON-ready dict of all fields plus the derived video/audio summary."""
        d = asdict(self)
        d["path"] = str(self.path)
        d.update(width=self.width, height=self.height, fps=self.fps, has_audio=self.has_audio)
        return d


def _split_top(text: str) -> list[str]:
    """Split on ", " outside parentheses/brackets."""
    parts, depth, cur = [], 0, []
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0 and text[i + 1 : i + 2] == " ":
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def _exact_rate(value: float) -> float:
    """Undo ffmpeg's 2-decimal rounding for NTSC-style rates (29.97 -> 30000/1001)."""
    for base in (24, 30, 48, 60, 120):
        ntsc = base * 1000 / 1001
        if abs(value - ntsc) < 0.006:
            return ntsc
    return float(Fraction(value).limit_denominator(1001)) if value != int(value) else float(value)


def _parse_rate(token: str) -> tuple[str, float] | None:
    m = _RATE_RE.match(token)
    if not m:
        return None
    value = float(m["num"]) * (1000 if m["k"] else 1)
    return m["unit"], value


def _parse_stream(idx: int, kind: str, rest: str) -> StreamInfo:
    parts = _split_top(rest.replace("(default)", "").replace("(attached pic)", ""))
    codec = parts[0].split(" ", 1)[0] if parts else "unknown"
    info: dict = {"index": idx, "kind": kind, "codec": codec, "attached_pic": "(attached pic)" in rest}
    if kind == "video":
        rates: dict[str, float] = {}
        for i, token in enumerate(parts[1:], start=1):
            size = re.match(r"^(\d+)x(\d+)(?:\s|$)", token)
            if size and "width" not in info:
                info["width"], info["height"] = int(size[1]), int(size[2])
            elif i == 1:
                info["pix_fmt"] = token.split("(", 1)[0].strip() or None
            rate = _parse_rate(token)
            if rate:
                rates.setdefault(rate[0], rate[1])
        fps = rates.get("fps") or rates.get("tbr")
        info["fps"] = _exact_rate(fps) if fps else None
    elif kind == "audio":
        for token in parts[1:]:
            hz = re.match(r"^(\d+) Hz$", token)
            if hz:
                info["sample_rate"] = int(hz[1])
            layout = {"mono": 1, "stereo": 2, "quad": 4, "2.1": 3, "5.0": 5, "5.1": 6, "6.1": 7, "7.1": 8}
            name = token.split("(", 1)[0].strip()
            if name in layout:
                info["channels"] = layout[name]
            ch = re.match(r"^(\d+) channels", token)
            if ch:
                info["channels"] = int(ch[1])
    return StreamInfo(**info)


def parse_ffmpeg_info(text: str) -> tuple[str, float | None, list[StreamInfo]]:
    """Parse ``ffmpeg -hide_banner -i FILE`` stderr into ``(container, duration, streams)``.

    Only input #0 is read. Raises ValueError when the report has no input section.
    """
    m = _INPUT_RE.search(text)
    if not m:
        raise ValueError("no 'Input #0' section in ffmpeg output")
    container = m["fmt"]
    duration = None
    d = _DURATION_RE.search(text, m.end())
    if d and d["dur"] != "N/A":
        h, mi, s = d["dur"].split(":")
        duration = int(h) * 3600 + int(mi) * 60 + float(s)
    streams: list[StreamInfo] = []
    lines = text[m.end() :].splitlines()
    for n, line in enumerate(lines):
        if line.startswith(("Output #", "Input #")):
            break
        sm = _STREAM_RE.match(line)
        if not sm:
            continue
        stream = _parse_stream(int(sm["idx"]), sm["kind"].lower(), sm["rest"])
        # Side data (rotation) follows on indented lines until the next stream.
        for follow in lines[n + 1 : n + 12]:
            if _STREAM_RE.match(follow) or not follow.startswith("    "):
                break
            rot = _ROTATION_RE.search(follow)
            if rot and stream.kind == "video":
                # ffmpeg reports the counter-clockwise display matrix angle; the decoder rotates frames by it.
                stream = StreamInfo(**{**asdict(stream), "rotation": round(float(rot["deg"])) % 360})
        streams.append(stream)
    return container, duration, streams


def check_limits(info: MediaInfo, limits: MediaLimits) -> None:
    """Raise MediaError naming the file and the limit when ``info`` exceeds any bound in ``limits``."""
    p = info.path
    if info.container not in limits.containers:
        raise MediaError(
            f"{p}: container {info.container!r} is not allowed (MediaLimits.containers: "
            f"{', '.join(sorted(limits.containers))})"
        )
    if len(info.streams) > limits.max_streams:
        raise MediaError(f"{p}: {len(info.streams)} streams exceeds the limit of {limits.max_streams} (max_streams)")
    if not any(s.kind in ("video", "audio") for s in info.streams):
        raise MediaError(f"{p}: has no video or audio stream")
    if info.duration is not None and info.duration > limits.max_duration:
        raise MediaError(
            f"{p}: duration {info.duration:.2f} s exceeds the limit of {limits.max_duration:g} s (max_duration)"
        )
    for s in info.streams:
        if s.kind == "video":
            if s.codec not in limits.video_codecs:
                raise MediaError(
                    f"{p}: video codec {s.codec!r} of stream {s.index} is not allowed (MediaLimits.video_codecs: "
                    f"{', '.join(sorted(limits.video_codecs))}); re-encode it to H.264"
                )
            if s.width is None or s.height is None:
                raise MediaError(f"{p}: stream {s.index} has no frame size (corrupt or truncated header)")
            if s.width > limits.max_width or s.height > limits.max_height:
                raise MediaError(
                    f"{p}: frame size {s.width}x{s.height} exceeds the limit of {limits.max_width}x"
                    f"{limits.max_height} (max_width x max_height)"
                )
            if s.width * s.height > limits.max_pixels:
                raise MediaError(
                    f"{p}: {s.width}x{s.height} = {s.width * s.height} pixels exceeds the limit of "
                    f"{limits.max_pixels} pixels per frame (max_pixels)"
                )
            if not s.attached_pic:
                if s.fps is None or s.fps <= 0:
                    raise MediaError(f"{p}: video stream {s.index} has no frame rate (corrupt header)")
                if s.fps > limits.max_fps:
                    raise MediaError(f"{p}: {s.fps:g} fps exceeds the limit of {limits.max_fps:g} fps (max_fps)")
        elif s.kind == "audio" and s.codec not in limits.audio_codecs:
            raise MediaError(
                f"{p}: audio codec {s.codec!r} of stream {s.index} is not allowed (MediaLimits.audio_codecs: "
                f"{', '.join(sorted(limits.audio_codecs))}); re-encode it to AAC or WAV"
            )


def probe(path: str | os.PathLike[str], limits: MediaLimits | None = None) -> MediaInfo:
    """Inspect a media file and check it against ``limits`` before anything decodes it.

    Args:
        path: a local media file.
        limits: bounds to enforce; :data:`talkgen.media.limits.DEFAULT_LIMITS` when ``None``.

    Returns:
        The file's :class:`MediaInfo`.

    Raises:
        MediaError: naming the file and the limit or cause: missing / non-regular / empty / oversized file,
            playlist or non-media content, disallowed container or codec, too many streams, too long, too large
            frames, too high fps, a truncated or unparsable file, or ffmpeg exceeding ``limits.probe_timeout``.
    """
    limits = limits or DEFAULT_LIMITS
    p, size, sniffed = sniff(path, limits)
    cmd = ffmpeg_command([(demuxer_options(sniffed.demuxer), str(p))], [])
    result = run_ffmpeg(cmd, timeout=limits.probe_timeout, what=str(p))
    try:
        container, duration, streams = parse_ffmpeg_info(result.stderr)
    except ValueError:
        detail = error_lines(result.stderr) or "no details"
        raise MediaError(f"{p}: could not be parsed as {sniffed.format} (truncated or corrupt?): {detail}") from None
    info = MediaInfo(p, sniffed.format, sniffed.demuxer, container, size, duration, tuple(streams))
    check_limits(info, limits)
    logger.debug("probed %s: %s", p, info)
    return info
