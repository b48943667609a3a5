"""Every sample scene compiles; ``talkgen script check`` prints a readable plan and one-line located errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from talkgen.cli import main
from talkgen.prompts import estimate_timing, known_voices, load_scenes, plan_scene

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "scenes"
SAMPLE_FILES = sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".yaml", ".fountain"))


def test_there_are_samples_of_each_kind():
    assert {"monologue.yaml", "dialogue.yaml", "trio.yaml", "rooftop.fountain"} <= set(SAMPLE_FILES)


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_sample_compiles_short_and_within_budget(name):
    for scene in load_scenes(SAMPLES / name, voices=known_voices()):
        plan = plan_scene(scene, estimate_timing)
        assert plan.clips and plan.duration < 14
        assert plan.scene_prompt_tokens <= plan.token_budget
        assert all(ln.text and ln.audio is None for ln in scene.lines)  # TTS only


def test_samples_with_real_tts_under_12s():
    pytest.importorskip("espeakng_loader")
    for name in SAMPLE_FILES:
        for scene in load_scenes(SAMPLES / name):
            speech = plan_scene(scene).lines
            assert sum(pl.end - pl.start for pl in speech) < 12, name


def test_cli_check_prints_plan(capsys):
    assert main(["script", "check", str(SAMPLES / "dialogue.yaml"), "--estimate"]) == 0
    out = capsys.readouterr().out
    assert "scene 1/1: Coffee break" in out and "template dialogue_cuts" in out
    assert "Person1  Ana" in out and "clip  1" in out and "prompt: One video clip." in out
    assert "scene prompt (" in out and out.rstrip().endswith("0 warning(s)")


def test_cli_json_and_budget(capsys):
    assert main(["script", "check", str(SAMPLES / "trio.yaml"), "--estimate", "--json", "--budget", "120"]) == 0
    plans = json.loads(capsys.readouterr().out)
    assert len(plans) == 1 and plans[0]["token_budget"] == 120 and plans[0]["scene_prompt_tokens"] <= 120
    assert plans[0]["reductions"] and plans[0]["clips"][0]["visible"] == ["Person1", "Person2", "Person3"]


def test_cli_error_is_one_line_with_location(write, capsys):
    path = write("characters:\n  - name: Ana\nlines:\n  - Bob: hi\n")
    assert main(["script", "check", str(path), "--estimate"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: {path}:4:5: unknown speaker 'Bob'; hint: declare it under `characters:` or use one of: Ana"
    )
    assert main(["script", "check", str(SAMPLES / "rooftop.fountain"), "--estimate", "--scene", "3"]) == 2
    assert main(["script", "check", str(SAMPLES / "dialogue.yaml"), "--estimate", "--template", "nope"]) == 2
