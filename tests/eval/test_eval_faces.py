"""talkgen.media.faces on a real photo (scikit-image's astronaut) and on constructed landmark sets."""

from __future__ import annotations

import numpy as np
import pytest

from talkgen.media.faces import INNER_LIP, FaceMeshConfig, FaceMeshTracker


def test_opening_follows_jaw_and_absent_frames_are_marked(astronaut_face, make_jaw_clip):
    img, mouth = astronaut_face
    amp = np.array([0, 0, 3, 6, 9, 12, 12, 9, 6, 3, 0, 0], dtype=np.float32)
    frames = make_jaw_clip(img, mouth, amp)
    blank = np.full((3,) + img.shape, 128, dtype=np.uint8)
    frames = np.concatenate([frames[:6], blank, frames[6:]])  # face gone for 3 frames
    track = FaceMeshTracker(config=FaceMeshConfig(smooth_sigma=0.0)).track(frames)
    assert track.num_frames == 15 and track.num_faces == 1
    np.testing.assert_array_equal(track.present[:, 0], [True] * 6 + [False] * 3 + [True] * 6)
    assert np.isnan(track.opening[6:9, 0]).all() and np.isnan(track.face_box[6:9, 0]).all()
    opening = np.concatenate([track.opening[:6, 0], track.opening[9:, 0]])
    assert np.corrcoef(opening, amp)[0, 1] > 0.9
    assert opening[5] > opening[0] + 0.1  # 12 px on a ~60 px inter-ocular face
    # geometry is where the face is
    x0, y0, x1, y1 = track.face_box[0, 0]
    assert x0 < mouth["cx"] < x1 and y0 < mouth["cy"] < y1
    assert np.allclose(track.mouth_center[0, 0], [mouth["cx"], mouth["cy"]], atol=3)
    mx0, my0, mx1, my1 = track.mouth_box[0, 0]
    assert x0 < mx0 < mx1 < x1 and y0 < my0 < my1 < y1
    assert track.inner_lip.shape == (15, 1, len(INNER_LIP), 2)
    assert track.face_fraction() == pytest.approx(12 / 15)


def test_two_faces_keep_their_slots(astronaut_face):
    img, _ = astronaut_face
    pair = np.concatenate([img, img[:, ::-1]], axis=1)  # two faces side by side
    frames = np.stack([np.roll(pair, s, axis=1) for s in range(0, 12, 2)])
    track = FaceMeshTracker(max_faces=2).track(frames)
    assert track.present.all()
    cx = (track.face_box[..., 0] + track.face_box[..., 2]) / 2  # (T, 2)
    left = int(np.argmin(cx[0]))
    assert (cx[:, left] < 256).all() and (cx[:, 1 - left] > 256).all()
    # the faces move right by 2 px a frame
    np.testing.assert_allclose(np.diff(cx, axis=0), 2.0, atol=1.0)


def _fake_face(cx: float, cy: float, open_px: float) -> np.ndarray:
    pts = np.zeros((478, 2), dtype=np.float32)
    pts[:] = (cx, cy)
    pts[:, 0] += np.linspace(-50, 50, 478)
    pts[33] = (cx - 30, cy - 20)
    pts[263] = (cx + 30, cy - 20)
    for up, lo in ((82, 87), (13, 14), (312, 317)):
        pts[up] = (cx, cy + 20)
        pts[lo] = (cx, cy + 20 + open_px)
    return pts


def test_assemble_matches_slots_when_detection_order_swaps():
    tracker = FaceMeshTracker(config=FaceMeshConfig(max_faces=2, smooth_sigma=0.0))
    dets = []
    for t in range(6):
        a, b = _fake_face(100 + t, 100, 6.0), _fake_face(400 - t, 100, 12.0)
        dets.append([a, b] if t % 2 == 0 else [b, a])
    dets.append([])
    dets.append([_fake_face(394, 100, 12.0)])
    track = tracker.assemble(dets, 500, 300)
    assert track.present[:6].all() and not track.present[6].any()
    np.testing.assert_allclose(track.opening[:6, 0], 0.1, atol=1e-6)  # 6 px / 60 px
    np.testing.assert_allclose(track.opening[:6, 1], 0.2, atol=1e-6)
    assert track.present[7, 1] and not track.present[7, 0]  # the right face came back to its slot
    assert track.primary() == 1  # present longest


def test_config_validation():
    with pytest.raises(ValueError):
        FaceMeshConfig(max_faces=0)
    with pytest.raises(ValueError):
        FaceMeshTracker().track(np.zeros((2, 8, 8), dtype=np.uint8))
