"""MoCha-style structured prompts from templates in ``prompts/``, within a text-encoder token budget.

A compiled prompt names every visible character once with its description, then uses tags only::

    Two video clips. Setting: a small kitchen. Characters: - Person1: a woman with red hair - Person2: a man
    in a grey coat. First clip: close-up of Person1 talking to Person2, smiling. Second clip: close-up of
    Person2 talking to Person1.

When the text is longer than the budget, details are removed in a fixed order (actions, expressions, the
setting, then descriptions get shorter) and every removal is reported as a :class:`Reduction`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from talkgen.errors import ConfigError

TokenCounter = Callable[[str], int]
TEMPLATE_DIR = Path(str(resources.files("talkgen.prompts").joinpath("templates")))  # package data
TEMPLATE_KEYS = ("name", "summary", "speaking", "silent")
BASE_KEYS = ("header", "setting", "characters", "character", "character_separator", "no_description", "clip")
_COUNTS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten")
_ORDINALS = ("First", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh", "Eighth", "Ninth", "Tenth")
_SHOT_FIELDS = ("speakers", "visible", "listeners", "others")


def byt5_token_count(text: str) -> int:
    """Tokens ByT5 uses for ``text``: one per UTF-8 byte plus the end-of-sequence token."""
    return len(text.encode("utf-8")) + 1


def tokenizer_counter(tokenizer) -> TokenCounter:
    """A :data:`TokenCounter` from a Hugging Face tokenizer (e.g. UMT5's), counting special tokens too."""
    return lambda text: len(tokenizer(text).input_ids)


@dataclass(frozen=True)
class Template:
    """A prompt template: ``speaking``/``silent`` shot phrases (alternatives, first usable wins) plus the framing.

    Shot phrases may use ``{speakers}``, ``{visible}``, ``{listeners}`` (visible, not speaking) and ``{others}``
    (characters of the scene not in frame); an alternative is usable when all the fields it uses are non-empty.
    The framing keys (``header``, ``setting``, ``characters``, ``character``, ``character_separator``,
    ``no_description``, ``clip``) come from ``prompts/base.yaml`` unless the template overrides them.
    """

    name: str
    summary: str
    speaking: tuple[str, ...]
    silent: tuple[str, ...]
    framing: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class ShotText:
    """What one clip shows, in tags: visible characters, who speaks, and optional expression/action text."""

    visible: tuple[str, ...]
    speakers: tuple[str, ...]
    expression: str | None = None
    action: str | None = None


@dataclass(frozen=True)
class Reduction:
    """One thing the compiler removed to fit the budget.

    Attributes:
        kind: ``action``, ``expression``, ``setting``, ``description`` or ``truncate``.
        target: what it applied to (``clip 2``, ``Person1``, ``setting``, ``prompt``).
        before: the text before; after: the text after ('' when dropped).
    """

    kind: str
    target: str
    before: str
    after: str

    def __str__(self) -> str:
        verb = "dropped" if not self.after else "shortened"
        return f"{verb} {self.kind} of {self.target}: {self.before!r}" + (f" -> {self.after!r}" if self.after else "")


@dataclass(frozen=True)
class CompiledPrompt:
    """A compiled prompt, its token count and the reductions made to fit ``budget``."""

    text: str
    tokens: int
    budget: int
    reductions: tuple[Reduction, ...] = ()


def _check_str_list(value, key: str, path: Path) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, list) else ()
    if not items or not all(isinstance(v, str) and v for v in items):
        raise ConfigError(f"{path}: {key!r} must be a string or a list of strings")
    for text in items:
        for _, name, _, _ in string.Formatter().parse(text):
            if name is not None and name not in _SHOT_FIELDS:
                raise ConfigError(f"{path}: {key!r} uses unknown field {{{name}}}; fields: {', '.join(_SHOT_FIELDS)}")
    return items


@lru_cache(maxsize=16)
def _load_templates(directory: str) -> dict[str, Template]:
    root = Path(directory)
    base_path = root / "base.yaml"
    if not base_path.is_file():
        raise ConfigError(f"prompt templates not found: {base_path} is missing; expected base.yaml and <name>.yaml")
    base = yaml.safe_load(base_path.read_text(encoding="utf-8"))
    if not isinstance(base, dict) or set(base) != set(BASE_KEYS):
        raise ConfigError(f"{base_path}: needs exactly these keys: {', '.join(BASE_KEYS)}")
    out = {}
    for path in sorted(root.glob("*.yaml")):
        if path.name == "base.yaml":
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if (
            not isinstance(data, dict)
            or not set(TEMPLATE_KEYS) <= set(data)
            or set(data) - set(TEMPLATE_KEYS) - set(BASE_KEYS)
        ):
            raise ConfigError(
                f"{path}: a template needs {', '.join(TEMPLATE_KEYS)} (and may override {', '.join(BASE_KEYS)})"
            )
        framing = {**base, **{k: v for k, v in data.items() if k in BASE_KEYS}}
        out[data["name"]] = Template(
            name=str(data["name"]),
            summary=str(data["summary"]),
            speaking=_check_str_list(data["speaking"], "speaking", path),
            silent=_check_str_list(data["silent"], "silent", path),
            framing=framing,
        )
    return out


