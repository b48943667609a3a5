"""The lip pass of generated clips: shots split at cuts, framings from the prompt (else from the speech), each face's
mouth re-timed to its own jaw track; the talking pipeline runs it where the model can."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dummies import dummy_pipeline

from talkgen.models.mouth_head import SpeechMouthHead
from talkgen.pipelines.lip_pass import Layout, candidate_layouts, lip_pass, shot_segments
from talkgen.synth.world import layout_mouth_boxes


def test_shots_split_at_cuts_and_not_at_motion():
    frames = np.full((10, 32, 32, 3), 90, np.uint8)
    frames[:, 10:20, 10:20] = np.arange(10, dtype=np.uint8)[:, None, None, None] * 3 + 120  # a small, moving patch
    assert shot_segments(frames) == [(0, 10)]
    frames[6:] = 200 - frames[6:]  # a cut before frame 6
    assert shot_segments(frames) == [(0, 6), (6, 10)]
    assert shot_segments(frames[:1]) == [(0, 1)]


def test_framings_come_from_the_prompt_else_every_one_the_world_has():
    assert candidate_layouts(1, "First clip: close-up of Person1 talking.") == [Layout("close-up", (0,))]
    assert candidate_layouts(1, "Medium shot of Person1.") == [Layout("medium shot", (0,))]
    assert candidate_layouts(2, "medium shot of Person1 and Person2, all silent") == [Layout("two-shot", (0, 1))]
    assert candidate_layouts(3, "Three-shot. Three characters") == [Layout("three-shot", (0, 1, 2))]
    both = candidate_layouts(2, "Close-up then medium shot. Two characters")
    assert both == [Layout("close-up", (0,)), Layout("close-up", (1,)), Layout("two-shot", (0, 1))]
    everything = candidate_layouts(2, "two people talk")
    assert everything[0] == Layout("two-shot", (0, 1)) and len(everything) == 5
    with pytest.raises(ValueError, match="slot"):
        layout_mouth_boxes("close-up", 2, 128, 128)


def test_a_world_close_up_re_timed_to_other_speech_follows_it():
    """The world's dubbing pair: the footage spoke one line; the lip pass given the other line's jaw track (the
    truth's own, standing in for the mouth head) makes the footage's mouth follow it, in the layout's boxes."""
    from talkgen.eval.bench import BenchCase, render_case
    from talkgen.eval.world import evaluate_world

    rc = render_case(BenchCase("close-up", 9005, 1, "continuous", num_lines=1, dub=True))
    jaw = rc.truth.characters[0].mouth_params[:, 0][None].astype(np.float64)
    before = evaluate_world(rc.source_frames, rc.truth).correlation
    out = lip_pass(rc.source_frames, jaw, rc.audio[None], rc.case.fps, "synthetic-world", rc.truth.caption)
    after = evaluate_world(out, rc.truth)
    assert after.correlation > max(0.85, before + 0.2) and abs(after.offset) <= 1, (before, after)
    assert np.array_equal(out[:, :40], rc.source_frames[:, :40])  # above the mouths nothing moves
    with pytest.raises(ValueError, match="mouth_layout"):
        lip_pass(rc.source_frames, jaw, rc.audio[None], rc.case.fps, "real-faces")


def test_the_talking_pipeline_runs_the_lip_pass_where_the_model_can():
    pipe = dummy_pipeline("talking")
    speech = (np.random.default_rng(0).standard_normal(16_000 * 9 // 25 + 1) * 0.1).astype(np.float32)
    call = {"num_frames": 9, "height": 64, "width": 64, "fps": 25.0, "num_inference_steps": 1}

    def run(**kwargs):
        return pipe("close-up of Person1", speech, generator=torch.Generator().manual_seed(0), **call, **kwargs).frames

    plain = run()
    with pytest.raises(ValueError, match="mouth_head and a mouth_layout"):
        run(lip_pass=True)
    pipe.register_modules(mouth_head=SpeechMouthHead(feature_dim=pipe.audio_encoder.feature_dim, context=1))
    with torch.no_grad():
        pipe.mouth_head.proj.weight.normal_()
    np.testing.assert_array_equal(run(), plain)  # a head without a layout: no lip pass by default
    pipe.register_to_config(mouth_layout="synthetic-world")
    passed, off = run(), run(lip_pass=False)
    np.testing.assert_array_equal(off, plain)
    assert passed.shape == plain.shape and not np.array_equal(passed, plain)
    box = layout_mouth_boxes("close-up", 1, 64, 64)[0]
    x0, y0 = int(box[0] - 0.5 * (box[2] - box[0])), int(box[1] - 0.5 * (box[3] - box[1]))
    np.testing.assert_allclose(passed[..., :y0, :, :], plain[..., :y0, :, :], atol=1 / 255)  # only mouths move
    np.testing.assert_allclose(passed[..., :x0, :], plain[..., :x0, :], atol=1 / 255)
    pil = pipe("close-up of Person1", speech, generator=torch.Generator().manual_seed(0), output_type="pil", **call)
    assert np.array_equal(np.asarray(pil.frames[0][4]), np.round(passed[0, 4] * 255).astype(np.uint8))
