"""Load scene scripts from files: YAML (``.yaml``/``.yml``) or Fountain (``.fountain``/``.spmd``/``.txt``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from talkgen.prompts.fountain import parse_fountain
from talkgen.prompts.scene import Scene
from talkgen.prompts.source import SourceLocation, read_script_text, script_error, without_gc_pauses
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


def check_file_roots(scenes: Sequence[Scene], roots: Sequence[Path], where: str, hint: str) -> None:
    """Refuse audio and image files named by ``scenes`` that lie outside every folder of ``roots`` (``where``: how
    the message names those folders).

    Purely lexical (symlinks resolved, nothing opened), and the message names only the file's base name: a script
    from a browser or an API client learns nothing about the server's files, not even whether one exists.

    Raises:
        ScriptError: at the line that names the file, with ``hint`` as the fix.
    """
    resolved_roots = [Path(r).resolve() for r in roots]
    for scene in scenes:
        named = [(c.image, c.location) for c in scene.characters] + [(ln.audio, ln.location) for ln in scene.lines]
        for path, loc in named:
            if path is not None and not any(Path(path).resolve().is_relative_to(r) for r in resolved_roots):
                raise script_error(
                    loc or SourceLocation("script"), f"file {Path(path).name!r} is outside {where}", hint
                )


@without_gc_pauses
def load_scenes(
    path: str | Path,
    *,
    check_files: bool = True,
    voices: frozenset[str] | None = None,
    file_roots: Sequence[Path] | None = None,
    roots_names: tuple[str, str] | None = None,
) -> tuple[Scene, ...]:
    """Read a script file into scenes (a YAML script is one scene; a Fountain file may hold several).

    Args:
        path: the script file.
        check_files: check that audio and image files named by a YAML script exist.
        voices: casefolded known voice names to validate YAML voices against (see :func:`known_voices`).
        file_roots: when given, files named by the script must lie inside one of these folders
            (:func:`check_file_roots`, checked before any file is looked at); ``roots_names``: how the error
            names those folders, and the fix it shows (default: "the allowed folders").

    Raises:
        ScriptError: with ``file:line:column`` and a hint.
    """
    if file_roots is not None:
        scenes = load_scenes(path, check_files=False, voices=voices)
        where, hint = roots_names or ("the allowed folders", "name files inside the allowed folders")
        check_file_roots(scenes, file_roots, where, hint)
        return load_scenes(path, check_files=True, voices=voices) if check_files else scenes
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
