"""Shot planner: timeline, clips tiling the frames, audio segment references, splitting long turns."""

from __future__ import annotations

import json

import numpy as np
import pytest

from talkgen.prompts import LineTiming, parse_yaml_scene, plan_scene
from talkgen.prompts.timing import CachedTiming, estimate_timing, silence_pauses, word_pauses

TWO = """\
description: a kitchen
shot: {fps: 10, turn_gap: 0.5, lead_in: 0.2, tail: 0.3, cut_lead: 0.1, max_clip_seconds: 4, min_clip_seconds: 1}
characters:
  - {name: Ana, description: a woman}
  - {name: Ben, description: a man}
lines:
  - Ana: one two three four five
  - Ana: six seven
  - speaker: Ben
    text: eight nine ten
    action: looks at Ana
"""


def _check_tiling(plan):
    frames = 0
    for i, clip in enumerate(plan.clips):
        assert clip.index == i and clip.start_frame == frames and clip.num_frames > 0
        assert clip.start == pytest.approx(clip.start_frame / plan.fps) and clip.end == pytest.approx(
            (clip.start_frame + clip.num_frames) / plan.fps
        )
        for seg in clip.segments:
            assert 0 <= seg.clip_offset and seg.clip_offset + seg.duration <= clip.duration + 1e-6
        frames += clip.num_frames
    assert frames == plan.num_frames


def test_cuts_timeline_clips_and_segments(fixed_timing):
    plan = plan_scene(parse_yaml_scene(TWO, "s.yaml"), fixed_timing)
    # Ana 0.2-0.7, gap 0.5, Ana 1.2-1.4, gap 0.5, Ben 1.9-2.2, tail 0.3 -> 2.5 s = 25 frames.
    assert [(pl.start, pl.end) for pl in plan.lines] == [(0.2, 0.7), (1.2, 1.4), (1.9, 2.2)]
    assert plan.num_frames == 25 and plan.duration == pytest.approx(2.5)
    assert [(c.start_frame, c.num_frames, c.visible, c.speakers) for c in plan.clips] == [
        (0, 18, ("Person1",), ("Person1",)),  # cut 0.1 s before Ben starts at 1.9 s
        (18, 7, ("Person2",), ("Person2",)),
    ]
    _check_tiling(plan)
    seg = plan.clips[0].segments
    assert [(s.line_index, s.clip_offset, s.line_offset, s.duration) for s in seg] == [
        (0, 0.2, 0.0, 0.5),
        (1, 1.2, 0.0, 0.2),
    ]
    assert plan.clips[1].segments[0].clip_offset == pytest.approx(0.1)
    assert plan.clips[1].prompt.endswith("close-up of Person2 talking to Person1, looks at Person1.")
    assert plan.clips[0].template == "dialogue_cuts" and plan.warnings == ()
    json.dumps(plan.to_dict())  # plain data all the way down


def test_long_turn_split_at_pause(fixed_timing):
    words = "a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e. f g h i j k l m n o p"
    text = TWO.replace("one two three four five", words)
    plan = plan_scene(parse_yaml_scene(text, "s.yaml"), fixed_timing)
    first_turn = [c for c in plan.clips if c.visible == ("Person1",)]
    assert len(first_turn) >= 2
    # The first cut lands on the sentence end after word 31: 0.2 + 3.1 s = 3.3 s (frame 33).
    assert first_turn[1].start_frame == 33
    assert all(c.duration <= 4.0 + 1e-9 for c in plan.clips)
    seg = first_turn[1].segments[0]
    assert seg.line_index == 0 and seg.line_offset == pytest.approx(3.1) and seg.clip_offset == 0.0
    _check_tiling(plan)


def test_hard_split_without_pause_warns():
    scene = parse_yaml_scene(TWO, "s.yaml")
    plan = plan_scene(scene, lambda sc, ln: LineTiming(9.0))
    assert any("hard split" in w for w in plan.warnings)
    assert all(c.duration <= 4.0 + 1e-9 for c in plan.clips) and all(c.duration >= 1.0 - 1e-9 for c in plan.clips)
    _check_tiling(plan)


