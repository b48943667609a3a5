"""Content sniffing: decide what a file is from its first bytes, before ffmpeg ever sees it.

The sniffed container picks the ffmpeg demuxer explicitly (``-f mov``, ``-f matroska``...), so ffmpeg's own
format guessing, which would happily open an HLS playlist, a concat list or an SDP description named
``clip.mp4``, is never used. Playlists and other text formats are refused by content, not by extension.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from talkgen.errors import MediaError
from talkgen.media.limits import MediaLimits

HEAD_BYTES = 8192

# Text markers of playlists, concat lists, stream descriptions and manifests (matched case-insensitively at the
# start of the file or of a line near it).
_PLAYLIST_PATTERNS: tuple[tuple[str, re.Pattern[bytes]], ...] = (
    ("an M3U/HLS playlist", re.compile(rb"(^|\n)\s*#ext(m3u|inf|-x-)", re.I)),
    ("an ffconcat list", re.compile(rb"^\s*ffconcat\s+version", re.I)),
    ("a concat list", re.compile(rb"(^|\n)\s*file\s+['\"]?[^\n]+", re.I)),
    ("an SDP session description", re.compile(rb"^\s*v=0\s*\r?\n", re.I)),
    ("a PLS playlist", re.compile(rb"^\s*\[playlist\]", re.I)),
    ("a DASH manifest", re.compile(rb"<mpd[\s>]", re.I)),
    ("a SMIL/ASX/XSPF playlist", re.compile(rb"<(smil|asx|playlist)[\s>]", re.I)),
    ("an RTSP/RTMP/HTTP URL list", re.compile(rb"^\s*(rtsp|rtmp|https?|ftp|udp|tcp|srt)://", re.I)),
)


@dataclass(frozen=True)
class Sniffed:
    """What the first bytes of a file say: a short format name and the ffmpeg demuxer to force."""

    format: str
    demuxer: str
    is_audio_only: bool


def demuxer_options(demuxer: str) -> list[str]:
    """ffmpeg input options that force ``demuxer`` (no format guessing) and keep it to the one file."""
    options = ["-f", demuxer]
    if demuxer == "mov":
        options += ["-enable_drefs", "0"]  # never follow QuickTime data references to other files
    return options


def _is_mpegts(head: bytes) -> bool:
    return len(head) >= 188 * 3 and all(head[i] == 0x47 for i in (0, 188, 376))


def _mp3_frame(head: bytes) -> bool:
    # MPEG audio frame sync: 11 set bits, version != reserved, layer != reserved, bitrate index != 15.
    if len(head) < 4 or head[0] != 0xFF or (head[1] & 0xE0) != 0xE0:
        return False
    version, layer, bitrate = (head[1] >> 3) & 3, (head[1] >> 1) & 3, head[2] >> 4
    return version != 1 and layer != 0 and bitrate != 15


def _adts(head: bytes) -> bool:
    return len(head) >= 7 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0


def detect_container(head: bytes) -> Sniffed | None:
    """Identify a media container from its leading bytes; ``None`` when it is not a known media file."""
    if len(head) >= 12 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return Sniffed("mp4", "mov", False)
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return Sniffed("webm" if b"webm" in head[:64] else "mkv", "matroska", False)
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Sniffed("avi", "avi", False)
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return Sniffed("wav", "wav", True)
    if head[:4] == b"fLaC":
        return Sniffed("flac", "flac", True)
    if head[:4] == b"OggS":
        return Sniffed("ogg", "ogg", True)
    if head[:3] == b"ID3" or _mp3_frame(head):
        return Sniffed("mp3", "mp3", True)
    if _adts(head):
        return Sniffed("aac", "aac", True)
    if _is_mpegts(head):
        return Sniffed("ts", "mpegts", False)
    return None


def _playlist_kind(head: bytes) -> str | None:
    text = head.lstrip(b"\xef\xbb\xbf")  # UTF-8 BOM
    for kind, pattern in _PLAYLIST_PATTERNS:
        if pattern.search(text):
            return kind
    return None


def check_file(path: str | os.PathLike[str], limits: MediaLimits) -> tuple[Path, int]:
    """Check that ``path`` is an existing regular file within ``limits.max_bytes``; return it and its size."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise MediaError(f"{p}: no such file") from None
    except OSError as exc:
        raise MediaError(f"{p}: cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise MediaError(f"{p}: not a regular file (pipes, devices and directories are refused)")
    if st.st_size == 0:
        raise MediaError(f"{p}: the file is empty")
    if st.st_size > limits.max_bytes:
        raise MediaError(
            f"{p}: {st.st_size} bytes exceeds the limit of {limits.max_bytes} bytes (MediaLimits.max_bytes)"
        )
    return p, st.st_size


def sniff(path: str | os.PathLike[str], limits: MediaLimits) -> tuple[Path, int, Sniffed]:
    """Check the file and identify its container by content.

    Returns:
        ``(path, size_bytes, sniffed)``.

    Raises:
        MediaError: for a missing, non-regular, empty or oversized file, a playlist / concat list / stream
            description (by content, whatever its extension), an unknown format, or a container outside
            ``limits.containers``.
    """
    p, size = check_file(path, limits)
    try:
        with p.open("rb") as f:
            head = f.read(HEAD_BYTES)
    except OSError as exc:
        raise MediaError(f"{p}: cannot be read ({exc.strerror})") from None
    found = detect_container(head)
    if found is None:
        kind = _playlist_kind(head)
        if kind is not None:
            raise MediaError(
                f"{p}: refused, the file is {kind}; talkgen only reads self-contained media files "
                "(playlists and concat lists can reference other files or URLs)"
            )
        raise MediaError(
            f"{p}: not a recognised media file (accepted containers: mp4/mov, mkv/webm, avi, ts, wav, flac, ogg, "
            "mp3, aac); convert it to mp4 or wav"
        )
    demuxers = {name for entry in limits.containers for name in entry.split(",")}
    if found.demuxer not in demuxers:
        raise MediaError(
            f"{p}: container {found.format!r} is not in the allowed list (MediaLimits.containers: "
            f"{', '.join(sorted(limits.containers))})"
        )
    return p, size, found
