"""Scene rendering: a :class:`~talkgen.prompts.ShotPlan` -> per-line speech -> per-character streams -> clips.

:func:`render_scene` runs the pipeline once per planned clip (each clip a long take in windows when it is longer
than ``window_frames``), with one 16 kHz audio stream per visible character (silence where that character does
not speak), and returns the stitched frames, the mixed dialogue track and timings. Characters with an ``image:``
give each clip a reference first frame (:func:`reference_frame`: the visible characters' images side by side, in
on-screen order). :func:`subtitles_srt` writes the plan's lines as SubRip subtitles.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from talkgen import SPEECH_RATE
from talkgen.errors import ConfigError
from talkgen.media.images import MAX_IMAGE_PIXELS
from talkgen.pipelines.defaults import GENERATE_STEPS, KEYFRAME_STEPS, MAX_KEYFRAME_DRAWS
from talkgen.pipelines.guidance import GuidanceConfig

logger = logging.getLogger(__name__)

NEUTRAL_GREY = 128  # the panel of a visible character without an image


def check_take_settings(
    keyframe_steps: int, reference_anchor: float | None, keyframe_draws: int | None = None
) -> None:
    """A ``ConfigError`` naming the setting when the keyframe's steps or draws or the reference anchor are out of
    range."""
    if keyframe_steps < 1:
        raise ConfigError(f"keyframe_steps must be >= 1, got {keyframe_steps}")
    if keyframe_draws is not None and not 1 <= keyframe_draws <= MAX_KEYFRAME_DRAWS:
        raise ConfigError(
            f"keyframe_draws must lie in [1, {MAX_KEYFRAME_DRAWS}] (1: one draw; leave it unset for the model's own),"
            f" got {keyframe_draws}"
        )
    if reference_anchor is not None and not 0.0 <= reference_anchor <= 1.0:
        raise ConfigError(
            "reference_anchor must lie in [0, 1] (0: no anchor, 1: every window from the take's first frame;"
            f" leave it unset for the model's own), got {reference_anchor}"
        )


@dataclass(frozen=True)
class SceneRenderConfig:
    """Run-time options of :func:`render_scene`.

    Attributes:
        seed: seeds one generator per clip (``seed + clip index``). num_inference_steps: steps per window.
        height, width: pixels (multiples of 16). window_frames: video frames per window (4 k + 1); None: the
            model's own window (``pipe.config.window_frames``, the clip length it was trained on).
        guidance: CFG settings. keyframe: draw each take's first frame with the model's keyframe transformer
            (when it has one and the take has no reference image); False generates it with the video transformer.
            keyframe_steps: the keyframe transformer's sampling steps. keyframe_draws: first frames drawn for a
            one-character take whose prompt names colours, the one the model's attribute reader reads most like them
            kept; None: the model's (``pipe.config.keyframe_draws``, else 1).
        retime: re-time each take's generated mouths to its speech (when the model has a mouth head and a mouth
            locator); False keeps the mouths the video transformer draws.
        reference_anchor: share of each take's first frame blended into the motion latents of its later windows, in
            [0, 1]; None: the model's (``pipe.config.reference_anchor``, else 0).
    """

    seed: int = 0
    num_inference_steps: int = GENERATE_STEPS
    height: int = 128
    width: int = 128
    window_frames: int | None = None
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig.default)
    keyframe: bool = True
    retime: bool = True
    reference_anchor: float | None = None
    keyframe_steps: int = KEYFRAME_STEPS
    keyframe_draws: int | None = None

    def __post_init__(self) -> None:
        check_take_settings(self.keyframe_steps, self.reference_anchor, self.keyframe_draws)
        if self.num_inference_steps < 1:
            raise ConfigError(f"num_inference_steps must be >= 1, got {self.num_inference_steps}")
        if self.height <= 0 or self.width <= 0 or self.height % 16 or self.width % 16:
            raise ConfigError(f"height and width must be positive multiples of 16, got {self.height}x{self.width}")
        if self.window_frames is not None and (self.window_frames < 5 or (self.window_frames - 1) % 4):
            raise ConfigError(f"window_frames must be 4 k + 1 and >= 5, got {self.window_frames}")


@dataclass
class SceneResult:
    """``frames`` (T, H, W, 3) float in [0, 1]; ``audio`` (N,) dialogue at 16 kHz; ``timings`` in seconds;
    ``keyframe``: whether the keyframe transformer drew some take's first frame; ``retimed``: whether the takes'
    mouths were re-timed to their speech."""

    frames: np.ndarray
    audio: np.ndarray
    sample_rate: int
    timings: dict[str, float]
    keyframe: bool = False
    retimed: bool = False


def line_waveforms(plan, sample_rate: int = SPEECH_RATE) -> list[np.ndarray]:
    """(N,) float32 speech of every line of ``plan.scene``: its audio file, else offline TTS in the speaker's voice."""
    from talkgen.audio.io import load_audio
    from talkgen.audio.tts import synthesize

    waves = []
    for line in plan.scene.lines:
        if line.audio is not None:
            waves.append(load_audio(line.audio, sample_rate=sample_rate).astype(np.float32))
            continue
        voice = plan.scene.character(line.speaker).voice
        speech = synthesize(
            line.text or "", voice.name, variant=voice.variant, rate=voice.rate, pitch=voice.pitch,
            sample_rate=sample_rate,
        )  # fmt: skip
        waves.append(speech.waveform)
    return waves


