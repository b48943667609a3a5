"""Read a YAML scene script into a :class:`~talkgen.prompts.scene.Scene`, with line/column errors.

The YAML is composed into nodes (never constructed into arbitrary objects) and walked field by field, so every
mistake points at its node: ``scene.yaml:12:5: unknown speaker 'Bob'; hint: ...``. See ``docs/scripts.md``.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from pathlib import Path

import yaml

from talkgen.errors import MediaError
from talkgen.prompts.scene import (
    MAX_CHARACTERS_PER_SHOT,
    MAX_SCENE_CHARACTERS,
    MAX_SCENE_LINES,
    SHOT_MODES,
    Character,
    Line,
    Scene,
    ShotSettings,
    VoicePreset,
    assign_tags,
)
from talkgen.prompts.source import SourceLocation, check_script_text, did_you_mean, script_error

TOP_FIELDS = ("title", "description", "shot", "characters", "lines")
CHARACTER_FIELDS = ("name", "description", "voice", "image", "expression")
VOICE_FIELDS = ("name", "preset", "variant", "rate", "pitch")
LINE_FIELDS = ("speaker", "text", "audio", "expression", "action", "pause")
SHOT_FIELDS = {
    "mode": str,
    "fps": float,
    "max_clip_seconds": float,
    "min_clip_seconds": float,
    "turn_gap": float,
    "lead_in": float,
    "tail": float,
    "cut_lead": float,
    "template": str,
    "token_budget": int,
    "max_line_chars": int,
}
MAX_TEXT_FIELD_CHARS = 2000
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_NULL_TAG = "tag:yaml.org,2002:null"


class _Reader:
    """Walks composed YAML nodes, turning each wrong shape into a located ScriptError."""

    def __init__(self, file: str, base_dir: Path, check_files: bool) -> None:
        self.file = file
        self.base_dir = base_dir
        self.check_files = check_files

    def loc(self, node: yaml.Node) -> SourceLocation:
        mark = node.start_mark
        return SourceLocation(self.file, mark.line + 1, mark.column + 1)

    def error(self, node: yaml.Node, what: str, hint: str):
        return script_error(self.loc(node), what, hint)

    def mapping(self, node: yaml.Node, what: str, allowed: Collection[str]) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Fields of a mapping node: name -> (key node, value node); unknown or repeated fields are errors."""
        if not isinstance(node, yaml.MappingNode):
            raise self.error(
                node, f"{what} must be a mapping of fields", f"write `field: value` lines ({', '.join(allowed)})"
            )
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise self.error(key, f"a field name in {what} is not plain text", "use simple names like `text:`")
            name = key.value
            if name not in allowed:
                raise self.error(
                    key,
                    f"unsupported field {name!r} in {what}{did_you_mean(name, allowed)}",
                    f"supported fields are: {', '.join(allowed)}",
                )
            if name in out:
                raise self.error(key, f"field {name!r} appears twice in {what}", "keep one of them")
            out[name] = (key, value)
        return out

    def text(self, node: yaml.Node, what: str, *, allow_empty: bool = False, limit: int = MAX_TEXT_FIELD_CHARS) -> str:
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG:
            if allow_empty:
                return ""
            raise self.error(node, f"{what} is empty", f"write the {what} or remove the field")
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, f"{what} must be text", f'write {what} as a string, e.g. `{what}: "..."`')
        value = " ".join(str(node.value).split())
        if not value and not allow_empty:
            raise self.error(node, f"{what} is empty", f"write the {what} or remove the field")
        if len(value) > limit:
            raise self.error(node, f"{what} has {len(value)} characters, more than the limit {limit}", "shorten it")
        return value

    def number(self, node: yaml.Node, what: str, kind: type, low: float, high: float) -> float | int:
        if not isinstance(node, yaml.ScalarNode) or node.tag not in (_INT_TAG, _FLOAT_TAG):
            raise self.error(node, f"{what} must be a number", f"write a number between {low} and {high}")
        try:
            value = float(node.value.replace("_", ""))
        except ValueError:
            raise self.error(
                node, f"{what} is not a number: {node.value!r}", f"write a number between {low} and {high}"
            ) from None
        if not math.isfinite(value) or not low <= value <= high:
            raise self.error(
                node, f"{what} {node.value} is outside {low}-{high}", f"use a value between {low} and {high}"
            )
        if kind is int:
            if value != int(value):
                raise self.error(node, f"{what} must be a whole number", f"write e.g. {int(value)}")
            return int(value)
        return value

    def path(self, node: yaml.Node, what: str, suffix_hint: str) -> Path:
        raw = self.text(node, what, limit=1000)
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = self.base_dir / path
        if not self.check_files:
            return path
        if not path.exists():
            raise self.error(
                node, f"{what} file not found: {raw}", f"paths are relative to the script's folder; {suffix_hint}"
            )
        if not path.is_file():
            raise self.error(node, f"{what} {raw} is not a regular file", suffix_hint)
        try:  # header checks only: a broken or oversized file is refused here, at its line, not at render time
            if what == "image":
                from talkgen.media.images import check_image

                check_image(path, label=raw)
            elif what == "audio":
                from talkgen.media import probe

                if not probe(path).has_audio:
                    raise MediaError(f"{raw}: has no audio stream")
        except MediaError as exc:
            raise self.error(node, str(exc), suffix_hint) from None
        return path


