"""What the web app's widgets call: thin adapters from widget values to library calls, and back.

Nothing here imports gradio, so every function is testable (and usable) without a browser. No model code lives
here: scripts go through :mod:`talkgen.prompts`, speech through :mod:`talkgen.audio.tts`, media through
:mod:`talkgen.media`, sync scores through :mod:`talkgen.eval`; generation and dubbing through
:mod:`talkgen.pipelines.generate` and :mod:`talkgen.pipelines.dub`.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkgen import SPEECH_RATE
from talkgen.errors import ConfigError, MediaError, ScriptError, SpeechError, TalkgenError
from talkgen.media import MediaInfo, MediaLimits
from talkgen.media.images import MAX_IMAGE_PIXELS
from talkgen.prompts import Scene, ShotPlan

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
SCENES_DIR = REPO_ROOT / "samples" / "scenes"
# Folders a script typed into the app may name audio/image files from (the shipped samples); nothing else.
SCRIPT_FILE_ROOTS = (REPO_ROOT / "samples", REPO_ROOT / "audio")
APP_FILES_HINT = (
    "in the web app, scripts may only name files under samples/ or audio/, or files attached in the Characters panel"
)
SCRIPT_FORMATS = ("yaml", "fountain")
MAX_SCRIPT_CHARS = 200_000
PREVIEW_TEXT = "Hello, this is how I sound."
# Uploads attached to a script (reference images, recorded lines): formats, limits, stored size.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MAX_STORED_IMAGE_SIDE = 2048
NEEDS_YAML = (
    "reference images and recorded line audio need the YAML script format (Fountain has no field for them); "
    "write the scene in YAML (see samples/scenes/dialogue.yaml) and attach again"
)


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


def parse_script(
    text: str, fmt: str = "yaml", *, file: str | None = None, upload_dir: str | Path | None = None
) -> tuple[Scene, ...]:
    """Parse editor text into scenes. Relative file names start at ``samples/scenes/``.

    Args:
        upload_dir: this session's upload folder (:func:`session_upload_dir`); scripts may name files in it.

    Raises:
        ScriptError: located at ``line:column`` of the text.
        ConfigError: unknown format or too long a text.
    """
    from talkgen.prompts import known_voices, parse_fountain, parse_yaml_scene
    from talkgen.prompts.loader import check_file_roots

    if fmt not in SCRIPT_FORMATS:
        raise ConfigError(f"unknown script format {fmt!r}; use one of {', '.join(SCRIPT_FORMATS)}")
    if len(text) > MAX_SCRIPT_CHARS:
        raise ConfigError(f"the script has {len(text)} characters, more than the limit {MAX_SCRIPT_CHARS}")
    name = file or f"script.{fmt}"

    def parse(check_files: bool) -> tuple[Scene, ...]:
        if fmt == "fountain":
            return tuple(parse_fountain(text, name))
        return (parse_yaml_scene(text, name, base_dir=SCENES_DIR, voices=known_voices(), check_files=check_files),)

    roots = [*SCRIPT_FILE_ROOTS, *([Path(upload_dir)] if upload_dir else [])]
    # the folders first, before any file is looked at: existence is not revealed for a file outside them
    check_file_roots(parse(check_files=False), roots, "the app's sample folders", APP_FILES_HINT)
    return parse(check_files=True)


@functools.lru_cache(maxsize=1)
def _speech_timing():
    """The app's measured line durations, shared by every check (a live plan re-measures only edited lines)."""
    from talkgen.prompts import CachedTiming, speech_timing

    return CachedTiming(speech_timing, maxsize=4096)


