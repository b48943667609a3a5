"""Prompt compiler: expected strings per template, the token budget and what it reports as dropped."""

from __future__ import annotations

import pytest

from talkgen.errors import ConfigError
from talkgen.prompts import ShotText, byt5_token_count, compile_prompt, get_template, load_templates, render_prompt

DESC = {"Person1": "a woman with red hair, green jacket", "Person2": "a man in a grey coat"}


def test_templates_in_repo():
    names = set(load_templates())
    assert {"close_up", "dialogue_cuts", "group_shot"} <= names
    with pytest.raises(ConfigError, match="unknown prompt template 'nope'; available: close_up"):
        get_template("nope")


def test_close_up_expected():
    t = get_template("close_up")
    text = render_prompt(t, [ShotText(("Person1",), ("Person1",), "calm", "adjusts her glasses.")],
                         {"Person1": "an old woman"}, "a lighthouse room.")  # fmt: skip
    assert text == (
        "One video clip. Setting: a lighthouse room. Characters: - Person1: an old woman. "
        "First clip: close-up of Person1 talking to the camera, calm, adjusts her glasses."
    )
    silent = render_prompt(t, [ShotText(("Person1",), ())], {"Person1": ""})
    assert (
        silent
        == "One video clip. Characters: - Person1: a person. First clip: close-up of Person1, silent, mouth closed."
    )


def test_dialogue_cuts_expected():
    t = get_template("dialogue_cuts")
    shots = [
        ShotText(("Person1",), ("Person1",), "smiling"),
        ShotText(("Person2",), ("Person2",), None, "hands Person1 a cup"),
        ShotText(("Person1",), ()),
    ]
    assert render_prompt(t, shots, DESC, "a kitchen") == (
        "Three video clips. Setting: a kitchen. Characters: - Person1: a woman with red hair, green jacket "
        "- Person2: a man in a grey coat. First clip: close-up of Person1 talking to Person2, smiling. "
        "Second clip: close-up of Person2 talking to Person1, hands Person1 a cup. "
        "Third clip: close-up of Person1 listening to Person2."
    )
    # One clip alone: the off-screen partner comes from the cast, not from the described characters.
    alone = render_prompt(t, shots[:1], {"Person1": "a woman"}, cast=("Person1", "Person2"))
    assert alone.endswith("First clip: close-up of Person1 talking to Person2, smiling.")
    assert render_prompt(t, shots[:1], {"Person1": "a woman"}).endswith("close-up of Person1 talking, smiling.")


def test_group_shot_expected_two_and_three():
    t = get_template("group_shot")
    three = {**DESC, "Person3": "a child"}
    tags = ("Person1", "Person2", "Person3")
    shots = [ShotText(tags, ("Person2",)), ShotText(tags, ("Person1", "Person3"), "laughing"), ShotText(tags, ())]
    assert render_prompt(t, shots, three) == (
        "Three video clips. Characters: - Person1: a woman with red hair, green jacket "
        "- Person2: a man in a grey coat - Person3: a child. "
        "First clip: medium shot of Person1, Person2 and Person3, Person2 talking while Person1 "
        "and Person3 listening. Second clip: medium shot of Person1, Person2 and Person3, Person1 and Person3 talking "
        "while Person2 listening, laughing. Third clip: medium shot of Person1, Person2 and Person3, all silent, "
        "mouths closed."
    )
    two = render_prompt(t, [ShotText(("Person1", "Person2"), ("Person1", "Person2"))], DESC)
    assert two.endswith("First clip: medium shot of Person1 and Person2, Person1 and Person2 talking.")


def _shots():
    return [
        ShotText(("Person1",), ("Person1",), "smiling", "points at the window"),
        ShotText(("Person2",), ("Person2",), "worried", "hands Person1 a cup"),
    ]


