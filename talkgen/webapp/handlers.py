"""What the web app's widgets call: thin adapters from widget values to library calls, and back.

Nothing here imports gradio, so every function is testable (and usable) without a browser. No model code lives
here: scripts go through :mod:`talkgen.prompts`, speech through :mod:`talkgen.audio.tts`, media through
:mod:`talkgen.media`, sync scores through :mod:`talkgen.eval`; generation and dubbing through the pipelines named
in :mod:`talkgen.webapp.backends` when this build has them.
"""

from __future__ import annotations

import html
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkgen.errors import ConfigError, MediaError, ScriptError, SpeechError, TalkgenError
from talkgen.media import MediaInfo, MediaLimits
from talkgen.prompts import Scene, ShotPlan

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
SCENES_DIR = REPO_ROOT / "samples" / "scenes"
# Folders a script typed into the app may name audio/image files from (the shipped samples); nothing else.
SCRIPT_FILE_ROOTS = (REPO_ROOT / "samples", REPO_ROOT / "audio")
SCRIPT_FORMATS = ("yaml", "fountain")
MAX_SCRIPT_CHARS = 200_000
PREVIEW_TEXT = "Hello, this is how I sound."


# ----------------------------------------------------------------------------------------------------- scripts
def sample_scripts() -> dict[str, Path]:
    """The sample scene scripts shipped in ``samples/scenes/``, by file name."""
    if not SCENES_DIR.is_dir():
        return {}
    return {p.name: p for p in sorted(SCENES_DIR.iterdir()) if p.suffix in (".yaml", ".yml", ".fountain")}


def script_format(name: str) -> str:
    """``fountain`` for Fountain file names, ``yaml`` otherwise."""
    return "fountain" if Path(name).suffix.lower() in (".fountain", ".spmd", ".txt") else "yaml"


def read_sample(name: str) -> tuple[str, str]:
    """(text, format) of a sample script by file name; ConfigError for names that are not samples."""
    samples = sample_scripts()
    if name not in samples:
        raise ConfigError(f"unknown sample {name!r}; samples: {', '.join(samples)}")
    return samples[name].read_text(encoding="utf-8"), script_format(name)


def template_names() -> list[str]:
    """Prompt template names from ``prompts/`` (for the template picker)."""
    from talkgen.prompts import load_templates

    return sorted(load_templates())


@dataclass(frozen=True)
class ScriptCheck:
    """The outcome of checking a script typed in the editor.

    Attributes:
        scenes: the parsed scenes (empty on error).
        plans: one :class:`ShotPlan` per scene (empty on error).
        error: the located error, when the script is invalid.
    """

    scenes: tuple[Scene, ...] = ()
    plans: tuple[ShotPlan, ...] = ()
    error: TalkgenError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _check_file_roots(scene: Scene) -> None:
    """Refuse audio/image paths outside the shipped sample folders (a browser user must not read server files)."""
    from talkgen.prompts.source import SourceLocation, script_error

    named = [(c.image, c.location) for c in scene.characters] + [(ln.audio, ln.location) for ln in scene.lines]
    for path, loc in named:
        if path is None:
            continue
        resolved = Path(path).resolve()
        if not any(resolved.is_relative_to(root.resolve()) for root in SCRIPT_FILE_ROOTS):
            raise script_error(
                loc or SourceLocation("script"),
                f"file {Path(path).name!r} is outside the app's sample folders",
                "in the web app, scripts may only name files under samples/ or audio/",
            )


def parse_script(text: str, fmt: str = "yaml", *, file: str | None = None) -> tuple[Scene, ...]:
    """Parse editor text into scenes. Relative file names start at ``samples/scenes/``.

    Raises:
        ScriptError: located at ``line:column`` of the text.
        ConfigError: unknown format or too long a text.
    """
    from talkgen.prompts import known_voices, parse_fountain, parse_yaml_scene

    if fmt not in SCRIPT_FORMATS:
        raise ConfigError(f"unknown script format {fmt!r}; use one of {', '.join(SCRIPT_FORMATS)}")
    if len(text) > MAX_SCRIPT_CHARS:
        raise ConfigError(f"the script has {len(text)} characters, more than the limit {MAX_SCRIPT_CHARS}")
    name = file or f"script.{fmt}"
    if fmt == "fountain":
        scenes = tuple(parse_fountain(text, name))
    else:
        scenes = (parse_yaml_scene(text, name, base_dir=SCENES_DIR, voices=known_voices()),)
    for scene in scenes:
        _check_file_roots(scene)
    return scenes


def check_script(text: str, fmt: str = "yaml", template: str | None = None, *, estimate: bool = True) -> ScriptCheck:
    """Parse and plan a script (as ``talkgen script check``); user mistakes come back in ``.error``, not raised.

    Args:
        text: the script.
        fmt: ``yaml`` or ``fountain``.
        template: a prompt template name (None: the script's own or the default).
        estimate: estimate line durations from text (instant) instead of synthesising speech.
    """
    from talkgen.prompts import CachedTiming, estimate_timing, plan_scene, speech_timing

    try:
        scenes = parse_script(text, fmt)
        timing = CachedTiming(estimate_timing if estimate else speech_timing)
        plans = tuple(plan_scene(s, timing, template=template or None) for s in scenes)
    except (ScriptError, ConfigError, SpeechError) as exc:
        return ScriptCheck(error=exc)
    return ScriptCheck(scenes=scenes, plans=plans)


