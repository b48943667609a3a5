"""Synthetic-world metrics on ground-truth renders and on constructed signals."""

from __future__ import annotations

import numpy as np
import pytest

from talkgen.eval.signals import shift_track, shuffle_segments
from talkgen.eval.world import (
    closed_in_silence,
    evaluate_world,
    face_match,
    face_patches,
    flicker,
    identity_drift,
    read_mouth_openings,
    speaker_attribution,
)


def _jaw(truth) -> np.ndarray:
    return np.stack([ch.mouth_params[:, 0] for ch in truth.characters], axis=1)


@pytest.mark.parametrize("name", ["one", "three"])
def test_pixel_reader_matches_ground_truth(world_clips, name):
    clip = world_clips[name]
    frames = clip.frames.numpy()
    openings = read_mouth_openings(frames, clip.truth)
    for c, ch in enumerate(clip.truth.characters):
        vis = ch.visible
        assert np.isfinite(openings[vis, c]).all() and np.isnan(openings[~vis, c]).all()
        assert np.corrcoef(openings[vis, c], ch.mouth_params[vis, 0])[0, 1] >= 0.95, ch.tag


def test_ground_truth_render_scores(world_clips):
    clip = world_clips["three"]
    frames = clip.frames.numpy()
    rep = evaluate_world(frames, clip.truth, reference_frames=frames)
    assert rep.offset == 0 and rep.correlation >= 0.9
    assert all(c.offset == 0 for c in rep.characters)
    assert rep.speaker_attribution >= 0.8
    assert rep.closed_in_silence >= 0.7
    assert rep.flicker == pytest.approx(rep.reference_flicker)
    assert rep.identity_drift == pytest.approx(rep.reference_identity_drift)
    assert rep.face_match == pytest.approx(1.0)
    assert evaluate_world(frames, clip.truth).face_match is None  # no render to compare with
    d = rep.to_dict()
    assert d["offset"] == 0 and len(d["characters"]) == 3


def test_shifted_audio_reports_offset_and_shuffled_has_low_confidence(world_clips):
    clip = world_clips["three"]
    frames, truth = clip.frames.numpy(), clip.truth
    jaw = _jaw(truth)
    delayed = evaluate_world(frames, truth, reference_tracks=shift_track(jaw, 5))  # audio 5 frames late
    assert delayed.offset == 5
    early = evaluate_world(frames, truth, reference_tracks=shift_track(jaw, -3))
    assert early.offset == -3
    good = evaluate_world(frames, truth)
    shuffled = evaluate_world(
        frames, truth, reference_tracks=shuffle_segments(jaw, int(truth.fps), np.random.default_rng(0))
    )
    assert shuffled.confidence < 0.3 < good.confidence
    assert abs(shuffled.correlation) < 0.3


def test_frozen_mouths_score_low(world_clips):
    """A video whose frames never change (first frame repeated) has no lip sync."""
    clip = world_clips["one"]
    frames = clip.frames.numpy()
    frozen = np.repeat(frames[:1], len(frames), axis=0)
    rep = evaluate_world(frozen, clip.truth, reference_frames=frames)
    assert abs(rep.correlation) < 0.2 or not np.isfinite(rep.correlation)
    assert rep.flicker == 0.0 and rep.reference_flicker > 0


def test_speaker_attribution_constructed():
    t = np.arange(100)
    moving = np.sin(t)  # the speaker's mouth moves
    still = np.full(100, 0.1)
    openings = np.stack([moving, still], axis=1)
    speaking = np.zeros((100, 2), dtype=bool)
    speaking[10:60, 0] = True
    visible = np.ones((100, 2), dtype=bool)
    assert speaker_attribution(openings, speaking, visible) == 1.0
    swapped = np.stack([still, moving], axis=1)
    assert speaker_attribution(swapped, speaking, visible) == 0.0
    assert np.isnan(speaker_attribution(openings[:, :1], speaking[:, :1], visible[:, :1]))


def test_closed_in_silence_constructed():
    speaking = np.zeros(100, dtype=bool)
    speaking[30:60] = True
    opening = np.full(100, 0.12)
    opening[28:62] = 0.35
    assert closed_in_silence(opening, speaking) == 1.0
    babbling = opening.copy()
    babbling[70:100] = 0.3  # mouth open in the trailing silence
    assert closed_in_silence(babbling, speaking) == pytest.approx(30 / 57, abs=0.02)


def test_drift_and_flicker_constructed():
    rng = np.random.default_rng(0)
    base = rng.random((1, 8, 8, 3)).astype(np.float32)
    steady = np.repeat(base, 50, axis=0)
    assert identity_drift(steady, 10.0) == 0.0
    drifting = steady + np.linspace(0, 0.5, 50, dtype=np.float32)[:, None, None, None]
    assert identity_drift(drifting, 10.0) > 0.2
    frames = np.zeros((4, 8, 8, 3), dtype=np.uint8)
    frames[1::2] = 255
    assert flicker(frames) == pytest.approx(1.0)
    assert flicker(frames, cuts=[1, 2, 3]) != flicker(frames, cuts=[1, 2, 3])  # all pairs skipped: NaN


def test_face_match_tells_the_prompted_face_from_a_blob_and_from_another_face(world_clips):
    """The ground truth against itself a few frames later (the face talks and sways) matches; a blob of the face's
    own colours inside its box, and another character's face in the same box, do not."""
    clip = world_clips["three"]
    frames, truth = clip.frames.numpy(), clip.truth
    boxes = [ch.face_box for ch in truth.characters]
    own = [face_patches(frames, box) for box in boxes]
    assert min(face_match(p[5:], p[:-5]) for p in own) > 0.85
    blob = np.full_like(own[0], np.nanmean(own[0], axis=(0, 1, 2)))  # the face's mean colour, flat
    blob += np.random.default_rng(0).normal(0, 0.05, blob.shape).astype(np.float32)
    assert abs(face_match(blob, own[0])) < 0.2
    assert face_match(own[1], own[0]) < 0.6  # the middle character's face in the left one's place
    empty = np.full_like(own[0], np.nan)
    assert np.isnan(face_match(empty, own[0]))
