from __future__ import annotations

import numpy as np
import pytest

from talkgen.pipelines.mouth import (
    MouthTrack,
    StaticMouthLocator,
    TruthMouthLocator,
    audio_frames,
    blend,
    colour_drift,
    edit_mask,
    fit_audio,
    fit_length,
    match_colour,
    parse_extent,
    parse_face,
    select_faces,
    silent_frames,
)


def _track() -> MouthTrack:
    """4 frames of a 40x30 video, two faces; face 1 is absent at frame 2, no face at all at frame 3."""
    boxes = np.full((4, 2, 4), np.nan, dtype=np.float32)
    boxes[:3, 0] = (4, 10, 12, 14)
    boxes[:2, 1] = (26, 10, 34, 14)
    return MouthTrack.from_boxes(boxes, 40, 30)


@pytest.mark.parametrize(
    ("policy", "video", "audio", "expected"),
    [
        ("pad", 10, 14, [*range(10), 9, 9, 9, 9]),
        ("pad", 10, 6, list(range(10))),
        ("trim", 10, 14, list(range(10))),
        ("trim", 10, 6, list(range(6))),
        ("loop", 4, 10, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]),
        ("loop", 10, 6, list(range(6))),
    ],
)
def test_length_policies_give_documented_frame_counts(policy, video, audio, expected):
    plan = fit_length(video, audio, policy)
    assert plan.num_frames == len(expected)
    assert plan.frame_index.tolist() == expected


def test_length_helpers():
    assert audio_frames(16_000, 16_000, 25.0) == 25
    assert audio_frames(16_001, 16_000, 25.0) == 26
    wave = fit_audio(np.ones(100, np.float32), 2, 25.0, 16_000)
    assert wave.shape == (1280,) and wave[:100].sum() == 100 and not wave[100:].any()
    with pytest.raises(ValueError):
        fit_length(3, 3, "stretch")
    silent = silent_frames(np.r_[np.zeros(640), np.ones(640) * 0.5].astype(np.float32), 3, 25.0, 16_000)
    assert silent.tolist() == [True, False, True]


def test_face_choice_index_box_all():
    track = _track()
    assert select_faces(track, "all").num_faces == 2
    one = select_faces(track, 1)
    assert one.num_faces == 1 and one.present[:, 0].tolist() == [True, True, False, False]
    by_box = select_faces(track, (24.0, 5.0, 36.0, 20.0))
    np.testing.assert_array_equal(by_box.boxes, one.boxes)
    assert parse_face("all") == "all" and parse_face("1") == 1 and parse_face("1,2,3,4") == (1.0, 2.0, 3.0, 4.0)
    for bad in ("x", "1,2"):
        with pytest.raises(ValueError):
            parse_face(bad)
    with pytest.raises(ValueError):
        select_faces(track, 2)


def test_mouth_mask_is_feathered_and_zero_without_face():
    track = select_faces(_track(), 0)
    mask = edit_mask(track, "mouth", grow=1.0, feather=0.5)
    assert mask.shape == (4, 30, 40)
    assert mask[0, 12, 8] == 1.0  # inside the box
    assert 0.0 < mask[0, 12, 14] < 1.0  # feathered: 1.5 px outside the box, ramp 4 px
    assert mask[0, 12, 17] == 0.0 and mask[0, 0, 0] == 0.0  # beyond the ramp
    assert not mask[3].any()  # no face: nothing edited
    frame = edit_mask(track, "frame")
    assert np.all(frame[:3] == 1.0) and not frame[3].any()
    mid = edit_mask(track, 0.5)
    assert (mid[0] > 0).sum() > (mask[0] > 0).sum()
    assert parse_extent("face") == 0.5 and parse_extent("0.25") == 0.25
    with pytest.raises(ValueError):
        parse_extent("mouths")


def test_blend_is_bit_identical_outside_the_mask_and_colour_tools():
    rng = np.random.default_rng(0)
    src = rng.integers(0, 256, (4, 30, 40, 3), dtype=np.uint8)
    edited = rng.integers(0, 256, (4, 30, 40, 3), dtype=np.uint8)
    mask = edit_mask(_track(), "mouth")
    out = blend(src, edited, mask)
    np.testing.assert_array_equal(out[mask == 0], src[mask == 0])
    np.testing.assert_array_equal(out[mask == 1], edited[mask == 1])
    shifted = np.clip(src.astype(int) + 20, 0, 255).astype(np.uint8)
    assert colour_drift(src, shifted, mask) > 10
    assert colour_drift(src, match_colour(src, shifted, mask), mask) < colour_drift(src, shifted, mask)
    assert colour_drift(src, src, mask) == 0.0
    # A mouth that opens (darker where mask == 1) keeps its colours: the band 0 < mask < 1 is unchanged.
    opened = src.copy()
    opened[mask == 1] //= 2
    np.testing.assert_array_equal(match_colour(src, opened, mask), opened)


def test_truth_locator_reads_synthetic_mouth_boxes():
    from talkgen.synth.truth import CharacterTruth, GroundTruth

    boxes = np.array([[1, 2, 5, 4], [np.nan] * 4], dtype=np.float32)
    ch = CharacterTruth("Person1", 0, "", {}, np.zeros((2, 5)), [0, 0], [True, False], boxes, boxes)
    truth = GroundTruth(25.0, 2, 8, 8, 16_000, "", [ch], [])
    track = TruthMouthLocator(truth).locate(np.zeros((2, 8, 8, 3), np.uint8))
    assert track.present[:, 0].tolist() == [True, False]
    np.testing.assert_allclose(track.centers[0, 0], [3, 3])


def test_static_locator_for_stylised_faces():
    track = StaticMouthLocator((2, 3, 6, 5)).locate(np.zeros((3, 10, 12, 3), np.uint8))
    assert track.num_frames == 3 and (track.width, track.height) == (12, 10) and track.has_face.all()
    np.testing.assert_allclose(track.centers[:, 0], [[4, 4]] * 3)
    with pytest.raises(ValueError):
        StaticMouthLocator((5, 5, 1, 1))


def test_face_extent_is_the_face_box_where_the_track_knows_faces_else_halfway_to_the_frame():
    mouth = np.array([[[40.0, 60.0, 56.0, 68.0]]], dtype=np.float32)  # (T=1, K=1, 4)
    face = np.array([[[30.0, 20.0, 70.0, 76.0]]], dtype=np.float32)
    with_faces = MouthTrack.from_boxes(mouth, 100, 100, grow=1.0)
    with_faces.faces = face
    region = edit_mask(with_faces, "face", feather=0.0)[0] > 0
    ys, xs = np.nonzero(region)
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == (29, 19, 70, 76)  # the face box (a 1 px ramp)
    halfway = edit_mask(MouthTrack.from_boxes(mouth, 100, 100, grow=1.0), "face", feather=0.0)[0] > 0
    ys, xs = np.nonzero(halfway)
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == (19, 29, 78, 84)  # (40+0)/2=20, (60+0)/2=30, 78, 84
    picked = with_faces.select(np.array([0, 0]), [0])  # frames and slots carry the face boxes along
    np.testing.assert_array_equal(picked.faces, np.repeat(face, 2, axis=0))
    np.testing.assert_array_equal(picked.scaled(50, 50).faces[0, 0], face[0, 0] / 2)