def _voice(reader: _Reader, node: yaml.Node, voices: Collection[str] | None) -> VoicePreset:
    """``voice: en-gb`` / ``voice: ben`` (a named preset) / ``voice: {name: en-gb, pitch: 38}`` /
    ``voice: {preset: ben, rate: 150}`` (a preset with some fields changed)."""
    from talkgen.audio.presets import find_preset, voice_presets

    if isinstance(node, yaml.ScalarNode):
        fields = {"name": (node, node)}
    else:
        fields = reader.mapping(node, "voice", VOICE_FIELDS)
        if ("name" in fields) == ("preset" in fields):
            raise reader.error(
                node, "give a voice either a name or a preset", "`name: en-us` (`talkgen voices`) or `preset: ben`"
            )
    is_preset = "preset" in fields  # else a name: an espeak-ng voice or, if one is called so, a preset
    key_node = fields["preset" if is_preset else "name"][1]
    key = reader.text(key_node, "preset" if is_preset else "voice", limit=100)
    preset = find_preset(key)
    if preset is not None:
        kwargs = preset.settings()
    elif is_preset:
        raise reader.error(
            key_node, f"unknown voice preset {key!r}{did_you_mean(key.casefold(), list(voice_presets()))}",
            "list presets with `talkgen voices --presets`",
        )  # fmt: skip
    elif voices is not None and key.casefold() not in voices:
        raise reader.error(
            key_node,
            f"unknown voice {key!r}{did_you_mean(key.casefold(), voices)}",
            "list voices with `talkgen voices` (e.g. en-us, en-gb) or presets with `talkgen voices --presets`",
        )
    else:
        kwargs = {"name": key}
    if "variant" in fields:
        kwargs["variant"] = reader.text(fields["variant"][1], "variant", limit=100)
    if "rate" in fields:
        kwargs["rate"] = reader.number(fields["rate"][1], "rate", int, 80, 450)
    if "pitch" in fields:
        kwargs["pitch"] = reader.number(fields["pitch"][1], "pitch", int, 0, 99)
    return VoicePreset(**kwargs)


def _settings(reader: _Reader, node: yaml.Node | None) -> ShotSettings:
    if node is None:
        return ShotSettings()
    fields = reader.mapping(node, "shot", tuple(SHOT_FIELDS))
    kwargs: dict = {}
    limits = {
        "fps": (1, 120),
        "max_clip_seconds": (0.5, 600),
        "token_budget": (16, 100_000),
        "max_line_chars": (1, 20_000),
    }
    for name, (_, value) in fields.items():
        kind = SHOT_FIELDS[name]
        if kind is str:
            kwargs[name] = reader.text(value, name, limit=100)
        else:
            low, high = limits.get(name, (0, 30))
            kwargs[name] = reader.number(value, name, kind, low, high)
    if kwargs.get("mode", "cuts") not in SHOT_MODES:
        raise reader.error(
            fields["mode"][1], f"unknown shot mode {kwargs['mode']!r}", f"use one of: {', '.join(SHOT_MODES)}"
        )
    try:
        return ShotSettings(**kwargs)
    except ValueError as exc:
        raise reader.error(node, f"invalid shot settings: {exc}", "fix the value named in the message") from None


