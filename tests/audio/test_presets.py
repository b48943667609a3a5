"""Named voice presets: packaged, distinct from espeak-ng's own names, usable wherever a voice is asked for."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from talkgen.audio.presets import find_preset, voice_presets
from talkgen.audio.tts import list_variants, synthesize
from talkgen.errors import ScriptError
from talkgen.prompts import known_voices, parse_fountain, parse_yaml_scene


def test_presets_are_packaged_valid_and_never_shadow_an_espeak_voice():
    presets = voice_presets()
    assert {"ben", "narrator", "sam"} <= set(presets)
    espeak = known_voices()
    variants = set(list_variants())
    for key, p in presets.items():
        assert key not in espeak, f"preset {key!r} shadows an espeak-ng voice name"
        assert p.voice in espeak and (p.variant is None or p.variant in variants), p
        assert 80 <= p.rate <= 450 and 0 <= p.pitch <= 99 and p.about
    assert find_preset(" BEN ") is presets["ben"] and find_preset("en-gb") is None


def test_a_preset_speaks_as_its_voice_settings_and_arguments_override_it():
    ben = find_preset("ben")
    as_preset = synthesize("Still better.", "ben").waveform
    spelled = synthesize("Still better.", ben.voice, variant=ben.variant, rate=ben.rate, pitch=ben.pitch).waveform
    np.testing.assert_array_equal(as_preset, spelled)
    slower = synthesize("Still better.", "ben", rate=100).waveform
    assert len(slower) > 1.3 * len(as_preset)


def test_scripts_name_presets_and_may_change_their_fields():
    text = (
        "characters:\n  - name: Ana\n    voice: narrator\n  - name: Ben\n    voice: {preset: ben, rate: 150}\n"
        "lines:\n  - Ana: hi\n  - Ben: hello\n"
    )
    scene = parse_yaml_scene(text, "s.yaml", voices=known_voices())
    ana, ben = (c.voice for c in scene.characters)
    narrator = find_preset("narrator")
    assert (ana.name, ana.variant, ana.rate, ana.pitch) == (narrator.voice, narrator.variant, 150, 35)
    assert (ben.name, ben.variant, ben.rate, ben.pitch) == ("en-gb", "m3", 150, 38)  # rate changed, the rest kept
    with pytest.raises(ScriptError, match=r"s\.yaml:5:21: unknown voice preset 'bem'.*did you mean 'ben'"):
        parse_yaml_scene(text.replace("preset: ben", "preset: bem"), "s.yaml")
    with pytest.raises(ScriptError, match="either a name or a preset"):
        parse_yaml_scene(text.replace("{preset: ben,", "{name: en-gb, preset: ben,"), "s.yaml")


def test_fountain_characters_get_the_presets_in_order_of_appearance():
    scene = parse_fountain("INT. ROOM - DAY\n\nANA\nHi.\n\nBEN\nHello.\n\nCARL\nYo.\n", "x.fountain")[0]
    got = [(c.voice.name, c.voice.variant, c.voice.rate, c.voice.pitch) for c in scene.characters]
    want = [(p.voice, p.variant, p.rate, p.pitch) for p in (find_preset(n) for n in ("sam", "leo", "mia"))]
    assert got == want


def test_voices_command_lists_the_presets():
    from talkgen.cli import app

    result = CliRunner().invoke(app, ["voices", "--presets"])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines()]
    assert names == [p.name for p in voice_presets().values()]
