"""Named voice presets (``talkgen/audio/voices.yaml``, package data): a name such as ``ben`` stands for an espeak-ng
voice, variant, rate and pitch wherever talkgen asks for a voice (scripts, ``say``, ``dub --text``, the app, the API).

Preset names are checked against the espeak-ng voice names when listed, so that a name never means two things.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from talkgen.errors import ConfigError

PRESETS_FILE = "voices.yaml"
FIELDS = ("voice", "variant", "rate", "pitch", "about")
DEFAULT_RATE = 175  # words per minute, where neither the caller nor a preset gives one
DEFAULT_PITCH = 50


@dataclass(frozen=True)
class NamedVoice:
    """A preset: ``voice`` (espeak-ng voice), ``variant`` (or None), ``rate`` (words per minute), ``pitch`` (0-99)."""

    name: str
    voice: str
    variant: str | None
    rate: int
    pitch: int
    about: str = ""

    def settings(self) -> dict:
        """The preset as synthesis settings: ``name`` (the espeak-ng voice), ``variant``, ``rate``, ``pitch``."""
        return {"name": self.voice, "variant": self.variant, "rate": self.rate, "pitch": self.pitch}


@lru_cache(maxsize=1)
def voice_presets() -> dict[str, NamedVoice]:
    """The presets by casefolded name, in file order.

    Raises:
        ConfigError: the packaged file is missing or malformed (a broken install).
    """
    import yaml

    source = resources.files("talkgen.audio") / PRESETS_FILE
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"voice presets {PRESETS_FILE} unreadable ({exc}); reinstall talkgen") from None
    if not isinstance(data, dict):
        raise ConfigError(f"voice presets {PRESETS_FILE}: expected a mapping of names to voices; reinstall talkgen")
    presets: dict[str, NamedVoice] = {}
    for name, spec in data.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("voice"), str) or set(spec) - set(FIELDS):
            raise ConfigError(f"voice preset {name!r}: give voice (and optionally {', '.join(FIELDS[1:])})")
        presets[str(name).casefold()] = NamedVoice(
            str(name), spec["voice"], spec.get("variant"), int(spec.get("rate", DEFAULT_RATE)),
            int(spec.get("pitch", DEFAULT_PITCH)),
            str(spec.get("about", "")),
        )  # fmt: skip
    return presets


def find_preset(name: str) -> NamedVoice | None:
    """The preset called ``name`` (any case), or None."""
    return voice_presets().get(name.strip().casefold()) if isinstance(name, str) else None
