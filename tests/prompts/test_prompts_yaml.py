"""YAML scene scripts: parsing, tags, and located ScriptErrors for every kind of mistake."""

from __future__ import annotations

import re

import pytest

from talkgen.errors import ScriptError
from talkgen.prompts import load_scene, parse_yaml_scene

GOOD = """\
title: Test
description: a kitchen
characters:
  - name: Ana
    description: a woman with red hair
    voice: {name: en-gb, variant: f3, pitch: 60, rate: 160}
  - name: Ben
    description: a man in a grey coat
  - name: Cleo
    description: a silent cat
lines:
  - Ben: Hello there.
  - speaker: ana
    text: Hi Ben.
    expression: smiling
    action: waves at Ben
    pause: 0.5
"""


def _err(text, **kw) -> ScriptError:
    with pytest.raises(ScriptError) as info:
        parse_yaml_scene(text, "s.yaml", check_files=kw.pop("check_files", False), **kw)
    return info.value


def _where(err: ScriptError) -> tuple[int, int]:
    m = re.match(r"^s\.yaml:(\d+):(\d+): .+; hint: .+", str(err))
    assert m, str(err)
    return int(m.group(1)), int(m.group(2))


def test_parse_good_scene_tags_in_order_of_appearance():
    scene = parse_yaml_scene(GOOD, "s.yaml", check_files=False)
    assert [(c.name, c.tag) for c in scene.characters] == [("Ben", "Person1"), ("Ana", "Person2"), ("Cleo", "Person3")]
    assert [(ln.speaker, ln.tag, ln.text) for ln in scene.lines] == [
        ("Ben", "Person1", "Hello there."),
        ("Ana", "Person2", "Hi Ben."),
    ]
    ana = scene.character("Person2")
    assert (ana.voice.name, ana.voice.variant, ana.voice.pitch, ana.voice.rate) == ("en-gb", "f3", 60, 160)
    assert scene.lines[1].pause == 0.5 and scene.lines[1].expression == "smiling"
    assert scene.description == "a kitchen" and scene.title == "Test"


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("characters:\n  - name: Ana\nlines:\n  - Bob: hi\n", (4, 5), "unknown speaker 'Bob'"),
        ("characters:\n  - name: Ana\n  - name: ana\nlines:\n  - Ana: hi\n", (3, 11), "duplicate character"),
        ("characters:\n  - name: Ana\n    descripton: x\nlines:\n  - Ana: hi\n", (3, 5), "did you mean 'description'"),
        ("characters:\n  - name: Ana\nlines: []\n", (3, 8), "empty dialogue"),
        ("characters:\n  - name: Ana\nlines:\n  - speaker: Ana\n    text: ''\n", (4, 5), "empty dialogue line"),
        ("characters:\n  - name: Ana\nlines:\n  - Ana:\n", (4, 5), "empty dialogue line"),
        ("characters:\n  - name: Ana\n", (1, 1), "no dialogue"),
        ("characters: [\n  - name: Ana\n", (2, 3), "bad YAML"),
        ("characters:\n  - name: Ana\n   voice: en\n", (3, 4), "bad YAML"),
        ("title: x\ntitle: y\n", (2, 1), "appears twice"),
        ("shot: {mode: jumpy}\n", (1, 14), "unknown shot mode"),
        ("shot: {fps: 1000}\n", (1, 13), "fps 1000 is outside"),
        ("characters:\n  - name: Ana\nlines:\n  - speaker: Ana\n    text: hi\n    pause: soon\n", (6, 12), "pause"),
        ("- just\n- a list\n", (1, 1), "must be a mapping"),
        ("characters:\n  - name: Person1\nlines:\n  - Person1: x\n", (2, 11), "looks like a tag"),
    ],
)
def test_errors_are_located_with_hint(text, where, words):
    err = _err(text)
    assert _where(err) == where
    assert words in str(err)
    assert err.location.line == where[0] and err.hint


def test_line_longer_than_limit():
    text = "shot: {max_line_chars: 20}\ncharacters:\n  - name: Ana\nlines:\n  - Ana: " + "word " * 10 + "\n"
    err = _err(text)
    assert _where(err) == (5, 10)
    assert "more than the limit 20" in str(err)
    ok = text.replace("max_line_chars: 20", "max_line_chars: 60")
    assert parse_yaml_scene(ok, "s.yaml").lines[0].text == ("word " * 10).strip()


