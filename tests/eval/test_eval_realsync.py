"""Real-face path: the astronaut photo animated with a speech-driven jaw warp; an injected offset is recovered."""

from __future__ import annotations

import numpy as np
import pytest

from talkgen.eval.signals import rms_envelope, shift_audio
from talkgen.eval.sync import evaluate_sync_arrays

FPS = 25.0
SR = 16000


@pytest.fixture(scope="module")
def jaw_clip(astronaut_face, make_jaw_clip, make_speech):
    img, mouth = astronaut_face
    wav, _ = make_speech(6.0, 11)
    env = rms_envelope(wav, SR, FPS)
    frames = make_jaw_clip(img, mouth, 12.0 * env / env.max())
    return frames, wav


@pytest.mark.parametrize("offset", [0, 4, -6])
def test_injected_offset_recovered_within_one_frame(jaw_clip, offset):
    frames, wav = jaw_clip
    report = evaluate_sync_arrays(frames, FPS, shift_audio(wav, offset / FPS, SR), SR)
    assert abs(report.result.offset - offset) <= 1
    assert report.result.confidence > 0.4
    assert report.face_fraction == 1.0
    if offset == 0:
        assert report.result.correlation_at_zero > 0.6


def test_unrelated_audio_has_low_confidence(jaw_clip, make_speech):
    frames, wav = jaw_clip
    matched = evaluate_sync_arrays(frames, FPS, wav, SR).result
    other, _ = make_speech(6.0, 99)
    unrelated = evaluate_sync_arrays(frames, FPS, other, SR).result
    assert unrelated.confidence < 0.6 * matched.confidence
    assert abs(unrelated.correlation_at_zero) < 0.4


def test_no_face_is_a_clear_error():
    from talkgen.errors import MediaError

    frames = np.full((10, 64, 64, 3), 90, dtype=np.uint8)
    with pytest.raises(MediaError, match="face was found"):
        evaluate_sync_arrays(frames, FPS, np.zeros(SR, dtype=np.float32), SR)
