"""The gradio-free adapters behind the app's widgets."""

from __future__ import annotations

import numpy as np
import pytest

from talkgen.errors import ConfigError
from talkgen.webapp import handlers


def test_samples_load_and_plan():
    samples = handlers.sample_scripts()
    assert {"dialogue.yaml", "rooftop.fountain"} <= set(samples)
    for name in samples:
        text, fmt = handlers.read_sample(name)
        check = handlers.check_script(text, fmt)
        assert check.ok, (name, check.error)
        assert handlers.plan_text(check).startswith("scene 1/")
    with pytest.raises(ConfigError, match="unknown sample"):
        handlers.read_sample("../../etc/passwd")


def test_script_may_not_name_files_outside_the_samples(tmp_path):
    from talkgen.audio.io import save_wav

    wav = save_wav(tmp_path / "private.wav", np.zeros(1600, dtype=np.float32), 16000)
    text = f"characters:\n  - name: Ana\nlines:\n  - speaker: Ana\n    audio: {wav}\n"
    check = handlers.check_script(text)
    assert not check.ok and check.error.location.line == 4
    assert "outside the app's sample folders" in str(check.error)


def test_error_html_marks_the_line_and_escapes():
    text = "characters:\n  - name: <b>Ana</b>\nlines:\n  - Bob: hi\n"
    check = handlers.check_script(text)
    html = handlers.error_html(text, check.error)
    assert "Line 4, column 5: unknown speaker" in html
    assert "<b>Ana</b>" not in html and "&lt;b&gt;Ana&lt;/b&gt;" in html
    assert ">   4 |   - Bob: hi\n      |     ^" in html.replace("&gt;", ">")


def test_unknown_format_and_huge_text_are_errors():
    assert isinstance(handlers.check_script("x", "docx").error, ConfigError)
    assert isinstance(handlers.check_script("a" * (handlers.MAX_SCRIPT_CHARS + 1)).error, ConfigError)


def test_character_rows_and_voice_preview():
    text, fmt = handlers.read_sample("dialogue.yaml")
    check = handlers.check_script(text, fmt)
    assert [r[2] for r in handlers.characters_rows(check)] == ["Ana", "Ben"]
    rate, wave = handlers.preview_character(check, "Ben")
    assert rate == 16000 and wave.dtype == np.float32 and len(wave) > rate // 2
    assert "en-us" in handlers.voice_names()
