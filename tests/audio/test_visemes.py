import numpy as np
import pytest

from talkgen.audio.tts import Phoneme, synthesize
from talkgen.audio.visemes import REST_PARAMS, VISEME_PARAMS, Viseme, mouth_track, phoneme_visemes

JAW = 0


def test_phoneme_classes():
    assert phoneme_visemes("m") == [Viseme.CLOSED]
    assert phoneme_visemes("ˈɑː") == [Viseme.OPEN]
    assert phoneme_visemes("aɪ") == [Viseme.OPEN, Viseme.WIDE]
    assert phoneme_visemes("tʃ") == [Viseme.PROTRUDED]
    assert phoneme_visemes("f") == [Viseme.LIP_TEETH]
    assert phoneme_visemes("θ") == [Viseme.TONGUE]
    assert phoneme_visemes("_:") == []
    assert len({tuple(p) for p in VISEME_PARAMS}) == len(Viseme)


def test_closed_on_bilabials_and_silence_open_on_open_vowels():
    # 0.2 s silence, "m" 0.2-0.4, "a" 0.4-0.8, "p" 0.8-1.0, silence to 1.4
    phones = [Phoneme("m", 0.2, 0.4), Phoneme("ɑː", 0.4, 0.8), Phoneme("p", 0.8, 1.0)]
    track = mouth_track(phones, fps=25, num_frames=35, lead=0.0)
    assert track.params.shape == (35, 5) and track.viseme.shape == (35,)
    silent = list(range(0, 4)) + list(range(26, 35))
    np.testing.assert_array_equal(track.params[silent], np.tile(REST_PARAMS, (len(silent), 1)))
    assert not track.speaking[silent].any()
    bilabial = [6, 7, 8, 21, 22, 23]
    assert (track.params[bilabial, JAW] == 0).all()
    assert (track.viseme[bilabial] == Viseme.CLOSED).all()
    vowel = list(range(12, 18))
    assert (track.params[vowel, JAW] > 0.7).all()
    assert (track.viseme[vowel] == Viseme.OPEN).all()
    assert track.speaking[5:25].all()


def test_mouth_leads_voice():
    phones = [Phoneme("ɑː", 0.4, 0.8)]
    no_lead = mouth_track(phones, fps=25, num_frames=30, lead=0.0)
    lead = mouth_track(phones, fps=25, num_frames=30, lead=0.08)
    first = lambda t: int(np.argmax(t.speaking))  # noqa: E731
    assert first(no_lead) == 10
    assert first(lead) == 8


@pytest.mark.parametrize("fps", [16, 24, 25, 30, 60])
def test_any_fps_covers_the_speech(fps):
    speech = synthesize("Open the map please.")
    track = mouth_track(speech.phonemes, fps=fps)
    assert len(track) == int(np.ceil(speech.phonemes[-1].end * fps - 1e-9))
    assert track.speaking.mean() > 0.5
    assert (track.params >= 0).all() and (track.params <= 1).all()


def test_bad_arguments():
    with pytest.raises(ValueError):
        mouth_track([], fps=0)
    empty = mouth_track([], fps=25, num_frames=5)
    assert not empty.speaking.any() and (empty.params[:, JAW] == 0).all()
