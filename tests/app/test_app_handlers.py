"""The gradio-free adapters behind the app's widgets."""

from __future__ import annotations

import numpy as np
import pytest

from talkgen.app import handlers
from talkgen.errors import ConfigError
from talkgen.media import MediaLimits


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


# ------------------------------------------------------------------------------- reference images and line audio
@pytest.fixture
def uploads(tmp_path):
    return handlers.session_upload_dir(tmp_path / "results", "session-1")


@pytest.fixture
def red_png(tmp_path):
    from PIL import Image

    path = tmp_path / "red.png"
    Image.new("RGB", (40, 30), (255, 0, 0)).save(path)
    return path


@pytest.fixture
def tone_wav(tmp_path):
    from talkgen.audio.io import save_wav

    t = np.arange(8000) / 16000
    return save_wav(tmp_path / "take.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)


def _dialogue():
    return handlers.read_sample("dialogue.yaml")[0]


def _changed(before: str, after: str) -> list[str]:
    import difflib

    return [d for d in difflib.ndiff(before.splitlines(), after.splitlines()) if d[:1] in "+-"]


def test_attach_image_to_the_right_character(uploads, red_png):
    text = _dialogue()
    edited = handlers.attach_image(text, "yaml", "Ben", red_png, uploads)
    check = handlers.check_script(edited, upload_dir=uploads)
    assert check.ok, check.error
    ana, ben = check.scenes[0].characters
    assert ana.image is None and ben.image.parent == uploads and ben.image.suffix == ".png"
    assert _changed(text, edited) == [f'+     image: "{ben.image}"']  # one line inserted, nothing else touched
    assert edited.index("image:") > edited.index("name: Ben") > edited.index("name: Ana")
    assert [row[4] for row in handlers.characters_rows(check)] == ["", ben.image.name]
    # without the session's folder the path is refused like any other server path
    assert "outside the app's sample folders" in str(handlers.check_script(edited).error)


def test_attach_image_replaces_an_existing_one_and_works_in_flow_mappings(uploads, red_png, tmp_path):
    from PIL import Image

    text = "characters:\n  - {name: Ana, voice: en-us}\n  - name: Ben\nlines:\n  - Ana: Hi.\n  - Ben: Yo.\n"
    once = handlers.attach_image(text, "yaml", "Ana", red_png, uploads)
    assert "  - {name: Ana, voice: en-us, image: " in once
    blue = tmp_path / "blue.jpg"
    Image.new("RGB", (30, 30), (0, 0, 255)).save(blue)
    twice = handlers.attach_image(once, "yaml", "Ana", blue, uploads)
    check = handlers.check_script(twice, upload_dir=uploads)
    assert check.ok and twice.count("image:") == 1
    assert Image.open(check.scenes[0].character("Ana").image).getpixel((0, 0))[2] > 200
    both = handlers.attach_image(twice, "yaml", "Ben", red_png, uploads)
    assert both.count("image:") == 2 and both.startswith(twice.split("  - name: Ben")[0])


def test_attach_audio_to_the_right_line(uploads, tone_wav):
    text = _dialogue()
    edited = handlers.attach_line_audio(text, "yaml", 2, tone_wav, uploads, MediaLimits())  # `- Ben: ...` form
    check = handlers.check_script(edited, upload_dir=uploads)
    assert check.ok, check.error
    lines = check.scenes[0].lines
    assert [ln.audio is not None for ln in lines] == [False, True, False, False]
    assert lines[1].text == "It makes a sound like a jet engine." and lines[1].speaker == "Ben"
    assert lines[1].audio.parent == uploads and lines[1].audio.suffix == ".wav"
    labels = [label for label, _ in handlers.line_choices(check)]
    assert labels[1] == f"2: Ben: It makes a sound like a jet engine. [audio: {lines[1].audio.name}]"
    assert labels[0] == "1: Ana: Did you see the new coffee machine?"
    # a full-form line, then replacing the audio of the same line
    again = handlers.attach_line_audio(edited, "yaml", 3, tone_wav, uploads, MediaLimits())
    again = handlers.attach_line_audio(again, "yaml", 3, tone_wav, uploads, MediaLimits())
    assert again.count("audio:") == 2
    assert handlers.check_script(again, upload_dir=uploads).scenes[0].lines[2].audio == lines[1].audio
    with pytest.raises(ConfigError, match="no dialogue line 9"):
        handlers.attach_line_audio(text, "yaml", 9, tone_wav, uploads, MediaLimits())


def test_attach_to_fountain_says_yaml_is_needed(uploads, red_png, tone_wav):
    text, fmt = handlers.read_sample("rooftop.fountain")
    with pytest.raises(ConfigError, match="need the YAML script format"):
        handlers.attach_image(text, fmt, "JO", red_png, uploads)
    with pytest.raises(ConfigError, match="need the YAML script format"):
        handlers.attach_line_audio(text, fmt, 1, tone_wav, uploads, MediaLimits())


def test_invalid_uploads_are_refused_and_the_script_is_unchanged(uploads, tmp_path):
    from PIL import Image

    from talkgen.audio.io import save_wav
    from talkgen.errors import MediaError

    text = _dialogue()
    fake = tmp_path / "photo.png"
    fake.write_text("not an image at all")
    with pytest.raises(MediaError, match=r"photo\.png: not a readable PNG, JPEG or WebP image"):
        handlers.attach_image(text, "yaml", "Ana", fake, uploads)
    huge = tmp_path / "huge.png"
    Image.new("1", (7000, 6000)).save(huge)
    with pytest.raises(MediaError, match=r"huge\.png: 7000x6000 pixels is more than the limit of 40 megapixels"):
        handlers.attach_image(text, "yaml", "Ana", huge, uploads)
    with pytest.raises(MediaError, match=r"notes\.txt: not a \.png"):
        handlers.attach_image(text, "yaml", "Ana", tmp_path / "notes.txt", uploads)
    noise = tmp_path / "speech.wav"
    noise.write_bytes(b"RIFF" + b"\0" * 200)
    with pytest.raises(MediaError, match=r"speech\.wav"):
        handlers.attach_line_audio(text, "yaml", 1, noise, uploads, MediaLimits())
    silent = save_wav(tmp_path / "silent.wav", np.zeros(16000, np.float32), 16000)
    with pytest.raises(MediaError, match=r"silent\.wav: the audio is empty or silent"):
        handlers.attach_line_audio(text, "yaml", 1, silent, uploads, MediaLimits())
    long = save_wav(tmp_path / "long.wav", np.full(16000 * 3, 0.1, np.float32), 16000)
    with pytest.raises(MediaError, match=r"long\.wav.*3(\.0+)? s"):
        handlers.attach_line_audio(text, "yaml", 1, long, uploads, MediaLimits(max_duration=2.0))
    assert not uploads.exists() or not any(uploads.iterdir())  # nothing stored, and `text` was never edited


def test_attach_needs_a_valid_script_and_a_known_character(uploads, red_png):
    from talkgen.errors import ScriptError

    with pytest.raises(ScriptError, match="unknown speaker"):
        handlers.attach_image("characters:\n  - name: Ana\nlines:\n  - Bob: hi\n", "yaml", "Ana", red_png, uploads)
    with pytest.raises(ConfigError, match="no character 'Zed'"):
        handlers.attach_image(_dialogue(), "yaml", "Zed", red_png, uploads)


def test_session_upload_folders_are_separate(tmp_path):
    a = handlers.session_upload_dir(tmp_path, "a")
    assert a != handlers.session_upload_dir(tmp_path, "b") and a.parent == (tmp_path / "uploads").resolve()
    assert handlers.session_upload_dir(tmp_path, "../../etc").parent == a.parent


def test_the_app_plans_what_generate_renders():
    """The live plan measures the speech as `talkgen generate` does (no text estimate): same clips, same seconds."""
    from talkgen.prompts import CachedTiming, load_scenes, plan_scene, speech_timing

    path = "samples/scenes/dialogue.yaml"
    cli = plan_scene(load_scenes(path)[0], CachedTiming(speech_timing))
    app = handlers.check_script(open(path, encoding="utf-8").read(), "yaml")
    assert app.error is None
    assert app.plans[0].num_frames == cli.num_frames
    assert [(c.start_frame, c.num_frames) for c in app.plans[0].clips] == [
        (c.start_frame, c.num_frames) for c in cli.clips
    ]


def test_cached_timing_keeps_at_most_maxsize_lines():
    from talkgen.prompts import CachedTiming, LineTiming, parse_yaml_scene

    calls = []
    timing = CachedTiming(lambda scene, line: calls.append(line.text) or LineTiming(1.0), maxsize=2)
    scene = parse_yaml_scene("characters: [{name: A}]\nlines: [{A: one}, {A: two}, {A: three}]\n", "f.yaml")
    for line in (*scene.lines, scene.lines[2], scene.lines[0]):
        timing(scene, line)
    assert calls == ["one", "two", "three", "one"]  # "three" was kept, "one" had been dropped