def load_templates(directory: str | Path | None = None) -> dict[str, Template]:
    """All templates in ``directory`` (default: the package's ``templates/``), by name."""
    return _load_templates(str(Path(directory) if directory is not None else TEMPLATE_DIR))


def get_template(name: str, directory: str | Path | None = None) -> Template:
    """One template by name; ConfigError listing the available names when unknown."""
    templates = load_templates(directory)
    if name not in templates:
        raise ConfigError(f"unknown prompt template {name!r}; available: {', '.join(sorted(templates))}")
    return templates[name]


def join_tags(tags: Sequence[str]) -> str:
    """'Person1', 'Person1 and Person2', 'Person1, Person2 and Person3'."""
    tags = list(tags)
    if len(tags) <= 1:
        return "".join(tags)
    return ", ".join(tags[:-1]) + " and " + tags[-1]


def _count(n: int) -> str:
    return _COUNTS[n] if n < len(_COUNTS) else str(n)


def _ordinal(i: int) -> str:
    if i < len(_ORDINALS):
        return _ORDINALS[i]
    n = i + 1
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


MAX_LISTED_OTHERS = 4


def _others(all_tags: Sequence[str], visible: set[str]) -> str:
    """The characters out of frame: all of them up to four, else the first three and a count ('and 9 others'),
    so a shot's phrase stays short (and its cost bounded) however large the cast."""
    listed: list[str] = []
    for tag in all_tags:
        if tag not in visible:
            listed.append(tag)
            if len(listed) > MAX_LISTED_OTHERS:
                break
    if len(listed) <= MAX_LISTED_OTHERS:
        return join_tags(listed)
    rest = len(all_tags) - len(visible) - (MAX_LISTED_OTHERS - 1)
    return f"{', '.join(listed[: MAX_LISTED_OTHERS - 1])} and {rest} others"


@lru_cache(maxsize=256)
def _fields(text: str) -> tuple[str, ...]:
    """The names of a template phrase's fields."""
    return tuple(name for _, name, _, _ in string.Formatter().parse(text) if name)


def shot_phrase(template: Template, shot: ShotText, all_tags: Sequence[str]) -> str:
    """What the clip shows, in the template's words: its first speaking (or silent) phrase whose fields are set."""
    speakers, visible = set(shot.speakers), set(shot.visible)
    fields = {
        "speakers": join_tags(shot.speakers),
        "visible": join_tags(shot.visible),
        "listeners": join_tags([t for t in shot.visible if t not in speakers]),
        "others": _others(all_tags, visible),
    }
    options = template.speaking if shot.speakers else template.silent
    for text in options:
        if all(fields[name] for name in _fields(text)):
            return text.format(**fields)
    return options[-1].format(**fields)


def render_prompt(
    template: Template,
    shots: Sequence[ShotText],
    descriptions: dict[str, str],
    setting: str = "",
    cast: Sequence[str] | None = None,
    phrases: Sequence[str] | None = None,
) -> str:
    """Render the structured prompt (no budget).

    Args:
        template: the template.
        shots: one entry per clip, in order.
        descriptions: tag -> appearance text for the characters to introduce (in tag order); '' = no description.
        setting: the scene description ('' = none).
        cast: every tag of the scene (for ``{others}``); default: the keys of ``descriptions``.
        phrases: each shot's phrase when already known (they depend on the shots' tags only, not on the details a
            budget removes): :func:`compile_prompt` renders many times and phrases each shot once.
    """
    fr = template.framing
    parts = [fr["header"].format(count=_count(len(shots)), plural="s" if len(shots) != 1 else "")]
    if setting:
        parts.append(fr["setting"].format(setting=setting.rstrip(". ")))
    if descriptions:
        chars = [
            fr["character"].format(tag=tag, description=d or fr["no_description"]) for tag, d in descriptions.items()
        ]
        parts.append(fr["characters"].format(characters=fr["character_separator"].join(chars).rstrip(". ")))
    if phrases is None:
        tags = cast if cast is not None else list(descriptions)
        phrases = [shot_phrase(template, shot, tags) for shot in shots]
    for i, (shot, phrase) in enumerate(zip(shots, phrases, strict=True)):
        details = "".join(f", {d.rstrip('. ')}" for d in (shot.expression, shot.action) if d)
        parts.append(fr["clip"].format(ordinal=_ordinal(i), shot=phrase, details=details))
    return " ".join(parts)


def _first_clause(text: str) -> str:
    head = re.split(r"[,;:(]| - | with | who | wearing ", text, maxsplit=1)[0].strip()
    return head if head and head != text else text


def _first_words(text: str, n: int) -> str:
    words = text.split()
    return " ".join(words[:n]) if len(words) > n else text