def _line_fields(reader: _Reader, node: yaml.Node) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """A line is `{speaker: ..., text: ...}` or the short form `{Name: text}`."""
    if isinstance(node, yaml.MappingNode) and len(node.value) == 1:
        key, value = node.value[0]
        if isinstance(key, yaml.ScalarNode) and key.value not in LINE_FIELDS:
            return {"speaker": (key, key), "text": (key, value)}
    return reader.mapping(node, "line", LINE_FIELDS)


def parse_yaml_scene(
    text: str,
    file: str = "<script>",
    *,
    base_dir: str | Path | None = None,
    check_files: bool = True,
    voices: Collection[str] | None = None,
) -> Scene:
    """Parse a YAML scene script.

    Args:
        text: the script text.
        file: the name used in error messages.
        base_dir: folder that relative audio/image paths start from (default: the folder of ``file``).
        check_files: check that audio and image files exist.
        voices: known voice names (casefolded) to validate against; None skips the check.

    Returns:
        The validated :class:`Scene`, characters tagged Person1..N in order of first appearance.

    Raises:
        ScriptError: with ``file:line:column`` and a hint, for every mistake in the script.
    """
    check_script_text(text, file)
    reader = _Reader(file, Path(base_dir) if base_dir is not None else Path(file).parent, check_files)
    start = SourceLocation(file, 1, 1)
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = SourceLocation(file, mark.line + 1, mark.column + 1) if mark else start
        raise script_error(
            loc, f"bad YAML: {exc.problem or exc.context}", "check indentation, colons and quotes here"
        ) from None
    except yaml.YAMLError as exc:
        raise script_error(start, f"bad YAML: {exc}", "save the script as plain UTF-8 YAML text") from None
    except RecursionError:
        raise script_error(start, "bad YAML: nesting is too deep", "a scene script needs only a few levels") from None
    if root is None:
        raise script_error(start, "the script is empty", "start from an example in samples/scenes/")
    fields = reader.mapping(root, "the scene", TOP_FIELDS)
    settings = _settings(reader, fields["shot"][1] if "shot" in fields else None)

    # Characters: names unique (any case), at least one.
    if "characters" not in fields:
        raise reader.error(root, "the scene has no characters", "add a `characters:` list with name and description")
    char_node = fields["characters"][1]
    if not isinstance(char_node, yaml.SequenceNode) or not char_node.value:
        raise reader.error(char_node, "characters must be a non-empty list", "write `- name: Ana` entries")
    if len(char_node.value) > MAX_SCENE_CHARACTERS:
        _too_many(
            reader.loc(char_node.value[MAX_SCENE_CHARACTERS]), len(char_node.value), "characters", MAX_SCENE_CHARACTERS
        )
    declared: dict[str, tuple[yaml.Node, dict]] = {}
    for item in char_node.value:
        cf = reader.mapping(item, "character", CHARACTER_FIELDS)
        if "name" not in cf:
            raise reader.error(item, "character has no name", "add `name: ...`")
        name_node = cf["name"][1]
        name = reader.text(name_node, "name", limit=60)
        if name.casefold() in declared:
            raise reader.error(name_node, f"duplicate character {name!r}", "give every character a different name")
        if name.startswith("Person") and name[6:].isdigit():
            raise reader.error(
                name_node, f"character name {name!r} looks like a tag", "Person1..N are assigned for you"
            )
        attrs: dict = {"name": name, "location": reader.loc(item)}
        if "description" in cf:
            attrs["description"] = reader.text(cf["description"][1], "description")
        if "voice" in cf:
            attrs["voice"] = _voice(reader, cf["voice"][1], voices)
        if "image" in cf:
            attrs["image"] = reader.path(cf["image"][1], "image", "use a .png or .jpg reference image")
        if "expression" in cf:
            attrs["expression"] = reader.text(cf["expression"][1], "expression", limit=200)
        declared[name.casefold()] = (name_node, attrs)

    # Lines: speakers must be declared; text or audio; within the length limit.
    if "lines" not in fields:
        raise reader.error(root, "the scene has no dialogue", "add a `lines:` list, e.g. `- Ana: Hello.`")
    lines_node = fields["lines"][1]
    if not isinstance(lines_node, yaml.SequenceNode) or not lines_node.value:
        raise reader.error(
            lines_node, "empty dialogue: lines must be a non-empty list", "add `- speaker: ..., text: ...`"
        )
    if len(lines_node.value) > MAX_SCENE_LINES:
        _too_many(reader.loc(lines_node.value[MAX_SCENE_LINES]), len(lines_node.value), "lines", MAX_SCENE_LINES)
    raw_lines: list[dict] = []
    for item in lines_node.value:
        lf = _line_fields(reader, item)
        if "speaker" not in lf:
            raise reader.error(item, "line has no speaker", "add `speaker: <character name>`")
        speaker_node = lf["speaker"][1]
        speaker = reader.text(speaker_node, "speaker", limit=60)
        if speaker.casefold() not in declared:
            names = [a["name"] for _, a in declared.values()]
            raise reader.error(
                speaker_node,
                f"unknown speaker {speaker!r}{did_you_mean(speaker, names)}",
                f"declare it under `characters:` or use one of: {', '.join(names)}",
            )
        attrs = {"speaker": declared[speaker.casefold()][1]["name"], "location": reader.loc(item)}
        if "text" in lf:
            attrs["text"] = reader.text(lf["text"][1], "text", allow_empty=True, limit=10**9)
            if len(attrs["text"]) > settings.max_line_chars:
                raise reader.error(
                    lf["text"][1],
                    f"line has {len(attrs['text'])} characters, more than the limit {settings.max_line_chars}",
                    "split it into several lines (or raise `shot: max_line_chars`)",
                )
        if "audio" in lf:
            attrs["audio"] = reader.path(lf["audio"][1], "audio", "use a .wav/.flac/.mp3/.ogg file")
        if not attrs.get("text") and "audio" not in attrs:
            raise reader.error(
                item, "empty dialogue line: no text and no audio", "write `text: ...` or `audio: file.wav`"
            )
        if "expression" in lf:
            attrs["expression"] = reader.text(lf["expression"][1], "expression", limit=200)
        if "action" in lf:
            attrs["action"] = reader.text(lf["action"][1], "action", limit=500)
        if "pause" in lf:
            attrs["pause"] = reader.number(lf["pause"][1], "pause", float, 0, 30)
        raw_lines.append(attrs)

    title = reader.text(fields["title"][1], "title", limit=200) if "title" in fields else Path(file).stem
    description = reader.text(fields["description"][1], "description") if "description" in fields else ""
    return build_scene(title, description, [a for _, a in declared.values()], raw_lines, settings, file)


