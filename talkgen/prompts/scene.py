"""The scene model shared by the YAML and Fountain readers: characters, dialogue lines and shot settings.

A :class:`Scene` is plain frozen data. Characters carry their MoCha-style tag (``Person1`` .. ``PersonN``), given
in order of first appearance in the dialogue (characters that never speak come last, in the order they were
declared); every :class:`Line` names its speaker by character name and by tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from talkgen.errors import ConfigError
from talkgen.prompts.source import SourceLocation

SHOT_MODES = ("cuts", "continuous")
MAX_CHARACTERS_PER_SHOT = 4
MAX_SCENE_CHARACTERS = 1000  # a scene's cast; a screenplay's scenes each count their own
MAX_SCENE_LINES = 20_000  # dialogue lines of one scene (hours of speech)
TAG_PREFIX = "Person"


@dataclass(frozen=True)
class VoicePreset:
    """An espeak-ng voice for a character: ``name`` (``en-us``, ``en-gb``...), optional variant, rate, pitch."""

    name: str = "en-us"
    variant: str | None = None
    rate: int = 175
    pitch: int = 50

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("voice name must not be empty")
        if not 80 <= self.rate <= 450:
            raise ConfigError(f"voice rate {self.rate} is outside 80-450 words per minute")
        if not 0 <= self.pitch <= 99:
            raise ConfigError(f"voice pitch {self.pitch} is outside 0-99")

    def __str__(self) -> str:
        variant = f"+{self.variant}" if self.variant else ""
        return f"{self.name}{variant} rate {self.rate} pitch {self.pitch}"


@dataclass(frozen=True)
class Character:
    """A character of the scene.

    Attributes:
        name: the name used in the dialogue (matched case-insensitively).
        tag: ``Person1``..``PersonN``, what prompts call the character.
        description: appearance, written once in the prompt.
        voice: TTS voice for lines without an audio file.
        image: optional reference image (absolute path).
        expression: default expression for the character's lines.
    """

    name: str
    tag: str
    description: str = ""
    voice: VoicePreset = field(default_factory=VoicePreset)
    image: Path | None = None
    expression: str | None = None
    location: SourceLocation | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Line:
    """One dialogue line, spoken by one character.

    Attributes:
        index: position in the scene's dialogue, from 0.
        speaker: the character's name; ``tag`` is its Person tag.
        text: what is said (for TTS, and for subtitles); may be given together with ``audio``.
        audio: a speech file for this line (absolute path); TTS is used when it is None.
        expression: expression while speaking (falls back to the character's default).
        action: what the speaker does (free text; character names are turned into tags in prompts).
        pause: silence after the line in seconds (None = the scene's ``turn_gap``).
    """

    index: int
    speaker: str
    tag: str
    text: str | None = None
    audio: Path | None = None
    expression: str | None = None
    action: str | None = None
    pause: float | None = None
    location: SourceLocation | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ShotSettings:
    """How the scene is cut into clips and how prompts are budgeted.

    Attributes:
        mode: ``cuts`` (one clip per speaker turn, the speaker in frame) or ``continuous`` (one shot with every
            character in frame, split only where a window would get too long).
        fps: video frame rate of the plan.
        max_clip_seconds: longest clip the model generates in one window; longer turns split at pauses.
        min_clip_seconds: shortest window a split may leave (avoids one-word windows).
        turn_gap: default silence after a line, in seconds.
        lead_in: silence before the first line; tail: silence after the last.
        cut_lead: a cut to the next speaker happens this many seconds before their voice starts.
        template: prompt template name (``prompts/<name>.yaml``); None chooses by mode and character count.
        token_budget: text-encoder tokens the compiled prompts may use.
        max_line_chars: longest allowed dialogue line, in characters.
    """

    mode: str = "cuts"
    fps: float = 25.0
    max_clip_seconds: float = 8.0
    min_clip_seconds: float = 1.0
    turn_gap: float = 0.3
    lead_in: float = 0.2
    tail: float = 0.3
    cut_lead: float = 0.1
    template: str | None = None
    token_budget: int = 512
    max_line_chars: int = 400

    def __post_init__(self) -> None:
        if self.mode not in SHOT_MODES:
            raise ConfigError(f"mode must be one of {', '.join(SHOT_MODES)}, got {self.mode!r}")
        if not 1.0 <= self.fps <= 120.0:
            raise ConfigError(f"fps {self.fps} is outside 1-120")
        if not 0.5 <= self.max_clip_seconds <= 600.0:
            raise ConfigError(f"max_clip_seconds {self.max_clip_seconds} is outside 0.5-600")
        if not 0.0 <= self.min_clip_seconds <= self.max_clip_seconds / 2:
            raise ConfigError("min_clip_seconds must be between 0 and half of max_clip_seconds")
        for name in ("turn_gap", "lead_in", "tail", "cut_lead"):
            if not 0.0 <= getattr(self, name) <= 30.0:
                raise ConfigError(f"{name} {getattr(self, name)} is outside 0-30 seconds")
        if not 16 <= self.token_budget <= 100_000:
            raise ConfigError(f"token_budget {self.token_budget} is outside 16-100000")
        if not 1 <= self.max_line_chars <= 20_000:
            raise ConfigError(f"max_line_chars {self.max_line_chars} is outside 1-20000")


@dataclass(frozen=True)
class Scene:
    """A validated scene: characters (tagged), dialogue lines, a description and shot settings.

    Attributes:
        title: a short name for the scene.
        description: the setting, written once in the prompt.
        characters: in tag order (``Person1`` first).
        lines: the dialogue in order; never empty.
        settings: shot and prompt settings.
        source: the file the scene came from (for messages).
    """

    title: str
    description: str
    characters: tuple[Character, ...]
    lines: tuple[Line, ...]
    settings: ShotSettings = field(default_factory=ShotSettings)
    source: str = "<script>"

    def character(self, key: str) -> Character:
        """The character with this name (any case) or tag; KeyError if there is none."""
        char = self._by_key.get(key) or self._by_key.get(key.casefold())
        if char is None:
            raise KeyError(key)
        return char

    def names_to_tags(self, text: str) -> str:
        """:func:`names_to_tags` with this scene's characters (their index is built once per scene)."""
        return _replace_names(text, *self._names)

    @cached_property
    def _names(self) -> tuple[dict[str, str], int]:
        return _name_index(self.characters)

    @cached_property
    def _by_key(self) -> dict[str, Character]:
        """Tags and casefolded names -> character (a tag wins over a name spelled like one)."""
        index = {char.name.casefold(): char for char in reversed(self.characters)}
        index.update({char.tag: char for char in self.characters})
        return index

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(c.tag for c in self.characters)


def assign_tags(declared: list[str], speakers: list[str]) -> dict[str, str]:
    """Map casefolded character names to ``Person1..N``: first speakers in order, then silent ones as declared."""
    order = dict.fromkeys(name.casefold() for name in [*speakers, *declared])
    return {key: f"{TAG_PREFIX}{i + 1}" for i, key in enumerate(order)}


def names_to_tags(text: str, characters: tuple[Character, ...]) -> str:
    """Replace whole-word character names in free text (any case) by their tags: 'Ana waves' -> 'Person1 waves'.

    Longer names win ('Ana Lee' before 'Ana'); one pass over the text whatever the size of the cast.
    """
    return _replace_names(text, *_name_index(characters))


def _replace_names(text: str, names: dict[str, str], max_words: int) -> str:
    if not text or not names:
        return text
    words = [m.span() for m in _WORD.finditer(text)]
    out: list[str] = []
    done = 0  # text[:done] is in out
    i = 0
    while i < len(words):
        start = words[i][0]
        if start < done or (start > 0 and _is_word_char(text[start - 1])):
            i += 1
            continue
        for k in range(min(max_words, len(words) - i), 0, -1):
            end = words[i + k - 1][1]
            tag = names.get(text[start:end].casefold())
            if tag is None:  # a name ending in punctuation ('Dr.'): the one character after the last word
                tag = names.get(text[start : end + 1].casefold()) if end < len(text) else None
                end += 1
            if tag is not None and not (end < len(text) and _is_word_char(text[end])):
                out.append(text[done:start])
                out.append(tag)
                done = end
                i += k
                break
        else:
            i += 1
    out.append(text[done:])
    return "".join(out)


_WORD = re.compile(r"\w+")


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _name_index(characters: tuple[Character, ...]) -> tuple[dict[str, str], int]:
    """Casefolded names -> tag, and the most words in a name."""
    names = {c.name.casefold(): c.tag for c in characters if c.name}
    return names, max((len(_WORD.findall(n)) for n in names), default=1) or 1
