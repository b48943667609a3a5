"""Load scene scripts from files: YAML (``.yaml``/``.yml``) or Fountain (``.fountain``/``.spmd``/``.txt``)."""

from __future__ import annotations

import logging
from pathlib import Path

from talkgen.prompts.fountain import parse_fountain
from talkgen.prompts.scene import Scene
from talkgen.prompts.source import SourceLocation, read_script_text, script_error
from talkgen.prompts.yaml_script import parse_yaml_scene

logger = logging.getLogger(__name__)

YAML_SUFFIXES = (".yaml", ".yml")
FOUNTAIN_SUFFIXES = (".fountain", ".spmd", ".txt")


def known_voices() -> frozenset[str] | None:
    """Casefolded voice names the offline TTS accepts (names, identifiers, languages); None if TTS is unavailable."""
    try:
        from talkgen.audio.tts import list_voices

        voices = list_voices()
    except Exception as exc:  # TTS engine missing or broken: skip the check, synthesis will report it
        logger.warning("cannot list TTS voices (%s); voice names are not checked", exc)
        return None
    names: set[str] = set()
    for v in voices:
        names.update({v.name.casefold(), v.identifier.casefold(), v.identifier.rsplit("/", 1)[-1].casefold()})
        names.update(lang.casefold() for lang in v.languages)
    return frozenset(names)


def load_scenes(
    path: str | Path, *, check_files: bool = True, voices: frozenset[str] | None = None
) -> tuple[Scene, ...]:
    """Read a script file into scenes (a YAML script is one scene; a Fountain file may hold several).

    Args:
        path: the script file.
        check_files: check that audio and image files named by a YAML script exist.
        voices: casefolded known voice names to validate YAML voices against (see :func:`known_voices`).

    Raises:
        ScriptError: with ``file:line:column`` and a hint.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in YAML_SUFFIXES + FOUNTAIN_SUFFIXES:
        raise script_error(
            SourceLocation(str(path)),
            f"unsupported script type {suffix or '(no extension)'!r}",
            "use a .yaml scene script or a .fountain screenplay",
        )
    text = read_script_text(path)
    if suffix in YAML_SUFFIXES:
        return (parse_yaml_scene(text, str(path), check_files=check_files, voices=voices),)
    return parse_fountain(text, str(path))


def load_scene(path: str | Path, index: int = 0, **kwargs) -> Scene:
    """One scene of a script file (``index`` counts scenes with dialogue, from 0); see :func:`load_scenes`."""
    scenes = load_scenes(path, **kwargs)
    if not 0 <= index < len(scenes):
        raise script_error(
            SourceLocation(str(path)), f"scene {index} does not exist", f"the script has {len(scenes)} scene(s)"
        )
    return scenes[index]