def _place(track: np.ndarray, wave: np.ndarray, start: float, offset: float, duration: float, rate: int) -> None:
    """Add ``wave[offset : offset + duration]`` (seconds) into ``track`` at ``start`` seconds."""
    a, src = round(start * rate), round(offset * rate)
    n = min(round(duration * rate), len(wave) - src, len(track) - a)
    if n > 0:
        track[a : a + n] += wave[src : src + n]


def dialogue_track(plan, waves: list[np.ndarray], sample_rate: int = SPEECH_RATE) -> np.ndarray:
    """(N,) mix of every line at its start on the timeline, ``plan.duration`` seconds long."""
    track = np.zeros(round(plan.duration * sample_rate), dtype=np.float32)
    for planned in plan.lines:
        wave = waves[planned.index]
        _place(track, wave, planned.start, 0.0, len(wave) / sample_rate, sample_rate)
    return np.clip(track, -1.0, 1.0)


def clip_tags(clip) -> tuple[str, ...]:
    """The characters of a clip in on-screen (stream) order: the visible ones, else the speakers."""
    return tuple(clip.visible) or tuple(clip.speakers) or ("@silent",)


def clip_streams(clip, waves: list[np.ndarray], sample_rate: int = SPEECH_RATE) -> tuple[tuple[str, ...], np.ndarray]:
    """Per-character audio of one clip: (tags, (S, N) float32), one stream per visible character (max 4)."""
    tags = clip_tags(clip)
    extra = [seg.tag for seg in clip.segments if seg.tag not in tags]
    if extra:
        logger.warning("clip %d: speakers %s are not visible; their speech is not used for faces", clip.index, extra)
    if len(tags) > 4:
        raise ValueError(f"clip {clip.index} shows {len(tags)} characters; at most 4 are supported")
    streams = np.zeros((len(tags), max(1, round(clip.duration * sample_rate))), dtype=np.float32)
    for seg in clip.segments:
        if seg.tag in tags:
            wave = waves[seg.line_index]
            _place(streams[tags.index(seg.tag)], wave, seg.clip_offset, seg.line_offset, seg.duration, sample_rate)
    return tags, streams


def load_reference_image(path: str | Path, max_pixels: int = MAX_IMAGE_PIXELS):
    """A character's reference image as a loaded RGB ``PIL.Image`` (:func:`talkgen.media.images.load_image`).

    Raises:
        MediaError: missing, unreadable, unsupported or oversized file (names the file and the fix).
    """
    from talkgen.media.images import load_image

    return load_image(
        path,
        max_pixels=max_pixels,
        label=f"reference image {Path(path).name}",
        fix="use a .png, .jpg or .webp image in the character's `image:` field",
        shrink="resize it (a few hundred pixels a side is plenty)",
    )


def reference_frame(images: list, height: int, width: int) -> np.ndarray | None:
    """Compose a reference first frame from one image per visible character (left to right, None = no image).

    Each image is scaled to cover its share of the width (aspect kept, centre-cropped); characters without an
    image get a neutral mid-grey panel.

    Returns:
        (height, width, 3) uint8, or None when no character has an image.
    """
    from PIL import Image, ImageOps

    if all(im is None for im in images):
        return None
    frame = np.full((height, width, 3), NEUTRAL_GREY, dtype=np.uint8)
    edges = [round(k * width / len(images)) for k in range(len(images) + 1)]
    for im, x0, x1 in zip(images, edges, edges[1:], strict=False):
        if im is not None and x1 > x0:
            panel = ImageOps.fit(im, (x1 - x0, height), method=Image.Resampling.BICUBIC)
            frame[:, x0:x1] = np.asarray(panel, dtype=np.uint8)
    return frame


