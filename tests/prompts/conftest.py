"""Fixtures for talkgen.prompts tests: script writers and deterministic timing functions."""

from __future__ import annotations

import pytest

from talkgen.prompts import LineTiming, Pause


@pytest.fixture
def write(tmp_path):
    """write(text, name='scene.yaml') -> Path of a script file in a temp folder."""

    def _write(text: str, name: str = "scene.yaml"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def fixed_timing():
    """Every line lasts 0.1 s per word; a pause after each sentence-ending word (strength 1)."""

    def timing(scene, line):
        words = (line.text or "x").split()
        pauses = tuple(Pause(0.1 * (k + 1), 1.0) for k, w in enumerate(words[:-1]) if w.endswith((".", "?", "!")))
        return LineTiming(0.1 * len(words), pauses)

    return timing
