"""The Generate tab's "How takes are made" settings reach the render's options in their places (in process: the
client tests run the app in a child, where nothing can be watched)."""

from __future__ import annotations

import pytest

from talkgen.errors import ConfigError


@pytest.mark.parametrize(
    "anchor, steps, draws, expected",
    [("0.25", 3, "4", (True, False, 0.25, 3, 4)), ("the model's", 4, "the model's", (True, False, None, 4, None))],
)
def test_the_generate_tabs_take_settings_reach_the_options(monkeypatch, tmp_path, anchor, steps, draws, expected):
    from talkgen.app import jobs, ui

    seen = []

    def capture(text, fmt, options, out_dir, progress, upload_dir=None):
        seen.append(options)
        raise ConfigError("captured")

    monkeypatch.setattr(jobs, "generate_scene", capture)
    generate = ui._make_generate(tmp_path)
    status, *_ = generate(
        "script", "yaml", True, 0, 1, "32", 1, True, False, anchor, steps, draws, None, lambda *a, **k: None
    )
    assert "captured" in status
    options = seen[-1]
    got = (options.keyframe, options.retime, options.reference_anchor, options.keyframe_steps, options.keyframe_draws)
    assert got == expected