def check_script(
    text: str,
    fmt: str = "yaml",
    template: str | None = None,
    *,
    estimate: bool = False,
    upload_dir: str | Path | None = None,
) -> ScriptCheck:
    """Parse and plan a script (as ``talkgen script check``); user mistakes come back in ``.error``, not raised.

    Args:
        text: the script.
        fmt: ``yaml`` or ``fountain``.
        template: a prompt template name (None: the script's own or the default).
        estimate: estimate line durations from text instead of measuring the speech as ``talkgen generate`` does
            (the default: the plan shown is the plan rendered; each line is measured once per process).
        upload_dir: this session's upload folder, whose files the script may name.
    """
    from talkgen.prompts import CachedTiming, estimate_timing, plan_scene

    try:
        scenes = parse_script(text, fmt, upload_dir=upload_dir)
        timing = CachedTiming(estimate_timing) if estimate else _speech_timing()
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


CHARACTER_HEADERS = ("scene", "tag", "name", "voice", "image", "description")


def characters_rows(check: ScriptCheck) -> list[list[str]]:
    """One row per character of every scene: scene, tag, name, voice, reference image file name, description."""
    rows = []
    for i, scene in enumerate(check.scenes, start=1):
        for c in scene.characters:
            image = c.image.name if c.image is not None else ""
            rows.append([str(i), c.tag, c.name, str(c.voice), image, c.description])
    return rows


def line_choices(check: ScriptCheck, width: int = 60) -> list[tuple[str, int]]:
    """(label, line number) per dialogue line of the first scene: ``"3: Ana: Still better... [audio: x.wav]"``."""
    if not check.scenes:
        return []
    scene = check.scenes[0]
    choices = []
    for line in scene.lines:
        said = line.text or ""
        said = said if len(said) <= width else said[: width - 3].rstrip() + "..."
        label = f"{line.index + 1}: {scene.character(line.speaker).name}: {said}"
        if line.audio is not None:
            label += f" [audio: {line.audio.name}]"
        choices.append((label, line.index + 1))
    return choices


# ------------------------------------------------------------------------------------------------------ speech
def voice_names() -> list[str]:
    """Voice names for the voice picker: the named presets, then language codes such as ``en-us`` (English first)."""
    from talkgen.audio.presets import voice_presets
    from talkgen.audio.tts import list_voices

    codes = sorted({v.languages[0] if v.languages else v.identifier for v in list_voices()})
    return [p.name for p in voice_presets().values()] + sorted(codes, key=lambda c: (not c.startswith("en"), c))