def test_budget_not_needed_reports_nothing():
    t = get_template("dialogue_cuts")
    full = render_prompt(t, _shots(), DESC, "a kitchen")
    out = compile_prompt(t, _shots(), DESC, "a kitchen", budget=byt5_token_count(full))
    assert out.text == full and out.reductions == () and out.tokens == len(full.encode()) + 1


def test_budget_drops_in_order_and_reports():
    t = get_template("dialogue_cuts")
    setting = "a kitchen. It is raining outside."
    full = render_prompt(t, _shots(), DESC, setting)
    # Just one byte too many: only the setting's second sentence goes; actions and expressions stay.
    out = compile_prompt(t, _shots(), DESC, setting, budget=byt5_token_count(full) - 1)
    assert [(r.kind, r.target, r.before, r.after) for r in out.reductions] == [
        ("setting", "setting", setting, "a kitchen.")
    ]
    assert "hands Person1 a cup" in out.text and "points at the window" in out.text
    # A tight budget: setting, descriptions to a clause, then actions and expressions, then descriptions shorten.
    out = compile_prompt(t, _shots(), DESC, setting, budget=230)
    kinds = [r.kind for r in out.reductions]
    assert kinds[0] == "setting" and "action" in kinds and out.tokens <= 230
    first_action = kinds.index("action")
    assert set(kinds[:first_action]) <= {"setting", "description"}
    rest = kinds[first_action:]
    assert rest == sorted(rest, key=["action", "expression", "description", "truncate"].index)
    assert "hands Person1 a cup" not in out.text  # the last clip's action goes first
    assert out.text.startswith("Two video clips.") and "Person2" in out.text
    assert "truncate" not in kinds


def test_a_three_character_four_line_scene_keeps_actions_and_expressions_within_512_tokens():
    t = get_template("dialogue_cuts")
    desc = {
        "Person1": "a young man with a yellow cap, round glasses and a green striped shirt",
        "Person2": "a woman with a long black braid, a red jacket and silver earrings",
        "Person3": "an older man with white hair, a bushy beard and a blue scarf",
    }
    shots = [
        ShotText(("Person1",), ("Person1",), "smiling", "waves at Person2"),
        ShotText(("Person2",), ("Person2",), "surprised", "holds up a basket of sandwiches"),
        ShotText(("Person3",), ("Person3",), "embarrassed", "pats his empty pockets"),
        ShotText(("Person1",), ("Person1",), "laughing", "hands Person3 a paper cup"),
    ]
    setting = "three friends on a park bench in the afternoon sun, with a lake and ducks behind them"
    out = compile_prompt(t, shots, desc, setting, budget=512)
    assert out.tokens <= 512
    for shot in shots:
        assert shot.action in out.text and shot.expression in out.text
    assert all(r.kind in ("setting", "description") for r in out.reductions)


def test_budget_shortens_longest_description_first_then_truncates():
    t = get_template("close_up")
    desc = {"Person1": "a very tall woman with long silver hair, a red coat and a small dog on a lead"}
    shots = [ShotText(("Person1",), ("Person1",))]
    full = render_prompt(t, shots, desc)
    out = compile_prompt(t, shots, desc, budget=byt5_token_count(full) - 10)
    assert out.reductions[0].kind == "description" and out.reductions[0].after == "a very tall woman"
    assert "Person1: a very tall woman. First clip" in out.text
    tiny = compile_prompt(t, shots, desc, budget=40)
    assert tiny.reductions[-1].kind == "truncate" and tiny.tokens <= 40
    assert full.startswith(tiny.text) and tiny.text.startswith("One video clip.")


def test_custom_token_counter_and_byt5_tokenizer_agree():
    from transformers import ByT5Tokenizer

    tok = ByT5Tokenizer()
    for s in ("Two video clips.", "Person1: café über naïve – ok", ""):
        assert len(tok(s).input_ids) == byt5_token_count(s)
    t = get_template("close_up")
    words = compile_prompt(t, _shots()[:1], DESC, "a kitchen", budget=20, count_tokens=lambda s: len(s.split()))
    assert len(words.text.split()) <= 20 and words.reductions
