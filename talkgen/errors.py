"""Error types for user-facing mistakes.

Every error a user can cause (a bad script, an unreadable media file, a missing weight directory, a wrong setting)
is a subclass of :class:`TalkgenError`. The CLI prints such errors as one line and exits with code 2; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations


class TalkgenError(Exception):
    """Base class for errors caused by user input; the message names the thing and the fix."""


class MediaError(TalkgenError):
    """A media file was refused or could not be read/written (names the file and the limit or cause)."""


class SpeechError(TalkgenError):
    """Speech synthesis or audio processing failed for a user-visible reason (unknown voice, empty text...)."""


class ScriptError(TalkgenError):
    """A scene script is invalid; messages carry ``file:line:column`` and a fix hint."""


class WeightsError(TalkgenError):
    """Model weights are missing or malformed in a local directory; names the expected layout."""


class ConfigError(TalkgenError, ValueError):
    """A run-time setting or config file is invalid (also a ValueError: settings dataclasses raise it)."""
