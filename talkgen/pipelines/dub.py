"""Footage + new speech -> dubbed video: the one library entry point behind ``talkgen dub``, the web app's Dub tab
and the batch API's dub jobs. Writes ``out.mp4`` (or a lossless ``out.mkv``) and ``out.manifest.json`` (each
atomically).

Everything a user can get wrong (settings, the footage, the speech, the mouth source, the model folder) is checked
before torch is imported or a model is loaded, so a refusal comes back in well under a second.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from talkgen import SPEECH_RATE
from talkgen.errors import ConfigError, MediaError
from talkgen.media.limits import MediaLimits
from talkgen.pipelines.defaults import DUB_STEPS, FACE_CROP
from talkgen.pipelines.mouth import LENGTH_POLICIES, parse_extent, parse_face

MAX_FACES = 4  # faces tracked when one of them is chosen by index or box


@dataclass(frozen=True)
class DubConfig:
    """Run-time settings of a dub (the CLI's flags), validated here once.

    Attributes:
        strength: tau in [0, 1] (None: the pipeline's default). extent: ``mouth``, ``face``, ``frame`` or a number
            in [0, 1]. face: ``all``, a face index or ``x0,y0,x1,y1``. length_policy: ``pad``, ``trim`` or ``loop``.
        steps: sampling steps. seed: noise seed. max_side: longest processing side in pixels (None: the source's).
        max_faces: faces MediaPipe tracks (None: one for ``face="all"``, else ``MAX_FACES`` so that an index or a
            box can choose among them). crf: H.264 quality of the output (0: lossless H.264; the default 10 keeps
            unedited pixels within ~48 dB of the source decode, see ``benchmarks/bench_dub_encode.py``).
        face_crop: each face is dubbed in its own crop where it fills this share of the side, at the size the model
            was trained at (see ``LipSyncPipeline``); None: one pass over the whole frame (``--face-crop 0``).
        keep_background_db: mix the source's own audio track this many dB (<= 0) under the new speech, following
            the length policy (its frames' audio where a frame is shown again, silence on padding); None: only the
            new speech. The track is used as it is: give footage whose audio is the music-and-effects bed (its
            dialogue would otherwise be heard under the new lines).
        retime: re-time the footage's own mouths to the new speech before the diffusion pass, where the model has a
            mouth head (``LipSyncPipeline``'s ``retime``); False: the pass sees the footage as it is.
    """

    strength: float | None = None
    extent: str = "mouth"
    face: str = "all"
    length_policy: str = "pad"
    steps: int = DUB_STEPS
    seed: int = 0
    max_side: int | None = 256
    max_faces: int | None = None
    crf: int = 10
    face_crop: float | None = FACE_CROP
    keep_background_db: float | None = None
    retime: bool = True

    def __post_init__(self) -> None:
        if self.strength is not None and not 0.0 <= self.strength <= 1.0:
            raise ConfigError(f"strength must lie in [0, 1], got {self.strength}")
        parse_extent(self.extent)
        parse_face(self.face)
        if self.length_policy not in LENGTH_POLICIES:
            raise ConfigError(f"length policy must be one of {', '.join(LENGTH_POLICIES)}, got {self.length_policy!r}")
        if not 1 <= self.steps <= 1000:
            raise ConfigError(f"steps must be 1..1000, got {self.steps}")
        if self.max_side is not None and self.max_side < 16:
            raise ConfigError(f"max side must be >= 16 pixels, got {self.max_side}")
        if not 0 <= self.crf <= 51:
            raise ConfigError(f"crf must be 0..51 (0: lossless H.264, 10: the default), got {self.crf}")
        if self.face_crop is not None and not 0.1 <= self.face_crop <= 1.0:
            raise ConfigError(f"face crop must be 0.1..1 (the face's share of its crop; 0: off), got {self.face_crop}")
        if self.keep_background_db is not None and not -60.0 <= self.keep_background_db <= 0.0:
            raise ConfigError(f"background level must be -60..0 dB, got {self.keep_background_db}")
        if self.max_faces is None:
            object.__setattr__(self, "max_faces", 1 if self.face == "all" else MAX_FACES)
        if not 1 <= self.max_faces <= 16:
            raise ConfigError(f"max faces must be 1..16, got {self.max_faces}")


def load_speech(
    audio: str | Path | None, text: str | None, voice: str = "en-us", limits: MediaLimits | None = None
) -> np.ndarray:
    """The new speech as (N,) float32 at 16 kHz: an audio (or media) file, else ``text`` spoken offline.

    Raises:
        ConfigError: both or neither of ``audio`` and ``text``. MediaError: a refused, unreadable or empty file.
        SpeechError: an unknown voice.
    """
    from talkgen.audio.io import load_audio

    text = text if text and text.strip() else None
    if (audio is None or audio == "") == (text is None):
        raise ConfigError("give exactly one of new speech as an audio file or as text (with a voice)")
    if audio:
        wave = load_audio(audio, sample_rate=SPEECH_RATE, limits=limits)
    else:
        from talkgen.audio.tts import synthesize

        wave = synthesize(text, voice or "en-us", sample_rate=SPEECH_RATE).waveform
    if len(wave) == 0:
        raise MediaError(f"{audio or 'the text'}: the new speech is empty")
    return np.asarray(wave, dtype=np.float32)


def load_face_tracks(pairs: list[str], limits: MediaLimits | None = None) -> tuple[np.ndarray, list[int]]:
    """Per-face speech from ``FACE=FILE`` pairs (faces numbered from 1, left to right).

    Returns:
        ``(tracks (S, N) float32 at 16 kHz, edit_faces)``: S is the highest face named; faces not named get silence
        and are left as they are (``edit_faces`` lists the named ones, from 0).

    Raises:
        ConfigError: a malformed pair, a face named twice or beyond the model's ``MAX_FACES``. MediaError: a file.
    """
    from talkgen.audio.io import load_audio

    named: dict[int, np.ndarray] = {}
    for pair in pairs:
        face, sep, path = pair.partition("=")
        if not sep or not face.strip().isdigit() or not path:
            raise ConfigError(f"--audio-for {pair!r}: write FACE=FILE, faces numbered from 1 left to right (1=a.wav)")
        index = int(face)
        if not 1 <= index <= MAX_FACES:
            raise ConfigError(f"--audio-for {pair!r}: face {index} is not in 1..{MAX_FACES}")
        if index in named:
            raise ConfigError(f"--audio-for: face {index} is given two tracks; give each face one")
        wave = np.asarray(load_audio(path, sample_rate=SPEECH_RATE, limits=limits), dtype=np.float32)
        if not len(wave):
            raise MediaError(f"{path}: the speech for face {index} is empty")
        named[index] = wave
    if not named:
        raise ConfigError("give at least one --audio-for FACE=FILE")
    tracks = np.zeros((max(named), max(len(w) for w in named.values())), dtype=np.float32)
    for index, wave in named.items():
        tracks[index - 1, : len(wave)] = wave
    return tracks, sorted(k - 1 for k in named)


def mouth_locator(config: DubConfig, truth: str | Path | None = None, mouth_box: str | None = None):
    """Where the mouths come from: synthetic ground truth, a fixed box, or (default) MediaPipe face mesh."""
    from talkgen.pipelines.mouth import MediaPipeMouthLocator, StaticMouthLocator, TruthMouthLocator

    if truth is not None and mouth_box is not None:
        raise ConfigError("give at most one of a ground-truth file and a fixed mouth box")
    if truth is not None:
        from talkgen.synth.truth import GroundTruth

        return TruthMouthLocator(GroundTruth.load(truth))
    if mouth_box is not None:
        box = parse_face(mouth_box) if mouth_box.count(",") == 3 else None
        if not isinstance(box, tuple):
            raise ConfigError(f"--mouth-box must be x0,y0,x1,y1 in pixels, got {mouth_box!r}")
        return StaticMouthLocator(box)
    return MediaPipeMouthLocator(max_faces=config.max_faces)


def check_footage(video: str | Path, limits: MediaLimits | None = None):
    """Probe ``video`` (no decoding) and check it against ``limits``; its :class:`MediaInfo`."""
    from talkgen.media import probe

    info = probe(video, limits)
    if info.video is None:
        raise MediaError(f"{video}: no video stream to dub; give a video file (mp4, mov, mkv, webm, avi)")
    return info


OUTPUT_SUFFIXES = {".mp4": "h264", ".mkv": "ffv1"}


def output_encoding(output: str | Path, source_info) -> tuple[str, str]:
    """``(codec, pix_fmt)`` of a dub written to ``output``: FFV1 for ``.mkv``, else H.264 in the source's layout.

    Raises:
        ConfigError: another suffix.
    """
    from talkgen.media.video import h264_pix_fmt

    codec = OUTPUT_SUFFIXES.get(Path(output).suffix.lower())
    if codec is None:
        raise ConfigError(f"output {output} must end in .mp4 (H.264) or .mkv (lossless FFV1, for finishing)")
    source = source_info.video.pix_fmt if source_info is not None and source_info.video is not None else None
    return codec, "bgr0" if codec == "ffv1" else h264_pix_fmt(source)


def source_bed(video: str | Path, info, frame_index: np.ndarray, fps: float, limits=None) -> np.ndarray:
    """The source's audio laid along the output frames: each output frame carries the audio of the source frame
    it shows (``frame_index``; where ``pad`` holds the last frame, silence).
    Footage without audio gives silence."""
    from talkgen.audio.io import load_audio

    per_frame = SPEECH_RATE / fps
    out = np.zeros(int(round(len(frame_index) * per_frame)), dtype=np.float32)
    if info is None or not info.has_audio:
        return out
    source = np.asarray(load_audio(video, sample_rate=SPEECH_RATE, limits=limits), dtype=np.float32)
    for t, k in enumerate(np.asarray(frame_index)):
        if t and frame_index[t - 1] == k:  # a frame held by pad: silent after its first showing
            continue
        a, b = int(round(t * per_frame)), int(round((t + 1) * per_frame))
        src = source[int(round(k * per_frame)) : int(round(k * per_frame)) + (b - a)]
        out[a : a + len(src)] = src
    return out


def mix_background(speech: np.ndarray, bed: np.ndarray, db: float) -> np.ndarray:
    """``speech`` with ``bed`` ``db`` dB under it (same length as ``speech``), clipped to [-1, 1]."""
    bed = np.pad(bed[: len(speech)], (0, max(0, len(speech) - len(bed))))
    return np.clip(speech + bed * np.float32(10 ** (db / 20)), -1.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class DubReport:
    """What :func:`dub_video` wrote: the file, frame counts, faces found, the colour drift, chunks and timings."""

    output: Path
    num_frames: int
    source_frames: int
    fps: float
    face_frames: int
    processing_size: tuple[int, int]
    colour_drift: float
    seconds: float
    edit_mask: np.ndarray | None = None  # (T, H, W) blend weights of the edit (0: the source pixel is kept)
    codec: str = "h264"
    pix_fmt: str = "yuv420p"
    chunks: int = 1


CHUNK_BYTES = 48 << 20  # source pixels of one dub chunk (a chunk is at least one window of the model)
MAX_CHUNK_WINDOWS = 20  # windows per chunk at most (20 x 12 frames: ~10 s of 25 fps footage at 128 px)
WHOLE_CLIP_LATENTS = 21  # a model without a training window (foundation models): 81-frame chunks, Wan's clip length


def chunk_frames(pipe, frame_bytes: int, budget: int = CHUNK_BYTES) -> int:
    """Output frames per chunk of a long dub: whole windows of the model's (``window_frames``) latent span, as many
    as ``budget`` bytes of source frames hold (at least one, at most ``MAX_CHUNK_WINDOWS``); ``r k + 1`` frames, so
    that a chunk encodes to whole latents."""
    r = pipe.vae_scale_factor_temporal
    window = pipe.config.window_frames
    span = WHOLE_CLIP_LATENTS if window is None else (window - 1) // r + 1
    per_window = span * r  # video frames a window of latents adds
    windows = max(1, min(MAX_CHUNK_WINDOWS, budget // max(1, frame_bytes * per_window)))
    return r * (span * windows - 1) + 1


def _frames_at(video, frame_index: np.ndarray, limits=None):
    """Yield the source frames ``frame_index`` names, in order, decoding as it goes (a backward step, as ``loop``
    makes, decodes from the start again)."""
    from talkgen.media import iter_frames

    frames, position, frame = None, -1, None
    for k in np.asarray(frame_index):
        if k < position or frames is None:
            frames, position = iter_frames(video, limits), -1
        while position < k:
            frame = next(frames, None)
            if frame is None:
                raise MediaError(f"{video}: the footage ended at frame {position + 1} of {k + 1} while dubbing")
            position += 1
        yield frame


def _chunk_audio(speech: np.ndarray, start: int, stop: int, fps: float) -> np.ndarray:
    """Samples of output frames ``start..stop`` of (S, N) fitted tracks, with a frame of margin (cut by ``trim``)."""
    a, b = int(round(start * SPEECH_RATE / fps)), int(round((stop + 1) * SPEECH_RATE / fps))
    part = speech[:, a:b]
    return np.pad(part, ((0, 0), (0, b - a - part.shape[1])))


def dub_video(
    pipe,
    video: str | Path,
    output: str | Path,
    speech: np.ndarray,
    config: DubConfig | None = None,
    mouths=None,
    limits=None,
    edit_faces: list[int] | None = None,
    source_info=None,
    *,
    keep_mask: bool = False,
    chunk_bytes: int = CHUNK_BYTES,
    progress: Callable[[float, str], None] | None = None,
) -> DubReport:
    """Dub a video file with new 16 kHz ``speech`` into an H.264 + AAC mp4 (or FFV1 + FLAC mkv) with the new audio.

    ``speech`` is (N,), or (S, N) one track per face (left to right) with ``edit_faces`` the faces to re-time
    (see :func:`load_face_tracks`).

    Footage of any length runs in bounded memory: frames are decoded twice as a stream (once to find the mouths,
    once to dub), dubbed in chunks of whole model windows (:func:`chunk_frames`, at most ``chunk_bytes`` of source
    pixels) and written to the encoder as each chunk finishes. Each chunk is one pipeline call on its own frames,
    mouths and stretch of the fitted speech; a clip shorter than a chunk is one call. Mouths come from ``mouths``
    (default: MediaPipe face mesh with ``config.max_faces`` faces). An ``.mkv`` output is lossless FFV1 (outside the
    edit region the decoded frames are the source's, bit for bit); an ``.mp4`` is H.264 at ``config.crf`` in the
    source's chroma layout (``source_info``: its probe, else probed here). ``keep_mask`` keeps the whole (T, H, W)
    edit mask in the report (tests and benchmarks; it is as large as the video). ``progress(fraction, message)``
    is called after every denoising step of every chunk.

    Raises:
        MediaError: refused or unreadable footage. ValueError: bad settings.
    """
    import torch

    from talkgen.media import iter_frames
    from talkgen.media.video import VideoWriter
    from talkgen.pipelines.mouth import (
        MediaPipeMouthLocator,
        MouthTrack,
        audio_frames,
        count_frames,
        fit_audio,
        fit_length,
        locate_stream,
    )

    config = config or DubConfig()
    report = progress or (lambda fraction, message: None)
    started = time.perf_counter()
    info = source_info or check_footage(video, limits)
    if info.video is None or not info.video.fps or not info.width or not info.height:
        raise MediaError(f"{video}: no video stream with a frame rate and size to dub")
    fps, width_src, height_src = float(info.video.fps), int(info.width), int(info.height)

    # 1. One streamed pass: the mouths of every source frame (and the frame count).
    if isinstance(mouths, MouthTrack):
        track, source_frames = mouths, count_frames(iter_frames(video, limits))[0]
        if track.num_frames != source_frames:
            raise ValueError(f"mouth track has {track.num_frames} frames for a {source_frames}-frame video")
    else:
        track = locate_stream(mouths or MediaPipeMouthLocator(max_faces=config.max_faces), iter_frames(video, limits))
        source_frames = track.num_frames
    if not source_frames:
        raise MediaError(f"{video}: no frames decoded")

    # 2. The output length and the fitted speech, whole (audio is small); the frames follow in chunks.
    tracks = np.asarray(speech, dtype=np.float32)
    tracks = tracks[None] if tracks.ndim == 1 else tracks
    plan = fit_length(source_frames, audio_frames(tracks.shape[1], SPEECH_RATE, fps), config.length_policy)
    total = plan.num_frames
    fitted = np.stack([fit_audio(w, total, fps, SPEECH_RATE) for w in tracks])
    audio = np.clip(fitted.sum(axis=0), -1.0, 1.0)
    if config.keep_background_db is not None:
        bed = source_bed(video, info, plan.frame_index, fps, limits)
        audio = mix_background(audio, bed, config.keep_background_db)
    height, width = pipe.processing_size(height_src, width_src, max_side=config.max_side)
    size = chunk_frames(pipe, width_src * height_src * 3, chunk_bytes)
    starts = list(range(0, total, size))
    codec, pix_fmt = output_encoding(output, info)
    generator = torch.Generator().manual_seed(config.seed)
    masks: list[np.ndarray] = []
    face_frames, drift = 0, 0.0
    source = _frames_at(video, plan.frame_index, limits)
    bar_config = dict(getattr(pipe, "_progress_bar_config", {}))
    pipe.set_progress_bar_config(disable=True)  # progress goes through ``progress`` (one bar in the CLI)
    try:
        with VideoWriter(
            output, (width_src, height_src), fps, audio, SPEECH_RATE, crf=config.crf, pix_fmt=pix_fmt, codec=codec
        ) as writer:
            for k, start in enumerate(starts):
                stop = min(total, start + size)

                def step_done(_pipe, i, _t, _latents, k=k, start=start, stop=stop):
                    face, faces = _pipe.dub_pass  # each face crop runs all the steps
                    done = min(1.0, (k + (face + (i + 1) / config.steps) / faces) / len(starts))
                    report(done, f"dubbing frames {start + 1}-{stop} of {total}")

                index = plan.frame_index[start:stop]
                frames = np.stack([next(source) for _ in range(stop - start)])
                chunk = _chunk_audio(fitted, start, stop, fps)
                out = pipe(
                    frames,
                    chunk if len(chunk) > 1 else chunk[0],
                    mouths=track.take(index),
                    strength=config.strength,
                    extent=config.extent,
                    face=parse_face(config.face),
                    length_policy="trim",
                    fps=fps,
                    height=height,
                    width=width,
                    num_inference_steps=config.steps,
                    generator=generator,
                    edit_faces=edit_faces,
                    face_crop=config.face_crop,
                    retime=None if config.retime else False,
                    callback_on_step_end=step_done,
                )
                if len(out.frames) != len(frames):
                    raise RuntimeError(f"chunk at frame {start}: {len(out.frames)} frames came back of {len(frames)}")
                writer.write(out.frames)
                face_frames += int((out.mask > 0).any(axis=(1, 2)).sum())
                drift = max(drift, out.colour_drift)
                if keep_mask:
                    masks.append(out.mask)
                report((k + 1) / len(starts), f"dubbed {stop} of {total} frames")
    finally:
        pipe.set_progress_bar_config(**bar_config)
    return DubReport(
        writer.path, total, source_frames, fps, face_frames, (height, width), drift, time.perf_counter() - started,
        np.concatenate(masks) if keep_mask else None, codec, pix_fmt, len(starts),
    )  # fmt: skip


def dub_file(
    video: str | Path,
    output: str | Path,
    speech: np.ndarray,
    config: DubConfig | None = None,
    *,
    model: Path | None = None,
    random_weights: bool = False,
    mouths=None,
    limits: MediaLimits | None = None,
    progress: Callable[[float, str], None] | None = None,
    edit_faces: list[int] | None = None,
    source_info=None,
) -> dict:
    """Dub ``video`` with ``speech`` (16 kHz) into ``output`` (.mp4 or lossless .mkv) and ``output.manifest.json``.

    ``source_info``: the footage's :func:`check_footage` result when the caller already has it (else probed here).

    Returns:
        The manifest: input, output, settings, seed, model (path and weight hashes), frame counts, timings.
    """
    from talkgen.pipelines.loading import resolve_model

    config = config or DubConfig()
    output = Path(output)
    output_encoding(output, None)  # a wrong suffix is refused before anything runs
    report = progress or (lambda fraction, message: None)
    started = time.perf_counter()
    info = source_info or check_footage(video, limits)
    folder = None if random_weights else resolve_model(model)  # a missing model is refused before any import

    from talkgen.fs import atomic_write_text
    from talkgen.pipelines.generate import versions
    from talkgen.pipelines.loading import load_pipeline

    report(0.0, "loading the model")  # the first report comes after every check (a refusal draws no bar)
    pipe, model_info = load_pipeline("lipsync", folder, random_weights)
    loaded = time.perf_counter()
    report(0.2, "locating mouths")
    result = dub_video(
        pipe, video, output, speech, config, mouths=mouths, limits=limits, edit_faces=edit_faces, source_info=info,
        progress=lambda fraction, message: report(0.2 + 0.78 * fraction, message),
    )  # fmt: skip
    manifest = {
        "video": str(video),
        "output": str(result.output),
        "speech_s": round(np.shape(speech)[-1] / SPEECH_RATE, 3),
        "face_tracks": None if np.ndim(speech) == 1 else {"tracks": len(speech), "edited": edit_faces},
        "settings": asdict(config),
        "seed": config.seed,
        "model": model_info,
        "fps": result.fps,
        "frames": result.num_frames,
        "source_frames": result.source_frames,
        "mouth_frames": result.face_frames,
        "processing_size": list(result.processing_size),
        "encode": {
            "codec": result.codec,
            "pix_fmt": result.pix_fmt,
            "crf": None if result.codec == "ffv1" else config.crf,
        },
        "colour_drift": round(result.colour_drift, 3),
        "chunks": result.chunks,
        "versions": versions(),
        "timings": {"load_s": round(loaded - started, 3), "dub_s": round(result.seconds, 3),
                    "total_s": round(time.perf_counter() - started, 3)},
    }  # fmt: skip
    atomic_write_text(output.with_suffix(".manifest.json"), json.dumps(manifest, indent=1))
    report(1.0, "done")
    return manifest