def _too_many(where: SourceLocation, count: int, what: str, limit: int):
    hint = "split the scene (in a Fountain file: into scenes); every scene is planned on its own"
    raise script_error(where, f"the scene has {count} {what}, more than the limit {limit}", hint)


def build_scene(
    title: str, description: str, characters: list[dict], lines: list[dict], settings: ShotSettings, file: str
) -> Scene:
    """Assign tags and build the frozen :class:`Scene` from validated field dicts (shared with Fountain import)."""
    for items, limit, what in ((characters, MAX_SCENE_CHARACTERS, "characters"), (lines, MAX_SCENE_LINES, "lines")):
        if len(items) > limit:
            _too_many(items[limit].get("location") or SourceLocation(file), len(items), what, limit)
    tags = assign_tags([c["name"] for c in characters], [ln["speaker"] for ln in lines])
    chars = sorted((Character(tag=tags[c["name"].casefold()], **c) for c in characters), key=lambda c: int(c.tag[6:]))
    if settings.mode == "continuous" and len(chars) > MAX_CHARACTERS_PER_SHOT:
        where = chars[MAX_CHARACTERS_PER_SHOT].location or SourceLocation(file)
        raise script_error(
            where,
            f"{len(chars)} characters in one continuous shot, more than {MAX_CHARACTERS_PER_SHOT}",
            "use `shot: {mode: cuts}` or split the scene",
        )
    built = tuple(Line(index=i, tag=tags[ln["speaker"].casefold()], **ln) for i, ln in enumerate(lines))
    return Scene(
        title=title, description=description, characters=tuple(chars), lines=built, settings=settings, source=file
    )
