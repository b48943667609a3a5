"""Decoding video frames (bounded) and writing H.264 + AAC mp4 files (atomically) with the bundled ffmpeg."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from talkgen import SPEECH_RATE
from talkgen.errors import MediaError
from talkgen.fs import atomic_path
from talkgen.media._ffmpeg import FfmpegStream, error_lines, ffmpeg_command
from talkgen.media.limits import DEFAULT_LIMITS, MediaLimits
from talkgen.media.probe import MediaInfo, probe
from talkgen.media.sniff import demuxer_options

logger = logging.getLogger(__name__)
# Chroma is upsampled by repetition on decode and averaged over the same 2x2 blocks on encode, with exact rounding:
# an unedited frame then survives decode -> encode -> decode nearly bit-exactly (99% of pixels equal at crf 0,
# measured in benchmarks/bench_dub_encode.py), where swscale's bicubic defaults lose ~13 dB at every pass.
DECODE_SWS_FLAGS = "neighbor+accurate_rnd+full_chroma_int"
ENCODE_SWS_FLAGS = "area+accurate_rnd+full_chroma_int"

_CORRUPT_MARKERS = ("partial file", "invalid data", "corrupt", "error while decoding", "truncat")


def rate_string(fps: float) -> str:
    """An exact ffmpeg rate for ``fps`` (``29.97002997 -> "30000/1001"``, ``25.0 -> "25"``)."""
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive finite number, got {fps!r}")
    frac = Fraction(fps).limit_denominator(1001)
    return str(frac.numerator) if frac.denominator == 1 else f"{frac.numerator}/{frac.denominator}"


def _decode_plan(
    info: MediaInfo, limits: MediaLimits, fps: float | None, size: tuple[int, int] | None
) -> tuple[list[str], int, int, float, int]:
    """The ffmpeg command, output width/height/fps and the hard frame cap for decoding ``info``'s video."""
    v = info.video
    if v is None or info.width is None or info.height is None or v.fps is None:
        raise MediaError(f"{info.path}: has no video stream")
    out_fps = float(fps) if fps is not None else v.fps
    width, height = (int(size[0]), int(size[1])) if size is not None else (info.width, info.height)
    if width <= 0 or height <= 0 or width * height > limits.max_pixels:
        raise ValueError(f"size must be positive and at most {limits.max_pixels} pixels, got {width}x{height}")
    filters = []
    if fps is not None:
        filters.append(f"fps={rate_string(out_fps)}")
    if size is not None:
        filters.append(f"scale={width}:{height}:flags=bicubic")
    outputs = ["-map", f"0:{v.index}", "-loglevel", "error", "-nostats"]
    if filters:
        outputs += ["-vf", ",".join(filters)]
    outputs += ["-sws_flags", DECODE_SWS_FLAGS, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    cmd = ffmpeg_command([(demuxer_options(info.demuxer), str(info.path))], outputs)
    cap = math.floor(limits.max_duration * out_fps) + 2
    return cmd, width, height, out_fps, cap


def _check_decode_end(info: MediaInfo, rc: int, stderr: str, n: int, out_fps: float, stopped_early: bool) -> None:
    path = info.path
    if stopped_early:
        return
    if rc != 0:
        raise MediaError(f"{path}: decoding failed (ffmpeg exit {rc}): {error_lines(stderr) or 'no details'}")
    if n == 0:
        raise MediaError(f"{path}: no frames could be decoded (truncated or corrupt?)")
    expected = info.duration * out_fps if info.duration is not None else None
    corrupt = any(m in stderr.lower() for m in _CORRUPT_MARKERS)
    if corrupt and (expected is None or n < 0.9 * expected):
        detail = f"decoded {n} of about {expected:.0f} frames" if expected else f"decoded {n} frames"
        raise MediaError(f"{path}: the file is truncated or corrupt ({detail}): {error_lines(stderr)}")
    if corrupt:
        logger.warning("%s: decoder reported errors (%s) but %d frames were decoded", path, error_lines(stderr), n)


def iter_frames(
    path: str | os.PathLike[str],
    limits: MediaLimits | None = None,
    *,
    fps: float | None = None,
    size: tuple[int, int] | None = None,
    max_frames: int | None = None,
) -> Iterator[np.ndarray]:
    """Yield decoded RGB frames one at a time, ``uint8 (H, W, 3)``, without holding the video in memory.

    Same arguments and checks as :func:`read_video`; stops after ``max_frames`` frames when given.
    """
    limits = limits or DEFAULT_LIMITS
    info = probe(path, limits)
    cmd, width, height, out_fps, cap = _decode_plan(info, limits, fps, size)
    frame_bytes = width * height * 3
    n = 0
    with FfmpegStream(cmd, timeout=limits.decode_timeout, what=str(info.path)) as stream:
        while max_frames is None or n < max_frames:
            buf = stream.read_exact(frame_bytes)
            if len(buf) < frame_bytes:
                break
            n += 1
            if n > cap:
                raise MediaError(
                    f"{info.path}: more than {limits.max_duration:g} s of video while decoding (max_duration)"
                )
            yield np.frombuffer(buf, np.uint8).reshape(height, width, 3)
        stopped = max_frames is not None and n >= max_frames
        if stopped:
            stream.close()
            return
        rc, stderr = stream.finish()
    _check_decode_end(info, rc, stderr, n, out_fps, stopped)


def read_video(
    path: str | os.PathLike[str],
    limits: MediaLimits | None = None,
    *,
    fps: float | None = None,
    size: tuple[int, int] | None = None,
    max_frames: int | None = None,
) -> tuple[np.ndarray, float]:
    """Decode a video file's first video stream into memory.

    Args:
        path: a local media file; probed and checked against ``limits`` first.
        limits: bounds (default :data:`DEFAULT_LIMITS`); ``max_decoded_bytes`` bounds the returned array and
            ``max_duration`` is enforced again while decoding (headers can lie).
        fps: resample to this frame rate (ffmpeg ``fps`` filter); the file's own rate when ``None``.
        size: ``(width, height)`` to scale to; the decoded (rotation-applied) size when ``None``.
        max_frames: stop after this many frames.

    Returns:
        ``(frames, fps)``: ``uint8`` array ``(T, H, W, 3)`` RGB and the frame rate of ``frames``.

    Raises:
        MediaError: refused by :func:`probe`, too large to hold (``max_decoded_bytes``), truncated or corrupt,
            or decoding exceeded ``limits.decode_timeout``.
    """
    limits = limits or DEFAULT_LIMITS
    info = probe(path, limits)
    cmd, width, height, out_fps, cap = _decode_plan(info, limits, fps, size)
    frame_bytes = width * height * 3
    mem_cap = limits.max_decoded_bytes // frame_bytes
    want = min(cap, max_frames) if max_frames is not None else cap
    expected = math.ceil(info.duration * out_fps) + 2 if info.duration is not None else 256
    if max_frames is None and info.duration is not None and expected - 2 > mem_cap:
        raise MediaError(
            f"{info.path}: about {expected - 2} frames of {width}x{height} need {(expected - 2) * frame_bytes} bytes, "
            f"over the limit of {limits.max_decoded_bytes} bytes (max_decoded_bytes); use iter_frames, max_frames, "
            "a smaller size or a lower fps"
        )
    frames = np.empty((max(1, min(expected, want, mem_cap)), height, width, 3), np.uint8)
    n = 0
    with FfmpegStream(cmd, timeout=limits.decode_timeout, what=str(info.path)) as stream:
        stdout = stream.proc.stdout
        while n < want:
            if n == len(frames):  # header under-estimated the length: grow
                if n >= mem_cap:
                    raise MediaError(
                        f"{info.path}: decoded frames exceed {limits.max_decoded_bytes} bytes (max_decoded_bytes)"
                    )
                grown = np.empty((min(2 * n, want, mem_cap), height, width, 3), np.uint8)
                grown[:n] = frames[:n]
                frames = grown
            view = memoryview(frames[n]).cast("B")
            got = 0
            while got < frame_bytes:
                r = stdout.readinto(view[got:]) if stdout is not None else 0
                if not r:
                    break
                got += r
            if got < frame_bytes:
                break
            n += 1
        stopped = n >= want and max_frames is not None and n >= max_frames
        if n >= cap and not stopped and stream.read_exact(1):
            raise MediaError(
                f"{info.path}: more than {limits.max_duration:g} s of video while decoding (max_duration)"
            )
        if stopped:
            stream.close()
            rc, stderr = 0, ""
        else:
            rc, stderr = stream.finish()
    _check_decode_end(info, rc, stderr, n, out_fps, stopped)
    return frames[:n] if n < len(frames) else frames, out_fps


def _as_uint8_frames(frames: object) -> np.ndarray:
    if hasattr(frames, "detach"):  # a torch tensor
        frames = frames.detach().cpu().numpy()
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] < 1:
        raise ValueError(f"frames must have shape (T, H, W, 3) with T >= 1, got {arr.shape}")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ValueError("frames contain NaN or infinite values")
        return np.ascontiguousarray(np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8))
    raise ValueError(f"frames must be uint8 in [0, 255] or float in [0, 1], got dtype {arr.dtype}")


