from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from talkgen.synth.characters import make_character
from talkgen.synth.render import ActorPose, background, draw_character, mouth_box
from talkgen.synth.sdf import Canvas, Frame2D, coverage, ellipse
from talkgen.synth.truth import GroundTruth
from talkgen.synth.world import make_scene, render_clip


def test_same_seed_identical_frames_and_audio():
    # espeak-ng itself is not bit-exact between calls (see report), so the speech is synthesised once and the
    # world (scene, motion, pixels, mixing, truth) must be exactly reproducible from the seed and that speech.
    from talkgen.synth.world import speak_lines

    speeches = speak_lines(make_scene(7, num_characters=2))
    a = render_clip(make_scene(7, num_characters=2), speeches, size=64)
    b = render_clip(make_scene(7, num_characters=2), speeches, size=64)
    assert torch.equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.audio, b.audio)
    np.testing.assert_array_equal(a.audio_per_character, b.audio_per_character)
    assert a.truth.to_dict() == b.truth.to_dict()


def test_different_seeds_give_different_identities():
    chars = [make_character(s) for s in range(30)]
    descriptions = {c.description for c in chars}
    assert len(descriptions) >= 28
    attrs = ("head_shape", "skin", "eye_color", "hair_style", "hair_color", "hat", "clothes", "accessory", "nose")
    for a in attrs:
        assert len({getattr(c, a) for c in chars}) >= 3, a
    f0 = render_clip(make_scene(1, 1, "continuous"), size=64, num_frames=3).frames
    f1 = render_clip(make_scene(2, 1, "continuous"), size=64, num_frames=3).frames
    assert (f0.float() - f1.float()).abs().mean() > 5


def _static_render(mouth: np.ndarray, seed: int = 3, size: int = 128):
    n = len(mouth)
    one = np.ones(n)
    head = Frame2D(one * size / 2, one * size * 0.47, one * size * 0.3, one * 0.0, torch.device("cpu"))
    canvas = Canvas(background("flat", ("blue", "white"), size, size, torch.device("cpu")), n)
    ch = make_character(seed)
    draw_character(canvas, ch, ActorPose(head, head, one, one * 0, one * 0, mouth))
    return canvas.to_uint8().numpy().astype(np.float32), head.pixel_boxes(mouth_box(ch)), ch


def test_mouth_pixels_follow_visemes():
    from talkgen.audio.visemes import VISEME_PARAMS

    frames, boxes, _ = _static_render(VISEME_PARAMS)
    x0, y0, x1, y1 = np.floor(boxes[0, :2]).astype(int).tolist() + np.ceil(boxes[0, 2:]).astype(int).tolist()
    inside = frames[:, y0:y1, x0:x1]
    outside = frames.copy()
    outside[:, y0:y1, x0:x1] = 0
    # Everything outside the mouth box is the same for every viseme.
    assert np.all(outside == outside[:1])
    # Closed (REST) vs open (OPEN) differ by a clear margin inside the mouth box.
    assert np.abs(inside[2] - inside[0]).mean() > 20
    # At least 10 visibly distinct shapes (pairwise mean difference > 2 levels).
    distinct = []
    for i in range(len(inside)):
        if all(np.abs(inside[i] - inside[j]).mean() > 2 for j in distinct):
            distinct.append(i)
    assert len(distinct) >= 10, distinct


def test_edit_pair_differs_only_in_mouth_boxes(edit_pair):
    _, (a, b) = edit_pair
    assert a.frames.shape == b.frames.shape
    diff = (a.frames != b.frames).any(-1).numpy()
    assert diff.sum() > 100  # the mouths did change
    allowed = np.zeros_like(diff)
    for clip in (a, b):
        for ch in clip.truth.characters:
            for t, box in enumerate(ch.mouth_box):
                if not np.isnan(box).any():
                    x0, y0 = np.floor(box[:2]).astype(int)
                    x1, y1 = np.ceil(box[2:]).astype(int)
                    allowed[t, y0:y1, x0:x1] = True
    assert not (diff & ~allowed).any()
    for ca, cb in zip(a.truth.characters, b.truth.characters, strict=True):
        np.testing.assert_array_equal(ca.face_box, cb.face_box)
    assert not np.array_equal(a.audio, b.audio)