def test_missing_audio_file_and_image(tmp_path):
    text = "characters:\n  - name: Ana\nlines:\n  - speaker: Ana\n    audio: nope.wav\n"
    with pytest.raises(ScriptError, match=r"s\.yaml:5:12: audio file not found: nope\.wav; hint: paths are relative"):
        parse_yaml_scene(text, "s.yaml", base_dir=tmp_path)
    import numpy as np

    from talkgen.audio.io import save_wav

    save_wav(tmp_path / "yes.wav", np.zeros(1600, np.float32), 16_000)
    scene = parse_yaml_scene(text.replace("nope", "yes"), "s.yaml", base_dir=tmp_path)
    assert scene.lines[0].audio == tmp_path / "yes.wav" and scene.lines[0].text is None
    img = "characters:\n  - name: Ana\n    image: face.png\nlines:\n  - Ana: hi\n"
    with pytest.raises(ScriptError, match=r"s\.yaml:3:12: image file not found"):
        parse_yaml_scene(img, "s.yaml", base_dir=tmp_path)


def test_script_check_refuses_broken_files_at_their_line(tmp_path):
    """Reference images and audio are checked from their headers when the script is read, not at render time."""
    import struct
    import zlib

    (tmp_path / "notes.png").write_text("not an image")
    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)  # a decompression bomb's header

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    (tmp_path / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    (tmp_path / "folder.wav").mkdir()
    (tmp_path / "words.wav").write_text("hello")
    img = "characters:\n  - name: Ana\n    image: {}\nlines:\n  - Ana: hi\n"
    aud = "characters:\n  - name: Ana\nlines:\n  - speaker: Ana\n    audio: {}\n"
    cases = [
        (img.format("notes.png"), r"s\.yaml:3:12: notes\.png: not a readable PNG"),
        (img.format("bomb.png"), r"s\.yaml:3:12: bomb\.png: .*(more than the limit|decompression bomb)"),
        (aud.format("folder.wav"), r"s\.yaml:5:12: audio folder\.wav is not a regular file"),
        (aud.format("words.wav"), r"s\.yaml:5:12: .*words\.wav: not a recognised media file"),
    ]
    for text, message in cases:
        with pytest.raises(ScriptError, match=message):
            parse_yaml_scene(text, "s.yaml", base_dir=tmp_path)


def test_unknown_voice_checked_against_known_list():
    text = "characters:\n  - name: Ana\n    voice: en-usa\nlines:\n  - Ana: hi\n"
    err = _err(text, voices=frozenset({"en-us", "en-gb"}))
    assert _where(err) == (3, 12) and "did you mean 'en-us'" in str(err)
    assert parse_yaml_scene(text, "s.yaml", voices=None).characters[0].voice.name == "en-usa"


def test_yaml_scalars_stay_text_and_tags_are_not_constructed():
    text = (
        "characters:\n  - name: Ana\nlines:\n  - Ana: yes\n  - Ana: 2001-12-14\n  - Ana: !!python/object:os.system x\n"
    )
    scene = parse_yaml_scene(text, "s.yaml")
    assert [ln.text for ln in scene.lines] == ["yes", "2001-12-14", "x"]


def test_load_scene_file_errors(write, tmp_path):
    with pytest.raises(ScriptError, match="script file not found"):
        load_scene(tmp_path / "missing.yaml")
    with pytest.raises(ScriptError, match="unsupported script type"):
        load_scene(write("x", "scene.json"))
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"title: ok\nlines: \xff\xfe\n")
    with pytest.raises(ScriptError, match=r"bin\.yaml:2:8: the file is not valid UTF-8"):
        load_scene(bad)
    with pytest.raises(ScriptError, match="the script is empty"):
        load_scene(write("# nothing\n"))


def test_a_300_character_scene_plans_in_seconds():
    """Each shot's phrase is built once per prompt, not once per budget step (was 18.6 s here, now ~3.5 s)."""
    import time

    from talkgen.prompts import CachedTiming, estimate_timing, plan_scene

    n = 300
    chars = "".join(f"  - name: C{i}\n    description: a person number {i}\n" for i in range(n))
    lines = "".join(f"  - C{i}: Hello there number {i}.\n" for i in range(n))
    scene = parse_yaml_scene(f"characters:\n{chars}lines:\n{lines}", "big.yaml")
    start = time.perf_counter()
    plan = plan_scene(scene, CachedTiming(estimate_timing))
    assert len(plan.clips) >= n and time.perf_counter() - start < 10.0