def _as_audio(audio: object) -> np.ndarray:
    if hasattr(audio, "detach"):
        audio = audio.detach().cpu().numpy()
    arr = np.asarray(audio, dtype=np.float32)
    if arr.ndim == 2 and arr.shape[1] > 2 and arr.shape[0] <= 2:
        arr = arr.T  # (C, N) -> (N, C)
    if arr.ndim not in (1, 2) or (arr.ndim == 2 and arr.shape[1] not in (1, 2)) or arr.shape[0] == 0:
        raise ValueError(f"audio must be (N,) mono or (N, C) with C in (1, 2), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("audio contains NaN or infinite values")
    return arr


VIDEO_CODECS = ("h264", "ffv1")
H264_PIX_FMTS = ("yuv420p", "yuv422p", "yuv444p")


def h264_pix_fmt(source: str | None) -> str:
    """The H.264 chroma layout that keeps a source's: ``yuv444p``/``yuv422p`` (any depth or range) stay, else 4:2:0.

    Frames pass through 8-bit RGB, so a 10-bit source comes back 8-bit in its own chroma layout.
    """
    name = (source or "").replace("yuvj", "yuv")
    for layout in ("yuv444p", "yuv422p"):
        if name.startswith(layout):
            return layout
    return "yuv420p"


class VideoWriter:
    """Encode frames chunk by chunk to an H.264 + AAC mp4, or a lossless FFV1 + FLAC mkv, atomically.

    The whole video never has to be in memory: open it with the frame size, ``write`` frames as they are made,
    and leave the ``with`` block. The file appears at ``path`` only when the block ends without an error (it is
    written to a temporary name beside it, fsynced, then renamed); on an error nothing is left behind.

    Args:
        path: output file. size: ``(width, height)`` of every frame. Odd sides are padded by one edge
            row/column where the chroma layout needs even sides.
        fps: frame rate (any positive value; NTSC rates are written exactly).
        audio: ``(N,)`` mono or ``(N, C)`` float waveform in [-1, 1] at ``sample_rate``; ``None`` for no track.
            It is muxed as is: the file lasts as long as the longer of video and audio.
        sample_rate: audio sample rate in Hz.
        crf, preset: libx264 quality (0 = lossless H.264, 18 = visually lossless) and speed.
        audio_bitrate: AAC bitrate.
        timeout: seconds before encoding is abandoned.
        pix_fmt: H.264 chroma layout, one of :data:`H264_PIX_FMTS` (``yuv444p`` keeps full colour resolution).
        codec: ``h264`` (an .mp4) or ``ffv1`` (an .mkv of the RGB frames, bit-exact, with FLAC audio: for a
            finishing pipeline).

    Raises:
        ValueError: malformed size, frames, audio or settings. MediaError: ffmpeg failed (its message included).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        size: tuple[int, int],
        fps: float,
        audio: np.ndarray | None = None,
        sample_rate: int = SPEECH_RATE,
        *,
        crf: int = 18,
        preset: str = "veryfast",
        audio_bitrate: str = "128k",
        timeout: float = 600.0,
        pix_fmt: str = "yuv420p",
        codec: str = "h264",
    ) -> None:
        if codec not in VIDEO_CODECS:
            raise ValueError(f"codec must be one of {', '.join(VIDEO_CODECS)}, got {codec!r}")
        if codec == "h264" and pix_fmt not in H264_PIX_FMTS:
            raise ValueError(f"pix_fmt must be one of {', '.join(H264_PIX_FMTS)}, got {pix_fmt!r}")
        if not 0 <= int(crf) <= 51:
            raise ValueError(f"crf must be 0..51 (0: lossless H.264), got {crf}")
        width, height = (int(v) for v in size)
        if width < 1 or height < 1:
            raise ValueError(f"size must be (width, height) >= 1, got {size}")
        self.path = Path(path)
        self.size = (width, height)
        self.frames_written = 0
        self._rate = rate_string(fps)
        self._wav = _as_audio(audio) if audio is not None else None
        if self._wav is not None and (not isinstance(sample_rate, int) or sample_rate <= 0):
            raise ValueError(f"sample_rate must be a positive int, got {sample_rate!r}")
        self._sample_rate = sample_rate
        even = {"yuv420p": (2, 2), "yuv422p": (1, 2)}.get(pix_fmt, (1, 1)) if codec == "h264" else (1, 1)
        self._pad = (height % even[0], width % even[1])
        if any(self._pad):
            logger.warning("%s: padding odd frame size %dx%d to even for %s", self.path, width, height, pix_fmt)
        self._codecs = (codec, pix_fmt, int(crf), preset, audio_bitrate)
        self._timeout = timeout
        self._stack: contextlib.ExitStack | None = None
        self._stream: FfmpegStream | None = None
        self._broken = False

    def __enter__(self) -> VideoWriter:
        codec, pix_fmt, crf, preset, audio_bitrate = self._codecs
        w, h = self.size[0] + self._pad[1], self.size[1] + self._pad[0]
        with contextlib.ExitStack() as stack:
            tmpdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="talkgen-mux-"))
            self._tmp_out = stack.enter_context(atomic_path(self.path, suffix=".part"))
            inputs: list[tuple[list[str], str]] = [
                (["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-framerate", self._rate], "pipe:0")
            ]
            maps = ["-map", "0:v:0"]
            if codec == "ffv1":  # RGB stored as is: decoding gives back the exact frames
                codecs = ["-c:v", "ffv1", "-level", "3", "-pix_fmt", "bgr0"]
            else:
                codecs = ["-sws_flags", ENCODE_SWS_FLAGS, "-c:v", "libx264", "-preset", preset, "-crf", str(crf)]
                codecs += ["-pix_fmt", pix_fmt]
            if self._wav is not None:
                import soundfile as sf

                wav_path = os.path.join(tmpdir, "audio.wav")
                sf.write(wav_path, self._wav, self._sample_rate, subtype="FLOAT")
                inputs.append((["-f", "wav"], wav_path))
                maps += ["-map", "1:a:0"]
                codecs += ["-c:a", "flac"] if codec == "ffv1" else ["-c:a", "aac", "-b:a", audio_bitrate]
            container = ["-f", "matroska"] if codec == "ffv1" else ["-movflags", "+faststart", "-f", "mp4"]
            outputs = [*maps, *codecs, "-loglevel", "error", "-nostats", "-y", *container]
            cmd = ffmpeg_command(inputs, [*outputs, str(self._tmp_out)])
            self._stream = stack.enter_context(
                FfmpegStream(cmd, timeout=self._timeout, what=str(self.path), stdin_pipe=True)
            )
            self._stack = stack.pop_all()
        return self

    def write(self, frames: object) -> None:
        """Append ``(T, H, W, 3)`` (or one ``(H, W, 3)``) RGB frames: ``uint8``, or float in [0, 1]."""
        if self._stream is None:
            raise RuntimeError("VideoWriter.write outside its with block")
        arr = frames.detach().cpu().numpy() if hasattr(frames, "detach") else np.asarray(frames)
        video = _as_uint8_frames(arr[None] if arr.ndim == 3 else arr)
        if video.shape[1:3] != (self.size[1], self.size[0]):
            raise ValueError(f"frames are {video.shape[2]}x{video.shape[1]}, the writer {self.size[0]}x{self.size[1]}")
        if any(self._pad):
            video = np.pad(video, ((0, 0), (0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        stdin = self._stream.proc.stdin
        try:
            for frame in video:
                if stdin is None:
                    raise BrokenPipeError
                stdin.write(memoryview(frame).cast("B"))
        except BrokenPipeError:
            self._broken = True
            rc, stderr = self._stream.finish()
            raise self._failed(rc, stderr) from None
        self.frames_written += len(video)

    def _failed(self, rc: int, stderr: str) -> MediaError:
        return MediaError(f"{self.path}: encoding failed (ffmpeg exit {rc}): {error_lines(stderr) or 'no details'}")

    def __exit__(self, exc_type, exc, tb) -> None:
        stack, stream, self._stack, self._stream = self._stack, self._stream, None, None
        if stack is None or stream is None:
            return
        if exc_type is not None:
            stack.__exit__(exc_type, exc, tb)  # kills ffmpeg, removes the temporary file
            return
        try:
            if not self.frames_written:
                raise ValueError(f"{self.path}: no frames were written")
            stdin = stream.proc.stdin
            try:
                if stdin is not None:
                    stdin.close()
            except BrokenPipeError:
                self._broken = True
            rc, stderr = stream.finish()
            if rc != 0 or self._broken:
                raise self._failed(rc, stderr)
        except BaseException as error:
            stack.__exit__(type(error), error, error.__traceback__)
            raise
        stack.__exit__(None, None, None)
        logger.debug("wrote %s: %d frames %dx%d at %s fps", self.path, self.frames_written, *self.size, self._rate)


def write_video(
    path: str | os.PathLike[str],
    frames: np.ndarray,
    fps: float,
    audio: np.ndarray | None = None,
    sample_rate: int = SPEECH_RATE,
    **options,
) -> Path:
    """Encode frames (and optionally an audio track) to an H.264 + AAC mp4, or a lossless FFV1 + FLAC mkv, atomically.

    Args:
        path: output file; written to a temporary name in the same directory, fsynced, then renamed.
        frames: ``(T, H, W, 3)`` RGB, ``uint8`` in [0, 255] or float in [0, 1] (numpy or a CPU/GPU tensor).
        fps, audio, sample_rate, options (``crf``, ``preset``, ``audio_bitrate``, ``timeout``, ``pix_fmt``,
            ``codec``): as :class:`VideoWriter`, which streams frames made a chunk at a time.

    Returns:
        The written path.

    Raises:
        ValueError: malformed frames/audio/fps.
        MediaError: ffmpeg failed (its message included). Missing parent directories are created.
    """
    video = _as_uint8_frames(frames)
    with VideoWriter(path, (video.shape[2], video.shape[1]), fps, audio, sample_rate, **options) as writer:
        writer.write(video)
    return writer.path