def preview_voice(
    voice: str,
    text: str = PREVIEW_TEXT,
    *,
    variant: str | None = None,
    rate: int | None = None,
    pitch: int | None = None,
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


# ------------------------------------------------------------------------------------------ attached uploads
def session_upload_dir(root: str | Path, session: str | None) -> Path:
    """The upload folder of one browser session: ``root/uploads/<digest of the session id>``."""
    digest = hashlib.sha256((session or "anonymous").encode("utf-8")).hexdigest()[:16]
    return Path(root).resolve() / "uploads" / digest


def store_image(upload: str | Path | None, upload_dir: str | Path, *, max_pixels: int = MAX_IMAGE_PIXELS) -> Path:
    """Validate an uploaded reference image and store an upright RGB PNG copy of it in ``upload_dir``.

    The size is read from the header and checked before decoding; the copy's longer side is at most
    :data:`MAX_STORED_IMAGE_SIDE` and its name is a content hash (``image-<hash>.png``).

    Raises:
        MediaError: no file, wrong type, too many pixels, or an unreadable image (names the file and the fix).
    """
    from talkgen.fs import atomic_path
    from talkgen.media.images import load_image

    if not upload:
        raise MediaError("no image uploaded")
    src = Path(upload)
    fix = "upload a PNG, JPEG or WebP image"
    if src.suffix.lower() not in IMAGE_SUFFIXES:
        raise MediaError(f"{src.name}: not a {', '.join(IMAGE_SUFFIXES)} file; {fix}")
    image = load_image(src, max_pixels=max_pixels, fix=fix, shrink="upload a smaller image")
    image.thumbnail((MAX_STORED_IMAGE_SIDE, MAX_STORED_IMAGE_SIDE))
    digest = hashlib.sha256(image.tobytes() + repr(image.size).encode()).hexdigest()[:16]
    out = Path(upload_dir) / f"image-{digest}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        image.save(tmp, format="PNG")
    return out


def store_line_audio(upload: str | Path | None, upload_dir: str | Path, limits: MediaLimits) -> Path:
    """Validate uploaded or recorded speech for one line and store it as a 16 kHz mono wav in ``upload_dir``.

    The file is probed against ``limits`` before decoding, then decoded with :func:`talkgen.audio.io.load_audio`;
    it must be at most ``limits.max_duration`` seconds long and not silent. The copy is named by a content hash.

    Raises:
        MediaError: no file, a refused or unreadable file, too long, empty or silent (names the file and the fix).
    """
    from talkgen.audio.io import load_audio, save_wav

    if not upload:
        raise MediaError("no audio uploaded or recorded")
    name = Path(upload).name
    validate_media(upload, limits, need_video=False)
    wave = load_audio(upload, sample_rate=SPEECH_RATE, limits=limits)
    seconds = len(wave) / SPEECH_RATE
    if seconds > limits.max_duration:
        raise MediaError(f"{name}: {seconds:.1f} s long, more than the limit {limits.max_duration:g} s; trim it")
    if seconds < 0.05 or not np.isfinite(wave).all() or float(np.abs(wave).max()) < 1e-4:
        raise MediaError(f"{name}: the audio is empty or silent; upload or record the line's speech")
    digest = hashlib.sha256(wave.astype(np.float32).tobytes()).hexdigest()[:16]
    return save_wav(Path(upload_dir) / f"line-{digest}.wav", wave, SPEECH_RATE)


def _parse_for_attach(text: str, fmt: str, upload_dir: Path) -> Scene:
    """The single YAML scene of ``text``; ConfigError for Fountain, ScriptError (located) for a broken script."""
    if fmt != "yaml":
        raise ConfigError(NEEDS_YAML)
    return parse_script(text, fmt, upload_dir=upload_dir)[0]


def _yaml_items(text: str, section: str) -> list:
    """The item nodes of the top-level ``section`` list of a YAML script (already validated)."""
    import yaml

    root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for key, value in root.value:
        if key.value == section:
            return list(value.value)
    raise ConfigError(f"the script has no `{section}:` list")


def _names(item, name: str) -> bool:
    """Whether the character mapping ``item`` declares ``name`` (any case, spaces collapsed as the reader does)."""
    return any(
        k.value == "name" and " ".join(str(v.value).split()).casefold() == name.casefold() for k, v in item.value
    )


def _one_line(text: str, node) -> str:
    """The YAML source of a scalar if it sits on one line, else the same text as a double-quoted scalar."""
    single = node.start_mark.line == node.end_mark.line and node.style not in ("|", ">")
    return text[node.start_mark.index : node.end_mark.index] if single else json.dumps(" ".join(node.value.split()))


def _set_field(text: str, item, field: str, value: str) -> str | None:
    """``text`` with ``field: value`` set in the YAML mapping ``item`` by a minimal edit (None: no safe place).

    An existing value is replaced in place; a new field goes into a flow mapping before its ``}``, or into a block
    mapping as a new line after the last field written on a single line, at the mapping's indentation.
    """
    import yaml

    for key, val in item.value:
        if key.value == field:
            return text[: val.start_mark.index] + value + text[val.end_mark.index :]
    if item.flow_style:
        close = text.rindex("}", 0, item.end_mark.index)
        return text[:close].rstrip() + f", {field}: {value}" + text[close:]
    single = [
        v
        for k, v in item.value
        if isinstance(v, yaml.ScalarNode)
        and k.start_mark.line == v.start_mark.line == v.end_mark.line
        and v.style not in ("|", ">")
    ]
    anchor = single[-1] if single else None
    if anchor is None:
        return None
    indent = " " * item.value[0][0].start_mark.column
    eol = text.find("\n", anchor.end_mark.index)
    if eol < 0:
        text, eol = text + "\n", len(text)
    return text[: eol + 1] + f"{indent}{field}: {value}\n" + text[eol + 1 :]


def _set_line_field(text: str, item, field: str, value: str) -> str | None:
    """Like :func:`_set_field` for a dialogue line; the short form ``- Ana: text`` is expanded to fields first."""
    from talkgen.prompts.yaml_script import LINE_FIELDS

    if len(item.value) == 1 and item.value[0][0].value not in LINE_FIELDS:
        key, val = item.value[0]
        sep = ", " if item.flow_style else "\n" + " " * key.start_mark.column
        fields = [f"speaker: {_one_line(text, key)}", f"text: {_one_line(text, val)}", f"{field}: {value}"]
        return text[: key.start_mark.index] + sep.join(fields) + text[val.end_mark.index :]
    return _set_field(text, item, field, value)


def _apply(text: str, edited: str | None, upload_dir: Path, took, field: str, value: Path) -> str:
    """Check that an edit parses and set what it should; otherwise ask the user to write the field by hand."""
    manual = f"add `{field}: {json.dumps(str(value))}` to the script by hand"
    if edited is None:
        raise ConfigError(f"cannot place `{field}:` automatically here; {manual}")
    try:
        scene = parse_script(edited, "yaml", upload_dir=upload_dir)[0]
    except ScriptError as exc:
        raise ConfigError(f"adding `{field}:` would break the script ({exc}); {manual}") from None
    if not took(scene):
        raise ConfigError(f"adding `{field}:` did not take effect; {manual}")
    return edited


def attach_image(text: str, fmt: str, character: str, upload: str | Path | None, upload_dir: str | Path) -> str:
    """Store an uploaded reference image (:func:`store_image`) and set the character's ``image:`` to it.

    Args:
        text, fmt: the script in the editor (YAML only). character: a character's name or tag.
        upload: the uploaded file. upload_dir: this session's upload folder (:func:`session_upload_dir`).

    Returns:
        The script with ``image: "<absolute path>"`` set on that character (any earlier image replaced); the
        rest of the text is unchanged.

    Raises:
        ConfigError: a Fountain script or an unknown character. ScriptError: the script has an error.
        MediaError: the upload was refused (the script is not changed).
    """
    upload_dir = Path(upload_dir)
    scene = _parse_for_attach(text, fmt, upload_dir)
    try:
        char = scene.character(character or "")
    except KeyError:
        raise ConfigError(f"no character {character!r} in the script; check the script and pick one") from None
    stored = store_image(upload, upload_dir)
    item = next(node for node in _yaml_items(text, "characters") if _names(node, char.name))
    edited = _set_field(text, item, "image", json.dumps(str(stored)))
    return _apply(text, edited, upload_dir, lambda s: s.character(char.name).image == stored, "image", stored)


def attach_line_audio(
    text: str, fmt: str, line: int, upload: str | Path | None, upload_dir: str | Path, limits: MediaLimits
) -> str:
    """Store uploaded/recorded speech (:func:`store_line_audio`) and set dialogue line ``line``'s ``audio:`` to it.

    Args:
        line: the dialogue line's number, from 1 (the value of :func:`line_choices`).

    Returns:
        The script with ``audio: "<absolute path>"`` on that line (a short ``- Ana: text`` line is expanded to
        ``speaker:``/``text:`` fields; any earlier audio replaced); the text stays for subtitles.

    Raises:
        ConfigError: a Fountain script or no such line. ScriptError: the script has an error.
        MediaError: the upload was refused (the script is not changed).
    """
    upload_dir = Path(upload_dir)
    scene = _parse_for_attach(text, fmt, upload_dir)
    try:
        number = int(line)
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= len(scene.lines):
        raise ConfigError(f"no dialogue line {line!r}; pick one of lines 1-{len(scene.lines)}")
    stored = store_line_audio(upload, upload_dir, limits)
    item = _yaml_items(text, "lines")[number - 1]
    edited = _set_line_field(text, item, "audio", json.dumps(str(stored)))
    return _apply(text, edited, upload_dir, lambda s: s.lines[number - 1].audio == stored, "audio", stored)


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
