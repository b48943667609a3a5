"""The app's functions through gradio_client against an app launched on 127.0.0.1 (a child process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(300)


def _path(value) -> str:
    """A file output: a path, or a dict with one (gradio versions differ)."""
    return value if isinstance(value, str) else value.get("video") or value.get("value") or value["path"]


def test_check_script_gives_the_shot_plan(client):
    text = (Path(__file__).resolve().parents[2] / "samples" / "scenes" / "trio.yaml").read_text(encoding="utf-8")
    status, plan, plan_json, characters, _ = client.predict(text, "yaml", "(script default)", api_name="/check_script")
    assert "ok: 1 scene(s)" in status
    assert plan.startswith("scene 1/1: Picnic plans")
    assert plan_json[0]["scene"]["title"] == "Picnic plans"
    assert [row[2] for row in characters["data"]] == ["Kai", "Lena", "Omar"]


def test_check_script_reports_the_line_of_an_unknown_speaker(client, bad_script):
    text, line = bad_script
    status, plan, plan_json, _, _ = client.predict(text, "yaml", "(script default)", api_name="/check_script")
    assert f"Line {line}, column 5: unknown speaker &#x27;Bob&#x27;" in status
    assert plan == "" and plan_json is None


def test_voice_preview_is_audio(client):
    audio, message = client.predict("en-gb", "Good morning.", api_name="/preview_voice")
    assert message == "" and Path(audio).stat().st_size > 1000


def test_attach_line_audio_then_check(client, short_script, tmp_path):
    import numpy as np
    from gradio_client import handle_file

    from talkgen.audio.io import save_wav

    t = np.arange(8000) / 16000
    take = save_wav(tmp_path / "take.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    text, status = client.predict(short_script, "yaml", 1, handle_file(str(take)), api_name="/attach_line_audio")
    assert "recorded audio attached to line 1" in status, status
    assert "  - speaker: Mara\n    text: Hello there.\n    audio: " in text
    status, *_ = client.predict(text, "yaml", "(script default)", api_name="/check_script")
    assert "ok: 1 scene(s)" in status  # the session's own upload folder is allowed
    same, status = client.predict(text, "fountain", "Mara", None, api_name="/attach_image")
    assert "image not attached" in status and "need the YAML script format" in status


def test_evaluate_sync_report_and_plot(client, sample_clip):
    from gradio_client import handle_file

    status, report, plot = client.predict(handle_file(str(sample_clip)), None, api_name="/evaluate_sync")
    assert "confidence" in status, status
    assert {"offset_frames", "confidence", "face_fraction"} <= set(report)
    assert Path(plot).read_bytes()[:4] == b"\x89PNG"


def test_footage_that_is_not_media_is_refused(client, tmp_path):
    from gradio_client import handle_file

    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 20)
    status = client.predict(handle_file(str(fake)), api_name="/validate_footage")
    assert "footage refused" in status and "notes.mp4" in status


def test_generate_a_scene_on_tiny_random_weights(client, short_script):
    status, video, files, manifest = client.predict(short_script, "yaml", True, 0, 1, "32", 1, api_name="/generate")
    assert "untrained random weights" in status, status
    assert Path(_path(video)).stat().st_size > 1000
    assert sorted(Path(f).suffix for f in files) == [".json", ".mp4", ".srt"]
    assert manifest["model"]["random_weights"] is True and manifest["frames"] > 0
    assert "Mara: Hello there." in Path(next(f for f in files if f.endswith(".srt"))).read_text()
    assert json.loads(Path(next(f for f in files if f.endswith(".json"))).read_text())["seed"] == 0
    assert manifest["output"] == "scene.mp4"  # no server paths in the page


def test_generate_takes_the_keyframe_retime_and_anchor_settings(client, short_script):
    # The five settings come after the scene number; a caller that stops at the scene number (above) gets the
    # defaults. Random weights have no keyframe transformer nor mouth head, so both read off here whatever is asked
    # (test_app_generate_settings.py follows each setting into the render's options).
    status, _, _, manifest = client.predict(
        short_script, "yaml", True, 0, 1, "32", 1, False, False, "0.25", 2, "4", api_name="/generate"
    )
    assert "untrained random weights" in status, status
    assert manifest["reference_anchor"] == 0.25
    assert manifest["keyframe"] is False and manifest["retimed"] is False and manifest["keyframe_steps"] is None
    assert manifest["keyframe_draws"] is None  # no keyframe drawn
    status, _, _, manifest = client.predict(
        short_script, "yaml", True, 0, 1, "32", 1, True, True, "the model's", api_name="/generate"
    )
    assert "untrained random weights" in status, status
    assert manifest["reference_anchor"] is None  # random weights set none of their own


def test_dub_a_short_clip_on_tiny_random_weights(client, short_clip):
    from gradio_client import handle_file

    status, before, after = client.predict(
        handle_file(str(short_clip)),
        None,
        "Hi.",
        "en-us",
        0.9,
        "mouth",
        "all",
        1,
        "32",
        True,
        0,
        api_name="/dub",
    )
    assert "untrained random weights" in status, status
    assert Path(_path(after)).stat().st_size > 1000
    assert "mouth edited on 0 " not in status  # the face was found and edited
