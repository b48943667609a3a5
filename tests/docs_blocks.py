"""Fenced code blocks of the repository's Markdown files, for the tests that run the documented examples."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def code_blocks(markdown: str | Path, language: str) -> list[str]:
    """The ``language`` fenced blocks of a Markdown file of the repository (path relative to its root)."""
    text = (REPO / markdown).read_text(encoding="utf-8")
    return [m.group(1) for m in re.finditer(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)]