def test_truth_aligns_with_frames_and_audio(edit_pair):
    scene, (a, _) = edit_pair
    t = a.frames.shape[0]
    assert a.truth.num_frames == t and a.truth.height == 96 and a.truth.width == 96
    assert sum(s.end_frame - s.start_frame for s in a.truth.shots) == t
    for ch in a.truth.characters:
        assert len(ch.mouth_params) == len(ch.viseme) == len(ch.speaking) == len(ch.face_box) == len(ch.mouth_box) == t
        assert ch.speaking.any() and not ch.speaking.all()
        assert ch.visible.all()  # continuous group shot
        # The rest pose in silence: closed jaw wherever the character is not speaking.
        assert np.all(ch.mouth_params[~ch.speaking & (ch.viseme == 0), 0] < 0.05)
    assert a.audio_per_character.shape == (len(scene.characters), len(a.audio))
    assert abs(len(a.audio) / a.sample_rate - t / a.fps) < 1 / a.fps
    np.testing.assert_allclose(a.audio, np.clip(a.audio_per_character.sum(0), -1, 1), atol=1e-6)
    assert all(tag in a.truth.caption for tag in ("Person1", "Person2"))


def test_cut_mode_has_shot_per_turn_and_offscreen_boxes():
    clip = render_clip(make_scene(22, num_characters=2, mode="cut"), size=64)
    shots = clip.truth.shots
    assert len(shots) == 2 and shots[0].visible != shots[1].visible
    p1 = clip.truth.character(shots[0].visible[0])
    assert p1.visible[: shots[0].end_frame].all() and not p1.visible[shots[1].start_frame :].any()


def test_the_head_of_a_performance_renders_as_the_clips_first_frames():
    from talkgen.synth.world import perform, render_performance, speak_lines

    scene = make_scene(22, num_characters=2, mode="cut")
    perf = perform(scene, speak_lines(scene))
    whole = render_performance(scene, perf, 48)
    first = render_performance(scene, perf.head(3), 48)
    assert torch.equal(first.frames, whole.frames[:3])
    assert [(s.start_frame, s.end_frame, s.kind) for s in first.truth.shots] == [(0, 3, whole.truth.shots[0].kind)]
    np.testing.assert_array_equal(first.truth.characters[0].mouth_box, whole.truth.characters[0].mouth_box[:3])
    assert first.audio_per_character.shape[1] == int(np.ceil(3 / perf.fps * perf.sample_rate))
    for frames in (0, perf.num_frames + 1):
        with pytest.raises(ValueError, match="frames must lie"):
            perf.head(frames)


def test_still_heads_keep_the_performance_and_hold_the_heads_in_place():
    from talkgen.synth.world import perform, render_performance, speak_lines

    scene = make_scene(5, num_characters=2, mode="continuous")
    speeches = speak_lines(scene)
    moving, still = perform(scene, speeches), perform(scene, speeches, head_motion=0.0)
    for name in ("mouth", "speaking", "eye_open", "gaze", "brow_raise", "audio"):
        np.testing.assert_array_equal(getattr(still, name), getattr(moving, name), err_msg=name)
    assert [(s.start_frame, s.kind) for s in still.shots] == [(s.start_frame, s.kind) for s in moving.shots]
    clips = {motion: render_performance(scene, perf, 64) for motion, perf in (("moving", moving), ("still", still))}
    for motion, clip in clips.items():
        boxes = np.stack([c.face_box for c in clip.truth.characters])  # (C, T, 4), one continuous shot
        travel = float(np.abs(boxes - boxes[:, :1]).max())
        assert (travel == 0) == (motion == "still"), (motion, travel)
    with pytest.raises(ValueError, match=r"head_motion must be in \[0, 1\]"):
        perform(scene, speeches, head_motion=1.5)


def test_truth_json_round_trip(tmp_path, small_clip):
    path = small_clip.truth.save(tmp_path / "c.truth.json")
    data = json.loads(path.read_text())
    assert set(data) >= {"fps", "num_frames", "width", "height", "sample_rate", "caption", "characters", "shots"}
    back = GroundTruth.load(path)
    assert back.to_dict() == small_clip.truth.to_dict()
    ch = back.characters[0]
    assert ch.mouth_params.dtype == np.float32 and ch.mouth_params.shape == (back.num_frames, 5)
    assert ch.viseme.dtype == np.int64 and ch.speaking.dtype == bool


def test_antialiased_edges():
    u = torch.linspace(-2, 2, 401).view(1, 1, -1)
    v = torch.zeros_like(u)
    alpha = coverage(ellipse(u, v, 0.0, 0.0, 1.0, 0.5), torch.tensor(10.0).view(1, 1, 1))
    partial = ((alpha > 0.01) & (alpha < 0.99)).sum().item()
    assert 2 <= partial <= 20  # a soft edge about one pixel wide on each side
    assert alpha[0, 0, 200] == 1.0 and alpha[0, 0, 0] == 0.0


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        make_scene(0, num_characters=4)
    with pytest.raises(ValueError):
        make_character(-1)
    with pytest.raises(ValueError):
        render_clip(make_scene(0, 1), size=8)
