"""Import dialogue from Fountain screenplays (https://fountain.io) into the scene model.

Supported: the title page (``Title:``, plus the talkgen keys ``Mode:`` and ``FPS:``), scene headings (``INT.``,
``EXT.``, ``EST.``, ``INT./EXT.``, ``I/E``, forced ``.HEADING``), character cues (uppercase lines, forced ``@Name``,
extensions like ``(V.O.)``/``(CONT'D)``, dual-dialogue ``^``), parentheticals, dialogue, action, boneyard
``/* */``, notes ``[[ ]]``, sections ``#``, synopses ``=``, transitions (``CUT TO:``, ``>``) and page breaks.

Mapping: each scene heading starts a scene (scenes without dialogue are skipped); action before the first
dialogue becomes the scene description, later action becomes the ``action`` of the next line; a parenthetical
becomes the ``expression`` of the dialogue after it (``(beat)``/``(pause)`` adds a pause instead). A note
``[[ANA: a tall woman in a red coat]]`` gives a character's description. Voices rotate through the named presets
of :data:`FOUNTAIN_PRESETS` in tag order.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from talkgen.prompts.scene import ShotSettings, VoicePreset
from talkgen.prompts.source import SourceLocation, check_script_text, script_error
from talkgen.prompts.yaml_script import build_scene

logger = logging.getLogger(__name__)

FOUNTAIN_PRESETS = ("sam", "leo", "mia", "max")  # named voice presets (talkgen/audio/voices.yaml), in tag order


def default_voices() -> tuple[VoicePreset, ...]:
    """The voices Fountain characters get in order of first appearance: :data:`FOUNTAIN_PRESETS`."""
    from talkgen.audio.presets import find_preset

    return tuple(VoicePreset(**find_preset(name).settings()) for name in FOUNTAIN_PRESETS)


BEAT_PAUSE = 0.6
_HEADING = re.compile(r"^(int|ext|est|int\.?/ext|i/e)[. ]", re.IGNORECASE)
_NOTE_CHARACTER = re.compile(r"^\s*@?([^\s:\[\]][^:\[\]]{0,59}?)\s*:\s*(\S.*?)\s*$", re.DOTALL)
_EXTENSION = re.compile(r"\s*\([^)]*\)\s*")


def _strip_spans(text: str, open_: str, close: str, keep: list[tuple[int, str]] | None = None) -> str:
    """Remove ``open_ ... close`` spans in linear time, keeping their newlines (so line numbers stay right).

    Args:
        keep: when given, receives (start offset, inner text) of every removed span.
    """
    out: list[str] = []
    pos = 0
    while True:
        start = text.find(open_, pos)
        if start < 0:
            break
        end = text.find(close, start + len(open_))
        if end < 0:
            break
        if keep is not None:
            keep.append((start, text[start + len(open_) : end]))
        out.append(text[pos:start])
        out.append("\n" * text.count("\n", start, end + len(close)))
        pos = end + len(close)
    out.append(text[pos:])
    return "".join(out)


def _cue_name(line: str) -> str | None:
    """The character name if ``line`` is a character cue, else None."""
    s = line.strip()
    forced = s.startswith("@")
    if forced:
        s = s[1:]
    s = s.rstrip("^").strip()
    name = _EXTENSION.sub(" ", s).strip()
    if not name or len(name) > 60 or name.startswith(("!", ">", "#", "=", "~", ".", "(")):
        return None
    if not forced:
        if name != name.upper() or not any(c.isalpha() for c in name) or s.endswith(("TO:", ":")):
            return None
    return " ".join(name.split())


class _SceneBuilder:
    def __init__(self, title: str, loc: SourceLocation) -> None:
        self.title = title
        self.loc = loc
        self.description: list[str] = []
        self.pending_action: list[str] = []
        self.lines: list[dict] = []
        self.speakers: dict[str, str] = {}  # casefolded -> display name

    def action(self, text: str) -> None:
        (self.pending_action if self.lines else self.description).append(text)

    def add_line(self, speaker: str, text: str, expression: str | None, loc: SourceLocation, max_chars: int) -> None:
        if len(text) > max_chars:
            raise script_error(
                loc,
                f"line has {len(text)} characters, more than the limit {max_chars}",
                "split the speech into two cues",
            )
        key = speaker.casefold()
        self.speakers.setdefault(key, speaker.title())
        line = {"speaker": self.speakers[key], "text": text, "location": loc}
        if expression:
            line["expression"] = expression
        if self.pending_action:
            line["action"] = " ".join(self.pending_action)[:500]
            self.pending_action = []
        self.lines.append(line)


def parse_fountain(text: str, file: str = "<script>", *, max_line_chars: int | None = None) -> tuple:
    """Parse Fountain text into scenes.

    Args:
        text: the screenplay.
        file: the name used in error messages.
        max_line_chars: longest allowed dialogue line (default: :class:`ShotSettings`' default).

    Returns:
        tuple of :class:`~talkgen.prompts.scene.Scene`, one per scene heading that has dialogue.

    Raises:
        ScriptError: no dialogue at all, a cue without dialogue, a line over the limit, a bad title-page setting.
    """
    check_script_text(text, file)
    notes: list[tuple[int, str]] = []
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _strip_spans(text, "/*", "*/")
    text = _strip_spans(text, "[[", "]]", notes)
    rows = text.split("\n")

    # Title page: `Key: value` lines at the very top, ended by a blank line.
    meta: dict[str, tuple[str, int]] = {}
    first = 0
    if rows and re.match(r"^[A-Za-z][A-Za-z ]{0,30}:", rows[0]):
        key = ""
        while first < len(rows) and rows[first].strip():
            row = rows[first]
            m = re.match(r"^([A-Za-z][A-Za-z ]{0,30}):\s*(.*)$", row)
            if m and not row[0].isspace():
                key = m.group(1).strip().lower()
                meta[key] = (m.group(2).strip(), first + 1)
            elif key:
                meta[key] = ((meta[key][0] + " " + row.strip()).strip(), meta[key][1])
            first += 1
    settings = _settings_from_meta(meta, file, max_line_chars)
    descriptions = _note_descriptions(notes, text)

    scenes: list[_SceneBuilder] = []
    current = _SceneBuilder(meta.get("title", (Path(file).stem, 1))[0][:200] or Path(file).stem, SourceLocation(file))
    i = first
    n = len(rows)
    while i < n:
        row = rows[i]
        s = row.strip()
        blank_before = i == 0 or not rows[i - 1].strip()
        loc = SourceLocation(file, i + 1, len(row) - len(row.lstrip()) + 1)
        if not s or s.startswith(("#", "=", "~", ">")) or (s.startswith("===")):
            i += 1
            continue
        if blank_before and (_HEADING.match(s) or (s.startswith(".") and len(s) > 1 and s[1] != ".")):
            scenes.append(current)
            current = _SceneBuilder(s.lstrip(".").strip()[:200], loc)
            i += 1
            continue
        name = _cue_name(s) if blank_before and i + 1 < n and rows[i + 1].strip() else None
        if name is not None:
            i = _dialogue(rows, i + 1, name, current, file, settings.max_line_chars, loc)
            continue
        # Action paragraph (forced with "!"): gather until a blank line.
        para = []
        while i < n and rows[i].strip():
            para.append(rows[i].strip().lstrip("!"))
            i += 1
        current.action(" ".join(p for p in para if p))
    scenes.append(current)

    # One voice per character for the whole screenplay, in order of first appearance (not per scene).
    voices: dict[str, VoicePreset] = {}
    rotation = default_voices()
    for sb in scenes:
        for key in sb.speakers:
            voices.setdefault(key, rotation[len(voices) % len(rotation)])
    built = []
    for sb in scenes:
        if not sb.lines:
            if sb.description:
                logger.info("%s: scene %r has no dialogue; skipped", sb.loc, sb.title)
            continue
        chars = []
        for key, display in sb.speakers.items():
            desc = descriptions.get(key, "")
            chars.append({"name": display, "description": desc, "voice": voices[key]})
        description = " ".join(sb.description)[:2000]
        try:
            built.append(build_scene(sb.title, description, chars, sb.lines, settings, file))
        except ValueError as exc:
            raise script_error(sb.loc, f"invalid scene: {exc}", "fix the scene's settings") from None
    if not built:
        raise script_error(
            SourceLocation(file), "empty dialogue: no character cue with dialogue found",
            "write a cue in capitals on its own line after a blank line, then the dialogue below it",
        )  # fmt: skip
    return tuple(built)


def _dialogue(rows: list[str], i: int, name: str, scene: _SceneBuilder, file: str, max_chars: int, cue_loc) -> int:
    """Read a dialogue block after a cue; returns the index after it."""
    words: list[str] = []
    expression: str | None = None
    start_loc = None
    said = False

    def flush() -> None:
        nonlocal words, expression, start_loc, said
        if words:
            scene.add_line(name, " ".join(words), expression, start_loc, max_chars)
            said = True
        words, expression, start_loc = [], None, None

    while i < len(rows) and rows[i].strip():
        row = rows[i]
        s = row.strip()
        if s.startswith("(") and s.endswith(")"):
            inner = " ".join(s[1:-1].split())[:200]
            if inner.lower() in ("beat", "pause", "a beat", "long pause"):
                flush()
                if scene.lines and scene.lines[-1]["speaker"].casefold() == name.casefold():
                    scene.lines[-1]["pause"] = BEAT_PAUSE * (2 if "long" in inner.lower() else 1)
            else:
                flush()
                expression = inner or None
        else:
            if start_loc is None:
                start_loc = SourceLocation(file, i + 1, len(row) - len(row.lstrip()) + 1)
            words.append(s)
        i += 1
    flush()
    if not said:
        raise script_error(cue_loc, f"character cue {name!r} has no dialogue", "write the dialogue on the next line")
    return i


def _settings_from_meta(meta: dict[str, tuple[str, int]], file: str, max_line_chars: int | None) -> ShotSettings:
    kwargs: dict = {}
    if max_line_chars is not None:
        kwargs["max_line_chars"] = max_line_chars
    if "mode" in meta:
        kwargs["mode"] = meta["mode"][0].strip().lower()
    if "fps" in meta:
        try:
            kwargs["fps"] = float(meta["fps"][0])
        except ValueError:
            raise script_error(
                SourceLocation(file, meta["fps"][1], 1), "FPS is not a number", "write e.g. `FPS: 25`"
            ) from None
    try:
        return ShotSettings(**kwargs)
    except ValueError as exc:
        line = min((meta[k][1] for k in ("mode", "fps") if k in meta), default=1)
        raise script_error(
            SourceLocation(file, line, 1),
            f"invalid title-page setting: {exc}",
            "use `Mode: cuts` or `Mode: continuous`, `FPS: 25`",
        ) from None


def _note_descriptions(notes: list[tuple[int, str]], text: str) -> dict[str, str]:
    """``[[NAME: description]]`` notes -> casefolded name -> description."""
    out: dict[str, str] = {}
    for _, inner in notes:
        m = _NOTE_CHARACTER.match(inner)
        if m:
            out[" ".join(m.group(1).split()).casefold()] = " ".join(m.group(2).split())[:2000]
    return out