def test_continuous_mode_all_visible_and_silent_listeners(fixed_timing):
    text = TWO.replace("fps: 10,", "fps: 10, mode: continuous,")
    plan = plan_scene(parse_yaml_scene(text, "s.yaml"), fixed_timing)
    assert len(plan.clips) == 1 and plan.clips[0].visible == ("Person1", "Person2")
    assert plan.clips[0].speakers == ("Person1", "Person2") and plan.clips[0].template == "group_shot"
    assert {s.tag for s in plan.clips[0].segments} == {"Person1", "Person2"}
    assert "Characters: - Person1: a woman - Person2: a man" in plan.scene_prompt


def test_budget_reductions_become_warnings(fixed_timing):
    text = TWO.replace("max_clip_seconds: 4,", "max_clip_seconds: 4, token_budget: 100,")
    plan = plan_scene(parse_yaml_scene(text, "s.yaml"), fixed_timing)
    assert plan.scene_prompt_tokens <= 100 and plan.reductions
    assert any(w.startswith("scene prompt over budget (100 tokens)") for w in plan.warnings)


def test_estimate_and_cached_timing():
    scene = parse_yaml_scene(TWO, "s.yaml")
    t = estimate_timing(scene, scene.lines[0])
    assert 1.0 < t.duration < 3.0 and len(t.pauses) == 4
    calls = []
    cached = CachedTiming(lambda sc, ln: calls.append(ln.index) or LineTiming(1.0))
    for line in (*scene.lines, *scene.lines):
        cached(scene, line)
    assert calls == [0, 1, 2]


def test_pause_finders():
    class W:
        def __init__(self, text, start, end):
            self.text, self.start, self.end = text, start, end

    pauses = word_pauses("Hello there. How, are you", [W("Hello", 0, .3), W("there", .3, .6), W("How", .9, 1.1),
                                                        W("are", 1.1, 1.2), W("you", 1.2, 1.4)])  # fmt: skip
    assert [p.time for p in pauses] == [0.3, 0.75, 1.1, 1.2]
    assert pauses[1].strength == 1.0 and pauses[2].strength == 0.6 and pauses[0].strength < 0.6
    sr = 1000
    wave = np.concatenate([np.ones(500), np.zeros(300), np.ones(400)]).astype(np.float32)
    found = silence_pauses(wave, sr)
    assert len(found) == 1 and found[0].time == pytest.approx(0.65, abs=0.02)


def test_plan_with_real_tts_and_audio_file(tmp_path):
    pytest.importorskip("espeakng_loader")
    from talkgen.audio.io import save_wav
    from talkgen.audio.tts import synthesize

    speech = synthesize("This line comes from a file. It has two sentences.", "en-us")
    save_wav(tmp_path / "line.wav", speech.waveform, speech.sample_rate)
    text = (
        "characters:\n  - {name: Ana, voice: en-gb}\n  - {name: Ben}\nlines:\n  - Ana: Good morning, Ben.\n"
        "  - speaker: Ben\n    audio: line.wav\n"
    )
    scene = parse_yaml_scene(text, str(tmp_path / "s.yaml"))
    plan = plan_scene(scene)
    ana = synthesize("Good morning, Ben.", "en-gb")
    assert plan.lines[0].end - plan.lines[0].start == pytest.approx(ana.duration, abs=1e-3)
    assert plan.lines[1].end - plan.lines[1].start == pytest.approx(speech.duration, abs=0.02)
    assert [c.speakers for c in plan.clips] == [("Person1",), ("Person2",)]
    _check_tiling(plan)


def test_unknown_tts_voice_is_located_script_error():
    pytest.importorskip("espeakng_loader")
    from talkgen.errors import ScriptError

    scene = parse_yaml_scene("characters:\n  - {name: Ana, voice: xx-nope}\nlines:\n  - Ana: hi\n", "s.yaml")
    with pytest.raises(ScriptError, match=r"^s\.yaml:4:5: cannot speak this line: unknown voice"):
        plan_scene(scene)
