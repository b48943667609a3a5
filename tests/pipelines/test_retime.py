"""Re-timing the footage's own mouths: pixel openings, targets by rank, nearest frames, moved mouth regions; the
mouth head fitted on the world's speech; the dubbing pipeline's use of both."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from dummies import dummy_pipeline

from talkgen.models.mouth_head import SpeechMouthHead
from talkgen.pipelines.mouth import MouthTrack
from talkgen.pipelines.retime import (
    PAINT_GROW,
    REGION_GROW,
    choose_frames,
    read_openings,
    retime_mouths,
    target_openings,
)

SKIN, MOUTH = (230, 180, 150), (60, 20, 30)
BOX = np.array([20, 24, 44, 40], np.float32)  # 24 x 16 mouth box in a 64 x 64 frame


def _faces(heights: np.ndarray, shift: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Flat skin frames with a dark mouth ``heights[t]`` pixels tall centred in the (optionally shifted) box."""
    frames = np.empty((len(heights), 64, 64, 3), np.uint8)
    frames[:] = SKIN
    boxes = np.tile(BOX, (len(heights), 1))
    if shift is not None:
        boxes[:, [0, 2]] += shift[:, None]
    for t, h in enumerate(heights):
        x0, y0, x1, y1 = boxes[t].astype(int)
        cy = (y0 + y1) // 2
        frames[t, cy - h // 2 : cy - h // 2 + h, x0 + 6 : x1 - 6] = MOUTH
    return frames, boxes


def test_pixel_openings_grow_with_the_mouth():
    frames, boxes = _faces(np.array([2, 4, 6, 8, 10, 12]))
    opening = read_openings(frames, boxes)
    assert np.all(np.diff(opening) > 0) and opening[0] < 0.2 < opening[-1]
    boxes[2] = np.nan
    assert np.isnan(read_openings(frames, boxes)[2])


def test_retimed_mouths_follow_the_target_and_leave_the_rest_of_the_frame():
    rng = np.random.default_rng(0)
    heights = rng.integers(2, 13, 40)
    frames, boxes = _faces(heights, shift=rng.integers(-4, 5, 40).astype(np.float32))  # the head moves
    wanted = np.roll(heights, 7)[::-1]  # another line's openings
    source = read_openings(frames, boxes)
    choice = choose_frames(source, target_openings(wanted.astype(float), source))
    out = retime_mouths(frames, frames, boxes, choice)
    assert np.corrcoef(read_openings(out, boxes), wanted)[0, 1] > 0.95
    assert np.corrcoef(read_openings(frames, boxes), wanted)[0, 1] < 0.5  # the footage itself does not follow it
    region = np.zeros(frames.shape[:3], bool)  # the moved regions: each frame's box grown by REGION_GROW
    for t, (x0, y0, x1, y1) in enumerate(boxes):
        w, h = (x1 - x0) * REGION_GROW / 2 + 1, (y1 - y0) * REGION_GROW / 2 + 1
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        region[t, max(int(cy - h), 0) : int(cy + h) + 1, max(int(cx - w), 0) : int(cx + w) + 1] = True
    assert np.array_equal(out[~region], frames[~region])
    assert np.array_equal(retime_mouths(frames, frames, boxes, np.arange(40)), frames)  # own mouths: unchanged


def test_targets_follow_the_speech_by_rank_and_ties_go_to_near_frames():
    source = np.array([0.1, 0.4, 0.1, 0.3, 0.1, 0.4, np.nan, 0.2])
    target = target_openings(np.array([0.0, 0.9, 0.1, 0.5, 0.2, 1.0, 0.0, 0.3]), source)
    assert np.all(np.diff(target[[0, 2, 4, 7, 3, 1, 5]]) >= 0)  # the jaw's order (0.0 first of the ties)
    assert target[0] == target[6] == pytest.approx(0.1) and target[5] == pytest.approx(0.4)
    choice = choose_frames(source, np.full(8, 0.1))
    assert np.array_equal(choice[[0, 1, 3, 6]], [0, 0, 2, 4])  # the nearest of the closed frames (0, 2, 4), never 6
    assert np.array_equal(choose_frames(np.full(8, np.nan), target), np.arange(8))  # no face anywhere: unchanged
    assert np.isnan(target_openings(np.zeros(3), np.full(3, np.nan))).all()


def test_mouth_head_reads_the_worlds_jaw_from_speech():
    from talkgen.models.audio_encoder import BuiltinAudioEncoder
    from talkgen.pipelines.loading import default_model_dir
    from talkgen.training.mouth_head import fit_mouth_head

    encoder = BuiltinAudioEncoder.from_pretrained(default_model_dir() / "audio_encoder").eval()
    fit = fit_mouth_head(encoder, scenes=12, context=2, ridge=10.0)  # ridge, context 2, 300 scenes: 0.911
    assert fit.heldout_correlation > 0.7 and fit.frames > 100
    features = torch.zeros(1, 2, 9, encoder.feature_dim)
    assert fit.head(features).shape == (1, 2, 9)
    with pytest.raises(ValueError, match="channels"):
        fit.head(torch.zeros(1, 1, 9, 3))


def test_the_fits_window_rows_are_every_scenes_windows_in_order():
    from talkgen.training.mouth_head import _window_rows

    head = SpeechMouthHead(feature_dim=3, context=2)
    scenes = [torch.randn(2, 5, 3), torch.randn(1, 4, 3), torch.randn(3, 1, 3)]  # (streams, frames, features)
    rows = _window_rows(head, scenes)
    expected = np.concatenate([head.windows(f).reshape(-1, 15).numpy() for f in scenes])
    assert rows.dtype == np.float32 and np.array_equal(rows, expected)


def test_a_head_with_a_hidden_layer_reads_raw_features_and_round_trips(tmp_path):
    # trained on standardised inputs, the head must read raw ones: features here sit far from 0 at very different
    # scales, so a head without the standardisation folded into its first layer predicts nothing like the target
    from talkgen.training.mouth_head import _train_hidden

    rng = np.random.default_rng(0)
    z = rng.normal(size=(2048, 6)).astype(np.float32)
    scale, offset = np.array([0.01, 1, 100, 0.1, 10, 1], np.float32), np.array([50, -3, 900, 2, 0, 7], np.float32)
    y = np.tanh(z[:, 0] + 0.5 * z[:, 2]) + 0.3 * z[:, 4]
    head = SpeechMouthHead(feature_dim=6, context=0, hidden=16)
    state = torch.random.get_rng_state()
    _train_hidden(head, z * scale + offset, y, epochs=200, seed=0)
    assert torch.equal(torch.random.get_rng_state(), state)  # seeded inside; the caller's random state untouched
    held = rng.normal(size=(500, 6)).astype(np.float32)
    truth = np.tanh(held[:, 0] + 0.5 * held[:, 2]) + 0.3 * held[:, 4]
    with torch.no_grad():
        prediction = head(torch.from_numpy(held * scale + offset)[None, None])[0, 0].numpy()
    assert np.corrcoef(prediction, truth)[0, 1] > 0.95
    head.save_pretrained(tmp_path / "head")
    loaded = SpeechMouthHead.from_pretrained(tmp_path / "head")
    assert loaded.config.hidden == 16
    features = torch.from_numpy(held * scale + offset)[None, None]
    assert torch.equal(loaded(features), head(features))


def test_add_mouth_head_writes_a_component_the_loader_finds(tmp_path):
    from talkgen.errors import WeightsError
    from talkgen.pipelines.loading import load_pipeline
    from talkgen.training.mouth_head import add_mouth_head

    folder = tmp_path / "model"
    dummy_pipeline("talking").save_pretrained(folder)
    before = json.loads((folder / "model_index.json").read_text())
    fit = add_mouth_head(folder, scenes=3)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["mouth_head"] == ["talkgen.models.mouth_head", "SpeechMouthHead"] and index["default_strength"] == 0.4
    new = {"mouth_head", "default_strength"}
    assert {k: v for k, v in index.items() if k not in new} == {k: v for k, v in before.items() if k not in new}
    assert not list(folder.glob(".mouth_head*")) and (folder / "mouth_head" / "config.json").is_file()
    pipe, _ = load_pipeline("lipsync", folder)
    assert isinstance(pipe.mouth_head, SpeechMouthHead) and pipe.config.default_strength == 0.4
    # stored in float16 like the folder's other weights, computed in float32 within float16 rounding of the fit
    from safetensors import safe_open

    with safe_open(str(folder / "mouth_head" / "diffusion_pytorch_model.safetensors"), "pt") as stored:
        assert {stored.get_tensor(k).dtype for k in stored.keys()} == {torch.float16}
    fitted = dict(fit.head.named_parameters())
    for name, value in pipe.mouth_head.named_parameters():
        assert value.dtype == torch.float32
        torch.testing.assert_close(value, fitted[name].detach(), rtol=1e-3, atol=1e-4)
    with pytest.raises(WeightsError, match="not a pipeline folder"):
        add_mouth_head(tmp_path / "nowhere", scenes=3)


def test_the_dub_retimes_the_source_where_the_model_has_a_mouth_head():
    pipe = dummy_pipeline("lipsync")
    frames, boxes = _faces(np.random.default_rng(1).integers(2, 13, 9))
    track = MouthTrack.from_boxes(boxes, 64, 64, grow=1.0)
    speech = (np.random.default_rng(2).standard_normal(16_000 * 9 // 25) * 0.1).astype(np.float32)
    call = {"mouths": track, "fps": 25.0, "num_inference_steps": 2, "face_crop": None, "output_type": "latent"}
    with pytest.raises(ValueError, match="mouth_head"):
        pipe(frames, speech, retime=True, **call)
    plain = pipe(frames, speech, generator=torch.Generator().manual_seed(0), **call).frames
    pipe.register_modules(mouth_head=SpeechMouthHead(feature_dim=pipe.audio_encoder.feature_dim, context=1))
    with torch.no_grad():
        pipe.mouth_head.proj.weight.normal_()
    retimed = pipe.retime_source(frames, track, [speech], 25.0, torch.device("cpu"))
    assert not np.array_equal(retimed, frames)
    assert np.array_equal(retimed[:, :8], frames[:, :8])  # above the moved regions nothing changes
    default = pipe(frames, speech, generator=torch.Generator().manual_seed(0), **call).frames
    off = pipe(frames, speech, generator=torch.Generator().manual_seed(0), retime=False, **call).frames
    assert torch.equal(off, plain) and not torch.equal(default, plain)


def test_speaker_slots_give_each_stream_its_mouth_and_a_lone_face_the_mix():
    from talkgen.pipelines.retime import speaker_slots

    nan = [np.nan] * 4
    boxes = np.array(
        [
            [[0, 0, 4, 4], [10, 0, 14, 4], nan],  # both faces: mouth k says stream k
            [[5, 0, 9, 4], nan, nan],  # a cut to one face: the mix
            [[0, 0, 4, 4], [10, 0, 14, 4], [20, 0, 24, 4]],  # three mouths for two streams: left alone
        ],
        np.float32,
    )
    slots, speech = speaker_slots(boxes, 2)
    assert speech == [0, 1, None] and slots.shape == (3, 3, 4)
    assert np.array_equal(slots[0, :2], boxes[0, :2]) and np.isnan(slots[0, 2]).all()
    assert np.isnan(slots[1, :2]).all() and np.array_equal(slots[1, 2], boxes[1, 0])
    assert np.isnan(slots[2]).all()
    one, speech = speaker_slots(boxes, 1)  # one stream: every mouth says it
    assert speech == [0, 0, 0] and np.array_equal(one, boxes, equal_nan=True)


def test_a_generated_take_follows_each_faces_own_speech():
    from talkgen.pipelines.retime import retime_generated

    rng = np.random.default_rng(3)
    left, boxes_l = _faces(rng.integers(2, 13, 40))
    right, boxes_r = _faces(rng.integers(2, 13, 40))
    frames = np.concatenate([left, right], axis=2)  # two faces side by side, 64 x 128
    boxes = np.stack([boxes_l, boxes_r + np.array([64, 0, 64, 0], np.float32)], axis=1)
    jaw = rng.uniform(0, 1, (2, 40))
    speech = [np.full(16_000 * 40 // 25, 0.1, np.float32)] * 2  # never silent
    out = retime_generated(frames, boxes, jaw, speech, 25.0)
    for k in range(2):
        assert np.corrcoef(read_openings(out, boxes[:, k]), jaw[k])[0, 1] > 0.9
        assert np.corrcoef(read_openings(frames, boxes[:, k]), jaw[k])[0, 1] < 0.5


def test_steady_boxes_drop_a_box_that_jumps_or_changes_size_and_keep_a_drifting_track():
    from talkgen.pipelines.retime import steady_boxes

    t = np.arange(40, dtype=np.float32)
    track = np.tile(BOX, (40, 1))
    track[:, [0, 2]] += 0.3 * t[:, None]  # a head swaying 12 px over the take: every box kept
    boxes = np.stack([track, track + np.array([64, 0, 64, 0], np.float32)], axis=1)
    boxes[25, 1] = np.nan  # a frame where the second mouth was not found
    np.testing.assert_allclose(steady_boxes(boxes), boxes, atol=0.2)  # NaN where NaN; a drift within 0.2 px
    hit = boxes.copy()
    hit[10, 0] = [22, 4, 40, 12]  # an eye taken for the mouth for one frame
    hit[30, 1] = hit[30, 1] + np.array([-20, -20, 20, 20], np.float32)  # a box three times too tall
    out = steady_boxes(hit)
    assert np.isnan(out[10, 0]).all() and np.isnan(out[30, 1]).all()
    keep = np.ones((40, 2), bool)
    keep[[10, 30], [0, 1]] = False
    np.testing.assert_allclose(out[keep], hit[keep], atol=0.2)


def test_steady_boxes_steady_a_jittering_box_size_and_centre():
    from talkgen.pipelines.retime import steady_boxes

    rng = np.random.default_rng(2)
    boxes = np.tile(BOX, (60, 1, 1))  # one slot, 24 x 16
    grow = rng.uniform(-2.5, 2.5, 60).astype(np.float32)  # the locator's box 11-21 px tall from frame to frame
    boxes[:, 0, 1] -= grow
    boxes[:, 0, 3] += grow
    boxes[:, 0, [0, 2]] += rng.normal(0, 1, (60, 1)).astype(np.float32)  # and its centre jittering by a pixel
    out = steady_boxes(boxes)[:, 0]
    heights = out[:, 3] - out[:, 1]
    assert np.isfinite(out).all() and heights.std() < 0.4 * (boxes[:, 0, 3] - boxes[:, 0, 1]).std()
    assert abs(float(np.median(heights)) - 16) < 1.5
    jitter = lambda b: np.diff((b[:, 0] + b[:, 2]) / 2).std()  # noqa: E731
    assert jitter(out) < 0.6 * jitter(boxes[:, 0])
    unsteadied = steady_boxes(boxes, centre_half=0, size_half=0)  # windows of one frame: the boxes as found
    np.testing.assert_allclose(unsteadied, boxes, atol=1e-5)


def test_a_generated_take_takes_no_mouth_from_a_misplaced_box():
    from talkgen.pipelines.retime import retime_generated

    rng = np.random.default_rng(5)
    frames, boxes = _faces(rng.integers(2, 13, 40))
    frames[:, 4:12, 22:42] = (20, 20, 200)  # an "eye" above the mouth
    boxes = boxes[:, None].copy()
    boxes[7, 0] = [22, 4, 42, 12]  # frame 7's mouth found on the eye
    jaw = rng.uniform(0, 1, (1, 40))
    speech = [np.full(16_000 * 40 // 25, 0.1, np.float32)]
    out = retime_generated(frames, boxes, jaw, speech, 25.0)
    assert np.array_equal(out[7], frames[7])  # nothing pasted onto it
    eye = (out[:, 4:12, 22:42] == (20, 20, 200)).all(axis=-1).mean(axis=(1, 2))
    assert eye.min() == 1.0  # and its eye region pasted onto no other frame's mouth
    good = np.ones(40, bool)
    good[7] = False
    assert np.corrcoef(read_openings(out, boxes[:, 0])[good], jaw[0, good])[0, 1] > 0.9


def test_generated_takes_are_retimed_where_the_model_has_a_mouth_head_and_a_locator():
    from talkgen.models.mouth_locator import MouthLocatorNet

    pipe = dummy_pipeline("talking")
    speech = (np.random.default_rng(2).standard_normal(16_000 * 9 // 25) * 0.1).astype(np.float32)
    call = {"num_frames": 9, "height": 32, "width": 32, "num_inference_steps": 1, "output_type": "np"}
    with pytest.raises(ValueError, match="mouth_locator"):
        pipe("a character", speech, retime=True, **call)
    plain = pipe("a character", speech, generator=torch.Generator().manual_seed(0), **call).frames
    head = SpeechMouthHead(feature_dim=pipe.audio_encoder.feature_dim, context=1)
    with torch.no_grad():
        head.proj.weight.normal_()
    locator = MouthLocatorNet(size=32, width=16)
    found = []

    def detect(frames, max_faces=3):  # a mouth box in every frame, where the generated frames have varied pixels
        found.append(frames.copy())
        return np.tile(np.array([[[8, 12, 24, 28]]], np.float32), (len(frames), 1, 1)), None

    locator.detect = detect
    pipe.register_modules(mouth_head=head, mouth_locator=locator)
    with pytest.raises(ValueError, match="decoded frames"):
        pipe("a character", speech, retime=True, **{**call, "output_type": "latent"})
    default = pipe("a character", speech, generator=torch.Generator().manual_seed(0), **call).frames
    off = pipe("a character", speech, generator=torch.Generator().manual_seed(0), retime=False, **call).frames
    assert np.array_equal(off, plain) and not np.array_equal(default, plain)
    seen = np.abs(found[0].astype(int) - np.clip(plain[0], 0, 1) * 255)
    assert seen.max() <= 0.51  # it read the take itself, as uint8
    changed = (default != plain).any(axis=-1)[0]
    assert changed.any() and not changed[:, :, :3].any()  # only around the mouth box (grown 1.6x)
    # with a mouth painter the face (a 16 px box: PAINT_MIN_HEIGHT) is painted at the head's jaw instead
    from talkgen.models.mouth_painter import MouthPainterNet

    painter, asked = MouthPainterNet(size=16, width=8), []
    paint = painter.paint
    painter.paint = lambda frames, boxes, jaw: asked.append(jaw.copy()) or paint(frames, boxes, jaw)
    pipe.register_modules(mouth_painter=painter)
    painted = pipe("a character", speech, generator=torch.Generator().manual_seed(0), **call).frames
    assert len(asked) == 1 and asked[0].shape == (9,) and np.isfinite(asked[0]).all()
    changed = (painted != plain).any(axis=-1)[0]
    left = int(16 - 8 * PAINT_GROW) - 1  # the box x 8-24 grown about its centre, and a pixel of the paste's blend
    assert changed.any() and not np.array_equal(painted, default) and not changed[:, :, :left].any()


def test_mouth_tracks_keep_the_persistent_mouths_when_an_eye_outscores_one_for_a_stretch():
    from talkgen.pipelines.retime import mouth_tracks

    length = 60
    eye = np.array([22, 4, 42, 12], np.float32)  # 8 px above the left mouth, half a box height and more away
    right = BOX + np.array([64, 0, 64, 0], np.float32)
    boxes = np.full((length, 4, 4), np.nan, np.float32)
    scores = np.full((length, 4), np.nan, np.float32)
    boxes[:, 0], scores[:, 0] = BOX, 0.3  # the left mouth, faint throughout
    boxes[:, 1], scores[:, 1] = right, 0.6
    boxes[20:45, 2], scores[20:45, 2] = eye, 0.5  # the eye outscores the left mouth for 25 frames
    boxes[::7, 3], scores[::7, 3] = [100, 50, 110, 60], 0.9  # a flicker every seventh frame
    boxes[30, 0], scores[30, 0] = np.nan, np.nan  # the left mouth missed for a frame
    out = mouth_tracks(boxes, scores, 2)
    assert out.shape == (length, 2, 4)
    keep = np.ones(length, bool)
    keep[30] = False
    assert np.array_equal(out[keep, 0], np.tile(BOX, (keep.sum(), 1)))  # the eye is never taken for the mouth
    assert np.array_equal(out[keep, 1], np.tile(right, (keep.sum(), 1)))
    assert np.array_equal(out[30, 0], right) and np.isnan(out[30, 1]).all()  # left to right, NaN after the last
    # what the locator's best two per frame would give instead: the eye in the left mouth's place
    best = np.argsort(-np.nan_to_num(scores, nan=-1.0), axis=1)[:, :2]
    assert (boxes[np.arange(length)[:, None], best] == eye).all(axis=-1).any(axis=1).sum() == 21  # 25 less 4 flickers
    assert np.isnan(mouth_tracks(boxes[:, :0], scores[:, :0], 1)).all()  # nothing found: nothing kept


def test_mouth_tracks_pass_over_a_collar_that_outscores_the_mouth_when_they_see_the_take():
    from talkgen.pipelines.retime import TRACK_TOP_LIMIT, _top_off_sides, mouth_tracks

    frames, _ = _faces(np.full(30, 4))  # skin, a mouth in BOX
    frames[:, 44:, :] = (40, 60, 200)  # a shirt below the face, a neck of skin between its sides
    frames[:, 44:, 26:38] = SKIN
    collar = np.array([20, 40, 44, 56], np.float32)  # its top rows on the neck, its sides on the shirt
    boxes = np.stack([np.tile(BOX, (30, 1)), np.tile(collar, (30, 1))], axis=1)
    scores = np.tile(np.array([0.3, 0.7], np.float32), (30, 1))
    members = dict.fromkeys(range(30), 0)
    assert _top_off_sides(frames, boxes, members) <= TRACK_TOP_LIMIT  # the mouth's top rows: skin, like its sides
    assert _top_off_sides(frames, boxes, dict.fromkeys(range(30), 1)) > TRACK_TOP_LIMIT
    assert np.array_equal(mouth_tracks(boxes, scores, 1)[:, 0], boxes[:, 1])  # by score alone: the collar
    assert np.array_equal(mouth_tracks(boxes, scores, 1, frames=frames)[:, 0], boxes[:, 0])  # seen: the mouth
    shirt = np.array([0, 40, 24, 56], np.float32)  # skin above, shirt beside: no mouth either
    off_face = np.stack([np.tile(collar, (30, 1)), np.tile(shirt, (30, 1))], axis=1)
    assert _top_off_sides(frames, off_face, dict.fromkeys(range(30), 1)) > TRACK_TOP_LIMIT
    # two tracks, neither on a face: the best-scoring one is still kept
    assert np.array_equal(mouth_tracks(off_face, scores, 1, frames=frames)[:, 0], off_face[:, 1])


def test_a_generated_take_with_candidates_re_times_the_mouth_not_the_eye():
    from talkgen.pipelines.retime import retime_generated

    rng = np.random.default_rng(7)
    frames, boxes = _faces(rng.integers(2, 13, 40))
    frames[:, 4:12, 22:42] = (20, 20, 200)  # an "eye" above the mouth
    cands = np.stack([np.tile([22, 4, 42, 12], (40, 1)).astype(np.float32), boxes], axis=1)  # top to bottom
    scores = np.tile(np.array([0.2, 0.4], np.float32), (40, 1))
    scores[10:25, 0] = 0.6  # the eye outscores the mouth for 15 frames
    jaw = rng.uniform(0, 1, (1, 40))
    speech = [np.full(16_000 * 40 // 25, 0.1, np.float32)]
    out = retime_generated(frames, cands, jaw, speech, 25.0, scores=scores)
    eye = (out[:, 4:12, 22:42] == (20, 20, 200)).all(axis=-1).mean(axis=(1, 2))
    assert eye.min() == 1.0  # the eye region is neither pasted over nor pasted from
    assert np.corrcoef(read_openings(out, boxes), jaw[0])[0, 1] > 0.9
    stretch = slice(10, 25)  # the frames where the eye scored higher re-time their mouths too
    assert np.corrcoef(read_openings(out, boxes)[stretch], jaw[0, stretch])[0, 1] > 0.9


def test_every_silent_frame_takes_the_one_most_closed_mouth():
    from talkgen.pipelines.retime import retime_footage

    rng = np.random.default_rng(11)
    heights = rng.integers(3, 13, 40)
    heights[5] = 1  # the most closed mouth of the footage, far from the silent stretch
    frames, boxes = _faces(heights)
    speech = np.full(16_000 * 40 // 25, 0.1, np.float32)
    speech[30 * 640 : 40 * 640] = 0.0  # frames 30-39 silent in the new speech
    jaw = rng.uniform(0, 1, (1, 40))
    out = retime_footage(frames, boxes[:, None], jaw, [speech], 25.0)
    opening = read_openings(out, boxes)
    assert np.allclose(opening[30:], read_openings(frames[5:6], boxes[5:6])[0])
    x0, y0, x1, y1 = BOX.astype(int)
    assert (out[30:, y0:y1, x0:x1] == frames[5, y0:y1, x0:x1]).all()  # the same still mouth in every silent frame


def test_painted_faces_shut_every_silent_frame_on_the_most_closed_painted_mouth():
    from talkgen.pipelines.retime import retime_footage

    class BarPainter:  # paints a mouth ``8 * jaw`` px tall; shut (jaw 0) a lip line of 1-4 px that varies by frame
        def paint(self, frames, boxes, jaw):
            heights = np.where(jaw > 0, np.round(8 * np.nan_to_num(jaw)), 1 + np.arange(len(jaw)) % 4).astype(int)
            return _faces(heights)[0]

    speech = np.full(16_000 * 40 // 25, 0.1, np.float32)
    speech[30 * 640 :] = 0.0  # frames 30-39 silent
    jaw = np.random.default_rng(13).uniform(0.5, 1.0, (1, 40))
    frames, boxes = _faces(np.full(40, 6))
    out = retime_footage(frames, boxes[:, None], jaw, [speech], 25.0, widen=1.5, painter=BarPainter())
    opening = read_openings(out, boxes)
    assert np.corrcoef(opening[:30], jaw[0, :30])[0, 1] > 0.9  # voiced: painted at their jaw
    shut = read_openings(_faces(np.array([1]))[0], boxes[:1])[0]
    assert np.allclose(opening[30:], shut)  # silent: every frame the 1 px lip line, not 2-4 px ones


def test_the_closed_mouth_is_one_that_reads_closed_when_its_box_moves():
    from talkgen.pipelines.retime import closed_frame, jittered_openings, retime_footage

    rng = np.random.default_rng(12)
    heights = rng.integers(3, 13, 40)
    heights[12] = 1  # a shut mouth, a thin line in its box
    frames, boxes = _faces(heights)
    frames[5] = SKIN
    frames[5, 39:47, 26:38] = MOUTH  # an open mouth just below frame 5's box (a box placed a pixel too high)
    opening = read_openings(frames, boxes)
    assert opening[5] == 0.0 and opening[5] < opening[12]  # read at its box alone, frame 5 looks the most closed
    assert closed_frame(opening) == 5
    jittered = jittered_openings(frames, boxes)
    assert jittered[5] > jittered[12] and np.all(jittered >= opening)  # moved down a little, its box finds it
    assert closed_frame(opening, jittered) == 12
    speech = np.full(16_000 * 40 // 25, 0.1, np.float32)
    speech[30 * 640 : 40 * 640] = 0.0  # frames 30-39 silent in the new speech
    out = retime_footage(frames, boxes[:, None], rng.uniform(0, 1, (1, 40)), [speech], 25.0)
    x0, y0, x1, y1 = BOX.astype(int)
    assert (out[30:, y0:y1, x0:x1] == frames[12, y0:y1, x0:x1]).all()  # every silent frame: the shut mouth
    assert closed_frame(np.full(3, np.nan), np.zeros(3)) is None


def test_a_stretched_mouth_opens_in_proportion_and_meets_the_frame_unchanged():
    from talkgen.pipelines.retime import _move_mouth, _stretch_mouth

    frames, boxes = _faces(np.array([4, 4]))
    frames[1] = SKIN  # a face without a mouth to paste onto
    reads = {}
    for stretch in (0.75, 1.0, 1.5):
        out = frames[1].copy()
        _stretch_mouth(out, frames[0], BOX, BOX, stretch)
        reads[stretch] = read_openings(out[None], BOX[None])[0]
        if stretch == 1.0:
            moved = frames[1].copy()
            _move_mouth(moved, frames[0], BOX, BOX)
            assert np.array_equal(out, moved)  # no stretch: the plain move, pixel for pixel
    assert reads[1.5] == pytest.approx(1.5 * reads[1.0], rel=0.15) and reads[0.75] < reads[1.0]
    x0, y0, x1, y1 = BOX
    h = (y1 - y0) * REGION_GROW / 2 + 1
    out = frames[1].copy()
    out[:, :, 0] = 7  # marks every pixel the paste leaves alone
    _stretch_mouth(out, frames[0], BOX, BOX, 1.8)
    rows = np.flatnonzero((out[:, :, 0] != 7).any(axis=1))
    assert rows.min() >= (y0 + y1) / 2 - h and rows.max() <= (y0 + y1) / 2 + h  # a stretch stays in the region


def test_widened_targets_follow_the_voiced_jaw_in_proportion():
    from talkgen.pipelines.retime import widened_targets

    jaw = np.linspace(0.0, 1.0, 11)
    opening = np.linspace(0.1, 0.3, 11)
    voiced = np.ones(11, bool)
    want = widened_targets(jaw, opening, voiced, widen=1.5)
    # the voiced jaw's p10-p90 (0.1-0.9) lands on 1.5 x the openings' p10-p90 (0.12-0.28) about its middle, 0.2
    assert want == pytest.approx(0.2 + 0.24 * ((jaw - 0.1) / 0.8 - 0.5))
    loud = np.append(jaw, 5.0)  # a silent frame's jaw takes no part in the range
    assert widened_targets(loud, np.append(opening, np.nan), np.append(voiced, False), 1.5)[:11] == pytest.approx(want)
    assert np.isnan(widened_targets(jaw, np.full(11, np.nan), voiced)).all()


def test_a_widened_retime_opens_wider_than_the_take_and_in_proportion_to_the_jaw():
    from talkgen.pipelines.retime import retime_footage

    rng = np.random.default_rng(21)
    frames, boxes = _faces(rng.integers(3, 9, 60))  # the take's mouths open 3-8 px
    frames[7] = _faces(np.array([1]))[0][0]  # one shut mouth
    jaw = rng.uniform(0.3, 1, (1, 60))
    jaw[0, 57:] = 0.0  # three frames asking for far less than the take's openings
    speech = [np.full(16_000 * 60 // 25, 0.1, np.float32)]  # never silent
    source = read_openings(frames, boxes)
    ranked = read_openings(retime_footage(frames, boxes[:, None], jaw, speech, 25.0), boxes)
    out = retime_footage(frames, boxes[:, None], jaw, speech, 25.0, widen=1.5)
    widened = read_openings(out, boxes)
    assert widened.max() > source.max() + 0.05  # wider than any mouth of the take
    assert np.corrcoef(widened[:57], jaw[0, :57])[0, 1] > max(0.95, np.corrcoef(ranked[:57], jaw[0, :57])[0, 1])
    x0, y0, x1, y1 = BOX.astype(int)
    assert (out[57:, y0:y1, x0:x1] == frames[7, y0:y1, x0:x1]).all()  # below the shut mouth: the shut mouth
