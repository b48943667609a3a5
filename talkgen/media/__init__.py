"""Safe media I/O: probe untrusted files before decoding, read frames (bounded), write H.264 + AAC mp4.

Public API:

- :class:`MediaLimits` (frozen dataclass): ``max_bytes``, ``max_duration``, ``max_width``, ``max_height``,
  ``max_pixels``, ``max_fps``, ``max_streams``, ``max_decoded_bytes``, ``containers``, ``video_codecs``,
  ``audio_codecs``, ``probe_timeout``, ``decode_timeout``; :data:`DEFAULT_LIMITS`.
- :class:`MediaInfo` / :class:`StreamInfo`: what :func:`probe` found (container, streams, duration, size, fps).
- ``probe(path, limits=None) -> MediaInfo``: content sniffing (playlists/concat lists/SDP/non-media refused by
  content), forced demuxer, ``ffmpeg -i`` with a timeout, every limit checked.
- ``read_video(path, limits=None, *, fps=None, size=None, max_frames=None) -> (uint8 (T, H, W, 3), fps)``.
- ``iter_frames(path, limits=None, *, fps=None, size=None, max_frames=None)`` yields ``uint8 (H, W, 3)``.
- ``VideoWriter(path, (width, height), fps, audio=None, ...)``: a context manager that encodes frames written a
  chunk at a time (the video is never held whole); ``write_video(path, frames, fps, audio=None, ...) -> Path``:
  H.264 (yuv420p) + AAC mp4 with ``+faststart``, written to a temp name and renamed atomically.

Audio loading lives in :mod:`talkgen.audio.io` (``load_audio``, ``save_wav``). Every ffmpeg call uses the binary
bundled with imageio-ffmpeg, list arguments (never a shell) and ``-protocol_whitelist file,pipe``. Every refusal
is a :class:`talkgen.errors.MediaError` naming the file and the limit. Face landmarks live in
:mod:`talkgen.media.faces` (not imported here: it needs mediapipe).
"""

from __future__ import annotations

from talkgen.media.limits import DEFAULT_LIMITS, MediaLimits
from talkgen.media.probe import MediaInfo, StreamInfo, probe
from talkgen.media.video import VideoWriter, iter_frames, read_video, write_video

__all__ = [
    "DEFAULT_LIMITS",
    "MediaInfo",
    "MediaLimits",
    "StreamInfo",
    "VideoWriter",
    "iter_frames",
    "probe",
    "read_video",
    "write_video",
]
