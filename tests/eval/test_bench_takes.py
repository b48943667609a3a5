"""How the bench's model row calls a talking pipeline: one take per case, or one per shot where the case cuts."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from talkgen.eval.bench import BenchCase, pipeline_model, render_case
from talkgen.synth.world import caption, make_scene, shot_scene


class RecordingPipe:
    """Stands in for the talking pipeline: records each call and returns a grey take of the asked length."""

    _execution_device = torch.device("cpu")

    def __init__(self):
        self.calls = []

    def __call__(self, prompt, streams, *, num_frames, height, width, generator, **kwargs):
        self.calls.append(
            {"prompt": prompt, "streams": np.array(streams), "frames": num_frames, "seed": generator.initial_seed()}
        )
        shade = len(self.calls) / 10  # each take its own grey, to find where it lands
        return SimpleNamespace(frames=[np.full((num_frames, height, width, 3), shade, dtype=np.float32)])


def test_a_case_with_cuts_is_generated_a_take_per_shot_from_its_characters_alone():
    """As ``talkgen generate`` renders a scene a clip per shot, the bench generates a cutting case a take per shot:
    the caption of the shot's characters alone, their speech from the shot's start, the shot's length."""
    case = BenchCase("two-shot with a cut", 9002, 2, "cut", size=64, num_lines=2)
    rc = render_case(case)
    shots = rc.truth.shots
    assert len(shots) == 2 and shots[0].visible != shots[1].visible
    pipe = RecordingPipe()
    video = pipeline_model(pipe, seed=3)(case, rc)

    assert video.shape == rc.frames.shape and video.dtype == np.uint8
    assert len(pipe.calls) == len(shots)
    for i, (shot, call) in enumerate(zip(shots, pipe.calls, strict=True)):
        who = rc.scene.tags.index(shot.visible[0])
        assert call["prompt"] == caption(shot_scene(rc.scene, shot.visible), [shot.kind])
        assert rc.scene.characters[who].description in call["prompt"] and "One character" in call["prompt"]
        assert call["streams"].shape[0] == 1  # the visible character's speech alone
        start = round(shot.start_frame / case.fps * rc.sample_rate)
        expected = rc.streams[who, start : start + call["streams"].shape[1]]
        np.testing.assert_array_equal(call["streams"][0, : len(expected)], expected)
        length = shot.end_frame - shot.start_frame
        assert call["frames"] >= length and (call["frames"] - 1) % 4 == 0
        assert call["seed"] == 3 + case.seed + i
        assert (video[shot.start_frame : shot.end_frame] == round((i + 1) / 10 * 255)).all()


def test_a_case_of_one_shot_is_one_take_of_the_whole_caption():
    case = BenchCase("three in one shot", 9003, 3, "continuous", size=64, num_lines=1)
    rc = render_case(case)
    pipe = RecordingPipe()
    video = pipeline_model(pipe)(case, rc)
    assert len(rc.truth.shots) == 1 and len(video) == len(rc.frames)
    (call,) = pipe.calls
    assert call["prompt"] == rc.truth.caption and call["streams"].shape[0] == 3 and call["seed"] == case.seed


def test_shot_scene_keeps_the_shown_characters_renumbered_and_their_lines():
    scene = make_scene(9003, 3, "continuous", num_lines=3)
    shown = shot_scene(scene, ["Person3", "Person1"])
    assert shown.characters == (scene.characters[2], scene.characters[0])
    assert shown.expressions == (scene.expressions[2], scene.expressions[0])
    assert shown.lines == tuple((0 if i == 2 else 1, text) for i, text in scene.lines if i in (0, 2))
    assert shot_scene(scene, list(scene.tags)) == scene
    with pytest.raises(ValueError):
        shot_scene(scene, ["Person4"])
