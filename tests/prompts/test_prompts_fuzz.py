"""Property tests: random text into the YAML and Fountain readers only ever raises ScriptError, quickly."""

from __future__ import annotations

import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from talkgen.errors import ScriptError
from talkgen.prompts import estimate_timing, parse_fountain, parse_yaml_scene, plan_scene

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 500), st.floats(allow_nan=True), st.text(max_size=30))
_values = st.recursive(
    _scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=20,
)
_keys = st.sampled_from(["name", "description", "voice", "text", "speaker", "audio", "pause", "Ana", "lines", "x"])
_line = st.dictionaries(_keys, _values, max_size=4)
_doc = st.fixed_dictionaries(
    {},
    optional={
        "title": _values,
        "shot": st.dictionaries(st.sampled_from(["mode", "fps", "max_clip_seconds", "template", "y"]), _values),
        "characters": st.lists(st.dictionaries(_keys, _values, max_size=3) | _values, max_size=4),
        "lines": st.lists(_line | _values, max_size=5),
    },
)


def _parse_yaml(text: str) -> None:
    start = time.monotonic()
    try:
        scene = parse_yaml_scene(text, "f.yaml", check_files=False)
        plan_scene(scene, estimate_timing)
    except ScriptError as exc:
        assert str(exc).startswith("f.yaml:") and "; hint: " in str(exc)
    assert time.monotonic() - start < 5


@FAST
@given(st.text(max_size=300))
def test_random_text_as_yaml(text):
    _parse_yaml(text)


@FAST
@given(_doc)
def test_random_structured_yaml(doc):
    _parse_yaml(yaml.safe_dump(doc, allow_unicode=True))


@FAST
@given(st.lists(st.sampled_from(["ANA", "BEN (V.O.)", "(smiling)", "(beat)", "", "", "Hello there.", "INT. ROOM",
                                 ".HEAD", "@bob", "[[ANA: tall]]", "/*", "*/", "CUT TO:", "Title: x", "Mode: cuts",
                                 "> centered <", "==="]) | st.text(), max_size=40))  # fmt: skip
def test_random_fountain(rows):
    text = "\n".join(rows) if isinstance(rows, list) else rows
    start = time.monotonic()
    try:
        for scene in parse_fountain(text, "f.fountain"):
            plan_scene(scene, estimate_timing)
    except ScriptError as exc:
        assert str(exc).startswith("f.fountain:") and "; hint: " in str(exc)
    assert time.monotonic() - start < 5


def test_pathological_inputs_are_fast():
    start = time.monotonic()
    for text in ("[" * 20000, "/*" * 50000, "[[" * 50000, "a: &a [*a, *a]\n" * 10, "- " * 5000 + "x"):
        for fn in (lambda t: parse_yaml_scene(t, "f.yaml"), lambda t: parse_fountain(t, "f.fountain")):
            try:
                fn(text)
            except ScriptError:
                pass
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("where", ["description", "text", "name"])
def test_unpaired_surrogates_are_located_script_errors(where):
    """JSON bodies and the web app can carry lone surrogates (no UTF-8 file can): a ScriptError, never a crash."""
    from talkgen.prompts.fountain import parse_fountain
    from talkgen.prompts.yaml_script import parse_yaml_scene

    values = {"description": "a tall man", "text": "Hello there.", "name": "Ana"}
    values[where] += "\ud800"
    script = (
        f"characters:\n  - name: {values['name']}\n    description: {values['description']}\n    voice: en-us\n"
        f"lines:\n  - {values['name']}: {values['text']}\n"
    )
    with pytest.raises(ScriptError, match=r"unpaired surrogate \(U\+D800\)") as info:
        parse_yaml_scene(script, "api.yaml", check_files=False)
    assert str(info.value).startswith("api.yaml:")
    with pytest.raises(ScriptError, match="unpaired surrogate"):
        parse_fountain("ANA\nHello there.\ud800\n", "api.fountain")


# Any code point, lone surrogates included (st.text leaves them out unless asked; JSON bodies can carry them).
_any_char = st.one_of(st.characters(exclude_categories=()), st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"]))
_script_rows = st.lists(
    st.sampled_from(["characters:", "  - name: Ana", "lines:", "  - Ana: Hi.", "ANA", "Hello.", ""])
    | st.text(_any_char),
    max_size=12,
)


@FAST
@given(_script_rows)
def test_any_unicode_only_raises_script_errors(rows):
    text = "\n".join(rows)
    _parse_yaml(text)
    try:
        for scene in parse_fountain(text, "f.fountain"):
            plan_scene(scene, estimate_timing)
    except ScriptError as exc:
        assert str(exc).startswith("f.fountain:") and "; hint: " in str(exc)