def clip_references(plan, height: int, width: int) -> list[np.ndarray | None]:
    """One reference frame per clip of ``plan`` (:func:`reference_frame` of its visible characters' images).

    Every image is opened once, before anything is generated, so a bad file fails fast.
    """
    opened: dict[Path, object] = {}
    for char in plan.scene.characters:
        if char.image is not None and char.image not in opened:
            opened[char.image] = load_reference_image(char.image)
    if not opened:
        return [None] * len(plan.clips)
    refs = []
    for clip in plan.clips:
        images = []
        for tag in clip_tags(clip):
            try:
                image = plan.scene.character(tag).image
            except KeyError:
                image = None
            images.append(None if image is None else opened[image])
        refs.append(reference_frame(images, height, width))
    return refs


def render_scene(
    pipe,
    plan,
    config: SceneRenderConfig,
    waves: list[np.ndarray] | None = None,
    on_step: Callable[[int, int, int], None] | None = None,
) -> SceneResult:
    """Generate every clip of ``plan`` with ``pipe`` and stitch them.

    Args:
        pipe: a :class:`~talkgen.pipelines.pipeline_talking.TalkingCharacterPipeline`.
        plan: the shot plan. config: run-time options. waves: per-line speech (default: :func:`line_waveforms`).
        on_step: ``f(clip_index, done, total)`` after every denoising step, ``done`` of the scene's ``total``
            steps (every window of every clip runs every step); for progress, and it may raise to cancel.

    Returns:
        :class:`SceneResult` with ``plan.num_frames`` frames.

    Raises:
        MediaError: a character's reference image cannot be used (checked before any speech or generation).
    """
    timings: dict[str, float] = {}
    references = clip_references(plan, config.height, config.width)
    start = time.perf_counter()
    waves = line_waveforms(plan) if waves is None else waves
    timings["speech_s"] = time.perf_counter() - start
    pieces = []
    frame_counts = [4 * math.ceil((clip.num_frames - 1) / 4) + 1 for clip in plan.clips]  # the causal VAE's 4 k + 1
    windows = [None if config.window_frames is None else min(f, config.window_frames) for f in frame_counts]
    if on_step is not None:  # progress: every window of every clip runs every step
        windows_per_take = [len(pipe.window_plan(f, w).starts) for f, w in zip(frame_counts, windows, strict=True)]
        total = config.num_inference_steps * sum(windows_per_take)
    done = itertools.count(1)

    def step_done(clip_index: int) -> Callable:
        def callback(pipe, step: int, timestep, tensors: dict) -> dict:
            on_step(clip_index, next(done), total)
            return tensors

        return callback

    start = time.perf_counter()
    for clip, reference, frames, window in zip(plan.clips, references, frame_counts, windows, strict=True):
        _, streams = clip_streams(clip, waves)
        min_samples = math.ceil(frames / plan.fps * SPEECH_RATE) + 1
        if streams.shape[1] < min_samples:
            streams = np.pad(streams, ((0, 0), (0, min_samples - streams.shape[1])))
        # the noise is drawn on the CPU whatever the device, so a seed renders the same scene on a GPU as on a CPU
        # (on an H200 the shipped model's scores with CPU noise matched the CPU run's within 0.005)
        generator = torch.Generator().manual_seed(config.seed + clip.index)
        out = pipe(
            clip.prompt,
            streams,
            image=reference,
            num_frames=frames,
            height=config.height,
            width=config.width,
            fps=plan.fps,
            num_inference_steps=config.num_inference_steps,
            guidance=config.guidance,
            keyframe=config.keyframe,
            keyframe_steps=config.keyframe_steps,
            keyframe_draws=config.keyframe_draws,
            retime=None if config.retime else False,
            reference_anchor=config.reference_anchor,
            window_frames=window,
            generator=generator,
            output_type="np",
            callback_on_step_end=None if on_step is None else step_done(clip.index),
        )
        pieces.append(out.frames[0][: clip.num_frames])
    timings["generate_s"] = time.perf_counter() - start
    drawn = any(pipe.draws_keyframe(reference, config.keyframe) for reference in references)
    retimed = pipe.retimes(config.retime)
    return SceneResult(np.concatenate(pieces), dialogue_track(plan, waves), SPEECH_RATE, timings, drawn, retimed)


def _srt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def subtitles_srt(plan) -> str:
    """SubRip subtitles, one cue per line (``Name: text``)."""
    cues = []
    for number, planned in enumerate(plan.lines, start=1):
        line = plan.scene.lines[planned.index]
        name = plan.scene.character(line.speaker).name
        text = line.text or (line.audio.name if line.audio is not None else "")
        cues.append(f"{number}\n{_srt_time(planned.start)} --> {_srt_time(planned.end)}\n{name}: {text}\n")
    return "\n".join(cues)
