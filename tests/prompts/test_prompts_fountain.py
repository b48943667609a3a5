"""Fountain import: headings, cues with extensions, parentheticals, action, notes; errors."""

from __future__ import annotations

import pytest

from talkgen.errors import ScriptError
from talkgen.prompts import parse_fountain, plan_scene

SCRIPT = """\
Title: Test play
Author: someone
Mode: continuous

/* a boneyard
   spanning lines */
[[ANA: a woman with a red scarf]]

INT. KITCHEN - DAY

Morning light. ANA pours coffee.

ANA
(tired)
Good morning.

BEN (O.S.)
Morning!
(beat)
Is there coffee?

Ana points at the pot.

ANA (CONT'D)
There is always coffee.

CUT TO:

EXT. GARDEN - NIGHT

Nothing is said here.

.FORCED HEADING

@McBride
Lowercase forced cue.
"""


def test_parse_scenes_lines_and_tags():
    scenes = parse_fountain(SCRIPT, "t.fountain")
    assert [s.title for s in scenes] == ["INT. KITCHEN - DAY", "FORCED HEADING"]  # the garden has no dialogue
    kitchen = scenes[0]
    assert kitchen.settings.mode == "continuous"
    assert kitchen.description == "Morning light. ANA pours coffee."
    assert [(c.name, c.tag, c.description) for c in kitchen.characters] == [
        ("Ana", "Person1", "a woman with a red scarf"),
        ("Ben", "Person2", ""),
    ]
    assert [(ln.speaker, ln.text, ln.expression, ln.action, ln.pause) for ln in kitchen.lines] == [
        ("Ana", "Good morning.", "tired", None, None),
        ("Ben", "Morning!", None, None, 0.6),
        ("Ben", "Is there coffee?", None, None, None),
        ("Ana", "There is always coffee.", None, "Ana points at the pot.", None),
    ]
    loc = kitchen.lines[1].location
    assert (loc.file, loc.line, loc.column) == ("t.fountain", 18, 1)
    assert kitchen.characters[0].voice != kitchen.characters[1].voice
    assert scenes[1].lines[0].speaker == "Mcbride"


def test_fountain_plan_uses_tags_in_prompts():
    scene = parse_fountain(SCRIPT, "t.fountain")[0]
    plan = plan_scene(scene, lambda sc, ln: __import__("talkgen.prompts", fromlist=["x"]).LineTiming(1.0))
    assert "Setting: Morning light. Person1 pours coffee." in plan.scene_prompt
    assert "Person1 points at the pot" in plan.scene_prompt
    assert "- Person2: a person" in plan.scene_prompt


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", r"^x\.fountain:1:1: empty dialogue"),
        ("INT. ROOM\n\nJust action.\n", r"empty dialogue"),
        ("\nANA\n(smiles)\n\nBEN\nHi.\n", r"^x\.fountain:2:1: character cue 'ANA' has no dialogue"),
        ("FPS: fast\n\nANA\nHi.\n", r"^x\.fountain:1:1: FPS is not a number"),
        ("Mode: jumpy\n\nANA\nHi.\n", r"^x\.fountain:1:1: invalid title-page setting"),
    ],
)
def test_fountain_errors(text, match):
    with pytest.raises(ScriptError, match=match):
        parse_fountain(text, "x.fountain")


def test_fountain_line_limit():
    with pytest.raises(ScriptError, match=r"^x\.fountain:3:1: line has 30 characters, more than the limit 10"):
        parse_fountain("\nANA\n" + "a" * 30 + "\n", "x.fountain", max_line_chars=10)


def test_transition_and_lowercase_lines_are_not_cues():
    scenes = parse_fountain("\nCUT TO:\nnothing\n\nAna\nnot a cue\n\nBOB\nHi.\n", "x.fountain")
    assert [ln.speaker for ln in scenes[0].lines] == ["Bob"]


def test_a_character_keeps_its_voice_across_scenes():
    """Voices are assigned once per screenplay, in order of first appearance, not per scene."""
    text = "INT. ONE - DAY\n\nANA\nHello.\n\nBEN\nHi.\n\nINT. TWO - NIGHT\n\nBEN\nStill here?\n\nANA\nYes.\n"
    first, second = parse_fountain(text, "two.fountain")
    voice = {
        scene_index: {c.name: c.voice for c in scene.characters} for scene_index, scene in enumerate((first, second))
    }
    assert voice[0]["Ana"] == voice[1]["Ana"] and voice[0]["Ben"] == voice[1]["Ben"]
    assert voice[0]["Ana"] != voice[0]["Ben"]