def compile_prompt(
    template: Template,
    shots: Sequence[ShotText],
    descriptions: dict[str, str],
    setting: str = "",
    *,
    budget: int = 512,
    count_tokens: TokenCounter = byt5_token_count,
    cast: Sequence[str] | None = None,
    phrases: Sequence[str] | None = None,
) -> CompiledPrompt:
    """Render the prompt and shrink it until ``count_tokens(text) <= budget``, recording each step.

    Order of removal: the setting (first sentence, first clause, then all), character descriptions to their first
    clause (longest first), actions (last clip first), expressions (last clip first), descriptions to 6 then 3 words
    (longest first), then a hard cut at a word boundary: what each clip shows outlives scenery and detail.
    ``cast`` is every tag of the scene and ``phrases`` the shots' phrases when known (see :func:`render_prompt`).
    """
    if budget < 1:
        raise ValueError(f"token budget must be positive, got {budget}")
    if phrases is None:
        tags = cast if cast is not None else list(descriptions)
        phrases = [shot_phrase(template, shot, tags) for shot in shots]

    def reduced(n: int | None) -> tuple[str, list[Reduction]]:
        """The prompt after the first ``n`` reduction steps (None: all), and the reductions they made."""
        state = _Reducible(list(shots), dict(descriptions), setting)
        steps = _reduction_steps(state, count_tokens)[:n] if n != 0 else []
        made = [r for step in steps if (r := step()) is not None]
        return render_prompt(template, state.shots, state.descs, state.setting, cast, phrases), made

    # Each step only removes text, so "fits after n steps" is monotone in n: the fewest steps that fit are found
    # with O(log steps) renders (rendering a whole scene's prompt after every step would be quadratic). When even
    # all the steps leave it over budget (large scenes), it is cut at once.
    text, reductions = reduced(0)
    if count_tokens(text) > budget:
        text, reductions = reduced(None)
        if count_tokens(text) <= budget:
            lo, hi = 1, len(_reduction_steps(_Reducible(list(shots), dict(descriptions), setting), count_tokens))
            while lo < hi:
                mid = (lo + hi) // 2
                if count_tokens(reduced(mid)[0]) <= budget:
                    hi = mid
                else:
                    lo = mid + 1
            text, reductions = reduced(lo)
    if count_tokens(text) > budget:
        cut = _truncate(text, budget, count_tokens)
        reductions.append(Reduction("truncate", "prompt", text[len(cut) :].strip(), ""))
        text = cut
    return CompiledPrompt(text, count_tokens(text), budget, tuple(reductions))


@dataclass
class _Reducible:
    """What the budget may shorten: the shots' details, the descriptions and the setting (mutated by steps)."""

    shots: list[ShotText]
    descs: dict[str, str]
    setting: str


def _reduction_steps(state: _Reducible, count_tokens: TokenCounter) -> list[Callable[[], Reduction | None]]:
    """The budget's steps, in order (see :func:`compile_prompt`); each returns what it removed, or None."""
    steps: list[Callable[[], Reduction | None]] = []

    def shorten_setting(fn: Callable[[str], str]) -> Reduction | None:
        before = state.setting
        state.setting = fn(before)
        return Reduction("setting", "setting", before, state.setting) if state.setting != before else None

    def shorten_descriptions(fn: Callable[[str], str]) -> None:
        queue: list[str] = []  # longest first, ordered when the level's first step runs (after earlier levels)

        def step() -> Reduction | None:
            if not queue:
                ordered = sorted(state.descs, key=lambda t: -count_tokens(state.descs[t]))
                queue.extend(reversed(ordered))
            return _shorten(state.descs, queue.pop(), fn)

        steps.extend([step] * len(state.descs))

    # What a clip shows (actions, expressions) outlives the setting's detail and the descriptions' extra clauses.
    steps.append(lambda: shorten_setting(lambda s: re.split(r"(?<=[.!?])\s", s, maxsplit=1)[0]))
    steps.append(lambda: shorten_setting(_first_clause))
    steps.append(lambda: shorten_setting(lambda s: ""))
    shorten_descriptions(_first_clause)
    for kind in ("action", "expression"):
        for i in reversed(range(len(state.shots))):
            steps.append(lambda i=i, kind=kind: _drop_shot_detail(state.shots, i, kind))
    for fn in (lambda s: _first_words(s, 6), lambda s: _first_words(s, 3)):
        shorten_descriptions(fn)
    return steps


def _drop_shot_detail(shots: list[ShotText], i: int, kind: str) -> Reduction | None:
    before = getattr(shots[i], kind)
    if not before:
        return None
    shots[i] = replace(shots[i], **{kind: None})
    return Reduction(kind, f"clip {i + 1}", before, "")


def _shorten(descs: dict[str, str], tag: str, fn: Callable[[str], str]) -> Reduction | None:
    before = descs[tag]
    after = fn(before)
    if after == before:
        return None
    descs[tag] = after
    return Reduction("description", tag, before, after)


def _truncate(text: str, budget: int, count_tokens: TokenCounter) -> str:
    """Longest prefix of ``text`` ending at a word boundary whose token count fits ``budget`` (binary search)."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_tokens(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    cut = text[:lo]
    if lo < len(text) and " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip()
