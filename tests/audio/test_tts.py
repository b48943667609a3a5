import threading

import numpy as np
import pytest

from talkgen.audio.tts import list_variants, list_voices, resolve_voice, synthesize
from talkgen.errors import SpeechError

FOX = "The quick brown fox jumps over the lazy dog."


def test_speech_has_requested_rate_and_timeline_matches_audio():
    speech = synthesize(FOX)
    assert speech.sample_rate == 16_000
    assert speech.waveform.dtype == np.float32 and speech.waveform.ndim == 1
    assert 1.5 < speech.duration < 5.0
    assert np.abs(speech.waveform).max() > 0.05
    assert abs(speech.phonemes[-1].end - speech.duration) < 0.05
    starts = [p.start for p in speech.phonemes]
    assert starts == sorted(starts)
    assert all(p.end > p.start for p in speech.phonemes)
    assert [w.text for w in speech.words] == ["The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"]
    fox = speech.words[3]
    assert 0.3 < fox.start < fox.end < 1.8


def test_resampling_keeps_duration():
    a = synthesize("Hello there.", sample_rate=16_000)
    b = synthesize("Hello there.", sample_rate=24_000)
    assert b.sample_rate == 24_000
    assert abs(a.duration - b.duration) < 0.01


def test_rate_and_pitch_change_the_audio():
    base = synthesize(FOX)
    fast = synthesize(FOX, rate=300)
    assert fast.duration < 0.8 * base.duration
    high = synthesize(FOX, pitch=90)
    assert high.waveform.shape != base.waveform.shape or not np.allclose(high.waveform, base.waveform)


def test_voices_variants_and_language_codes():
    voices = list_voices()
    assert len(voices) > 50
    assert resolve_voice("en-gb").name == "English (Great Britain)"
    assert resolve_voice("EN-US").languages[0] == "en-us"
    assert "f3" in list_variants()
    female = synthesize("Good morning.", "en-gb", variant="f3")
    male = synthesize("Good morning.", "en-gb")
    assert not np.array_equal(female.waveform[: len(male.waveform)], male.waveform[: len(female.waveform)])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"text": "   "}, "empty"),
        ({"text": "hi", "voice": "xx-nowhere"}, "unknown voice"),
        ({"text": "hi", "variant": "nope"}, "unknown voice variant"),
        ({"text": "hi", "rate": 10}, "rate"),
        ({"text": "hi", "pitch": 200}, "pitch"),
        ({"text": "x" * 20_001}, "limit"),
    ],
)
def test_bad_input_raises_speech_error(kwargs, message):
    with pytest.raises(SpeechError, match=message):
        synthesize(**kwargs)


def test_concurrent_calls_match_sequential():
    texts = [f"Line number {i}, said by speaker {i % 3}." for i in range(8)]
    voices = ["en-us", "en-gb", "fr", "de"]
    jobs = [(t, voices[i % 4], 140 + 20 * i) for i, t in enumerate(texts)]
    sequential = [synthesize(t, v, rate=r).waveform for t, v, r in jobs]
    results: list = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def work(i: int) -> None:
        barrier.wait()
        t, v, r = jobs[i]
        results[i] = synthesize(t, v, rate=r).waveform

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for seq, par in zip(sequential, results, strict=True):
        np.testing.assert_array_equal(seq, par)


def test_breathy_voice_is_the_same_in_every_speech_server():
    # f3 mixes noise into the voice; espeak-ng seeds that noise from the clock when a server starts, so a new
    # server (another process, a second later) gave different samples for the same request until talkgen fixed the seed
    import time

    from talkgen.audio import tts

    first = synthesize("Breathe in, then say it again.", "en-us", variant="f3").waveform
    tts._client.close()
    time.sleep(1.1)
    second = synthesize("Breathe in, then say it again.", "en-us", variant="f3").waveform
    np.testing.assert_array_equal(first, second)
