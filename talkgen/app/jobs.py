"""Generation and dubbing for the web app: widget values -> the pipelines -> files in a per-run folder.

Gradio-free; the progress callback is ``progress(fraction, description)``. The pipelines, the model loading
and the subtitle writer are the library's (and ``talkgen generate``'s): nothing here samples or decodes latents.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkgen.errors import ConfigError, MediaError
from talkgen.media import MediaLimits
from talkgen.pipelines.dub import MAX_FACES

Progress = Callable[[float, str], None]
EXTENTS = ("mouth", "face", "frame")


def _noop(fraction: float, description: str) -> None:
    return None


MAX_STEPS = 200
MAX_SIZE = 512


@dataclass(frozen=True)
class GenerateResult:
    """Files of one render: ``video`` (mp4 with the dialogue), ``subtitles`` (srt), ``manifest`` (json)."""

    video: Path
    subtitles: Path
    manifest: Path
    summary: str


def generate_scene(
    text: str,
    fmt: str,
    options,
    out_dir: str | Path,
    progress: Progress = _noop,
    *,
    upload_dir: str | Path | None = None,
) -> GenerateResult:
    """Render a script typed in the app with :func:`talkgen.pipelines.generate.generate_scene_file`.

    The script is checked first (with the app's rule that it may only name files under ``samples/`` or the
    session's ``upload_dir``, where the Characters panel stores reference images and recorded lines), then saved
    as ``script.<fmt>`` in a fresh run folder under ``out_dir``, beside ``scene.mp4``, ``.srt`` and
    ``.manifest.json``: the saved script is the record of what was rendered.

    Args:
        options: a :class:`talkgen.pipelines.generate.GenerateOptions`; the app caps steps and size.

    Raises:
        ScriptError, ConfigError, WeightsError, SpeechError: user mistakes, shown in the page.
    """
    from talkgen.app.handlers import parse_script
    from talkgen.fs import atomic_write_text
    from talkgen.pipelines.generate import generate_scene_file

    if options.steps > MAX_STEPS or options.size > MAX_SIZE:
        raise ConfigError(f"the app renders at most {MAX_STEPS} steps and {MAX_SIZE} pixels")
    progress(0.0, "checking the script")
    scenes = parse_script(text, fmt, upload_dir=upload_dir)
    if options.scene > len(scenes):
        raise ConfigError(f"scene {options.scene}: the script has {len(scenes)} scene(s) with dialogue")
    folder = Path(tempfile.mkdtemp(prefix="scene-", dir=out_dir))
    script = folder / f"script.{fmt}"
    atomic_write_text(script, text)
    manifest = generate_scene_file(script, folder / "scene.mp4", options, progress)  # per stage and per step
    summary = (
        f"{scenes[options.scene - 1].title}: {manifest['frames']} frames, {manifest['duration_s']:.2f} s, "
        f"{manifest['clips']} clip(s) in {manifest['timings']['total_s']:.1f} s"
        + (" (untrained random weights)" if options.random_weights else "")
    )
    return GenerateResult(folder / "scene.mp4", folder / "scene.srt", folder / "scene.manifest.json", summary)


# ------------------------------------------------------------------------------------------------------- dubbing
def default_model_installed() -> bool:
    """Whether a default model (``$TALKGEN_MODEL_DIR`` or the checkout's ``models/talkgen-tiny``) is installed."""
    from talkgen.pipelines.loading import default_model_dir

    return default_model_dir() is not None


def new_speech(audio_path: str | Path | None, text: str | None, voice: str, limits: MediaLimits) -> np.ndarray:
    """The new speech as (N,) float32 at 16 kHz: an uploaded/recorded file, else ``text`` spoken."""
    from talkgen.app.handlers import validate_media
    from talkgen.pipelines.dub import load_speech

    if not audio_path and not (text and text.strip()):
        raise MediaError("no new speech: upload or record audio, or type text for a voice")
    if audio_path:
        validate_media(audio_path, limits, need_video=False)
    return load_speech(audio_path or None, None if audio_path else text, voice or "en-us", limits)


def find_faces(footage: str | Path, limits: MediaLimits, frames_to_scan: int = 25) -> tuple[np.ndarray, int]:
    """A preview frame with numbered mouth boxes of every face found in the first frames, and the face count."""
    from PIL import Image, ImageDraw

    from talkgen.app.handlers import validate_media
    from talkgen.media import read_video
    from talkgen.pipelines.mouth import MediaPipeMouthLocator

    validate_media(footage, limits)
    frames, _ = read_video(footage, limits, max_frames=frames_to_scan)
    track = MediaPipeMouthLocator(max_faces=MAX_FACES).locate(frames)
    present = track.present.sum(axis=0)
    faces = [k for k in range(track.num_faces) if present[k] > 0]
    t = int(np.argmax(track.present.sum(axis=1))) if len(frames) else 0
    image = Image.fromarray(frames[t])
    draw = ImageDraw.Draw(image)
    for k in faces:
        rows = np.flatnonzero(track.present[:, k])
        box = track.boxes[t, k] if track.present[t, k] else track.boxes[rows[0], k]
        x0, y0, x1, y1 = (float(v) for v in box)
        pad = max(4.0, 0.6 * (x1 - x0))
        draw.rectangle([x0 - pad, y0 - 2 * pad, x1 + pad, y1 + pad], outline=(255, 40, 40), width=2)
        draw.text((x0 - pad + 3, y0 - 2 * pad + 2), str(k), fill=(255, 40, 40))
    return np.asarray(image), len(faces)


@dataclass(frozen=True)
class DubResult:
    video: Path
    summary: str


def dub(
    footage: str | Path,
    speech: np.ndarray,
    config,
    limits: MediaLimits,
    out_dir: str | Path,
    *,
    random_weights: bool = False,
    progress: Progress = _noop,
) -> DubResult:
    """Dub ``footage`` with ``speech`` (16 kHz) into ``out_dir/<run>/dubbed.mp4`` with
    :func:`talkgen.pipelines.dub.dub_file` (``config``: its ``DubConfig``)."""
    from talkgen.app.handlers import validate_media
    from talkgen.pipelines.dub import dub_file

    progress(0.0, "probing the footage")
    validate_media(footage, limits)
    folder = Path(tempfile.mkdtemp(prefix="dub-", dir=out_dir))
    manifest = dub_file(footage, folder / "dubbed.mp4", speech, config, random_weights=random_weights, limits=limits,
                        progress=progress)  # fmt: skip
    h, w = manifest["processing_size"]
    summary = (
        f"{manifest['frames']} frames at {manifest['fps']:g} fps, mouth edited on {manifest['mouth_frames']}, "
        f"processed at {w}x{h}, colour drift {manifest['colour_drift']:.1f} in {manifest['timings']['total_s']:.1f} s"
        + (" (untrained random weights)" if random_weights else "")
    )
    return DubResult(Path(manifest["output"]), summary)