def error_html(text: str, error: TalkgenError, context: int = 2) -> str:
    """An HTML block naming the error and showing the offending line (numbered, marked) with a little context."""
    loc = getattr(error, "location", None)
    what = getattr(error, "what", None) or str(error)
    hint = getattr(error, "hint", None)
    head = f"Line {loc.line}, column {loc.column}: {what}" if loc is not None else what
    parts = [f'<div class="talkgen-error" role="alert"><strong>{html.escape(head)}</strong>']
    if hint:
        parts.append(f"<div>hint: {html.escape(hint)}</div>")
    rows = text.splitlines()
    if loc is not None and 1 <= loc.line <= len(rows):
        lo, hi = max(1, loc.line - context), min(len(rows), loc.line + context)
        listing = []
        for n in range(lo, hi + 1):
            mark = ">" if n == loc.line else " "
            listing.append(f"{mark}{n:>4} | {rows[n - 1]}")
            if n == loc.line:
                listing.append(" " * 6 + "| " + " " * max(0, loc.column - 1) + "^")
        parts.append(f"<pre>{html.escape(chr(10).join(listing))}</pre>")
    parts.append("</div>")
    return "".join(parts)


def plan_text(check: ScriptCheck) -> str:
    """The readable shot plan, exactly as ``talkgen script check`` prints it."""
    from talkgen.prompts.report import format_plan

    n = len(check.plans)
    return "\n\n".join(format_plan(p, i, n) for i, p in enumerate(check.plans, start=1))


def characters_rows(check: ScriptCheck) -> list[list[str]]:
    """One row per character of every scene: scene, tag, name, voice, description."""
    rows = []
    for i, scene in enumerate(check.scenes, start=1):
        for c in scene.characters:
            rows.append([str(i), c.tag, c.name, str(c.voice), c.description])
    return rows


# ------------------------------------------------------------------------------------------------------ speech
def voice_names() -> list[str]:
    """Voice names for the voice picker (language codes such as ``en-us``, first the English ones)."""
    from talkgen.audio.tts import list_voices

    codes = sorted({v.languages[0] if v.languages else v.identifier for v in list_voices()})
    return sorted(codes, key=lambda c: (not c.startswith("en"), c))


def preview_voice(
    voice: str, text: str = PREVIEW_TEXT, *, variant: str | None = None, rate: int = 175, pitch: int = 50
) -> tuple[int, np.ndarray]:
    """Speak ``text`` with a voice; returns (sample_rate, float32 (N,) waveform) for an audio player."""
    from talkgen.audio.tts import synthesize

    speech = synthesize(text.strip() or PREVIEW_TEXT, voice, variant=variant or None, rate=rate, pitch=pitch)
    return speech.sample_rate, speech.waveform


def preview_character(check: ScriptCheck, name: str) -> tuple[int, np.ndarray]:
    """A character's first line (or a greeting) in the character's voice preset."""
    for scene in check.scenes:
        for c in scene.characters:
            if c.name == name:
                said = next((ln.text for ln in scene.lines if ln.speaker == c.name and ln.text), PREVIEW_TEXT)
                v = c.voice
                return preview_voice(v.name, said, variant=v.variant, rate=v.rate, pitch=v.pitch)
    raise ConfigError(f"no character {name!r} in the script")


# ------------------------------------------------------------------------------------------------------- media
def validate_media(path: str | Path | None, limits: MediaLimits, *, need_video: bool = True) -> MediaInfo:
    """Probe an upload against the app's limits before anything decodes it.

    Raises:
        MediaError: no file, refused file (names the limit), or no video stream when one is needed.
    """
    from talkgen.media import probe

    if not path:
        raise MediaError("no file uploaded")
    info = probe(path, limits)
    if need_video and info.video is None:
        raise MediaError(f"{Path(path).name}: has no video stream; upload a video with a visible face")
    return info


def describe_media(info: MediaInfo) -> str:
    """One line: container, size, duration, frames and audio."""
    parts = [f"{info.path.name}: {info.format}"]
    if info.width and info.height:
        parts.append(f"{info.width}x{info.height}")
    if info.fps:
        parts.append(f"{info.fps:g} fps")
    if info.duration is not None:
        parts.append(f"{info.duration:.2f} s")
    parts.append("with audio" if info.has_audio else "no audio")
    return ", ".join(parts)


@dataclass(frozen=True)
class EvaluateResult:
    """A sync report for the Evaluate tab: summary line, report dict and the plot's PNG path."""

    summary: str
    report: dict
    plot: Path


def evaluate(
    video: str | Path, audio: str | Path | None, limits: MediaLimits, out_dir: str | Path, *, max_lag: int = 15
) -> EvaluateResult:
    """``talkgen eval sync`` for uploads: probe both files against ``limits``, measure, plot into ``out_dir``."""
    from talkgen.eval.plot import plot_sync
    from talkgen.eval.sync import evaluate_sync
    from talkgen.fs import finite_json

    info = validate_media(video, limits)
    if audio:
        validate_media(audio, limits, need_video=False)
    elif not info.has_audio:
        raise MediaError(f"{Path(video).name} has no audio track; upload the speech as well")
    report = evaluate_sync(video, audio or None, max_lag=max_lag)
    r = report.result
    summary = (
        f"offset {r.offset:+d} frames ({r.offset_seconds:+.3f} s; positive = audio lags video), "
        f"confidence {r.confidence:.3f}, correlation at 0 {r.correlation_at_zero:.3f}, "
        f"face in {report.face_fraction:.0%} of {report.num_frames} frames"
    )
    folder = Path(tempfile.mkdtemp(prefix="sync-", dir=out_dir))
    plot = plot_sync(r, folder / "sync.png", title=f"offset {r.offset:+d}, confidence {r.confidence:.3f}")
    return EvaluateResult(summary, finite_json(report.to_dict()), plot)
