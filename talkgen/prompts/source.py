"""Source locations and located errors for scene scripts.

Every :class:`~talkgen.errors.ScriptError` raised while reading a script says where and what:
``file:line:column: what is wrong; hint: how to fix``. Lines and columns are 1-based, like editors show them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from talkgen.errors import ScriptError

MAX_SCRIPT_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class SourceLocation:
    """A position in a script file (1-based line and column)."""

    file: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


def script_error(loc: SourceLocation, what: str, hint: str) -> ScriptError:
    """Build a :class:`ScriptError` whose message is ``file:line:column: what; hint: hint``.

    The returned exception also carries ``location``, ``what`` and ``hint`` attributes for programs (the web app
    highlights the line).
    """
    err = ScriptError(f"{loc}: {what}; hint: {hint}")
    err.location = loc
    err.what = what
    err.hint = hint
    return err


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def read_script_text(path: str | Path, max_bytes: int = MAX_SCRIPT_BYTES) -> str:
    """Read a script file as UTF-8 text, refusing huge files and pointing at undecodable bytes.

    Raises:
        ScriptError: the file is missing, too large, not a file or not UTF-8.
    """
    path = Path(path)
    where = SourceLocation(str(path))
    try:
        if not path.is_file():
            raise script_error(where, "script file not found", "check the path; scripts are .yaml or .fountain files")
        size = path.stat().st_size
        if size > max_bytes:
            raise script_error(where, f"script is {size} bytes, more than the limit {max_bytes}", "split the scene")
        data = path.read_bytes()
    except OSError as exc:
        raise script_error(
            where, f"cannot read the script ({exc.strerror or exc})", "check the file permissions"
        ) from None
    return decode_script_bytes(data, str(path))


def decode_script_bytes(data: bytes, file: str) -> str:
    """Decode UTF-8 (an optional BOM is removed); a bad byte becomes a located ScriptError."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise script_error(
            SourceLocation(file, line, column), "the file is not valid UTF-8 text", "save it as UTF-8"
        ) from None
    return check_script_text(text, file)


_SURROGATES = re.compile("[\ud800-\udfff]")


def _location(text: str, index: int, file: str) -> SourceLocation:
    before = text[:index]
    return SourceLocation(file, before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1)


def check_script_text(text: str, file: str) -> str:
    """``text`` unchanged if it is plain Unicode text; a NUL or an unpaired surrogate (``\\ud800``, which JSON
    bodies can carry and no UTF-8 file can) is a located ScriptError."""
    if "\0" in text:
        loc = _location(text, text.index("\0"), file)
        raise script_error(loc, "the file contains a NUL character", "save the script as plain UTF-8 text")
    bad = _SURROGATES.search(text)
    if bad is not None:
        raise script_error(
            _location(text, bad.start(), file),
            f"the text contains an unpaired surrogate (U+{ord(bad.group()):04X}), which is not a character",
            "send the script as valid Unicode text (UTF-8)",
        )
    return text


def without_gc_pauses(fn):
    """Run ``fn`` with the cyclic garbage collector paused (and resumed after, if it was on).

    Parsing and planning a long script builds many small acyclic objects; the collector's full passes over them
    cost about a third of the time of a 1 MB script (measured: 2.75 s vs 1.79 s) and free nothing. Reference
    counting still frees everything as usual.
    """
    import functools
    import gc

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not gc.isenabled():
            return fn(*args, **kwargs)
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.enable()

    return wrapper
