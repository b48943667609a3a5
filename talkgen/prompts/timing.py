"""How long each dialogue line lasts, and where it pauses: the planner's injectable timing functions.

A timing function has the signature ``(scene, line) -> LineTiming``. Three are provided:

- :func:`estimate_timing`: a fast text-only estimate from the voice's speaking rate (no audio; for previews/tests);
- :func:`speech_timing`: the real duration, from offline TTS (:func:`talkgen.audio.tts.synthesize`) or from the
  line's audio file (:func:`talkgen.audio.io.load_audio`), pauses from word gaps or silence in the waveform;
- :class:`CachedTiming` wraps either so that each line is measured once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from talkgen import SPEECH_RATE
from talkgen.errors import TalkgenError
from talkgen.prompts.scene import Line, Scene
from talkgen.prompts.source import SourceLocation, script_error


@dataclass(frozen=True)
class Pause:
    """A place a long line may be split: ``time`` in seconds from the line's start, ``strength`` in [0, 1]
    (1 = sentence end or a clear silence, lower = word boundary)."""

    time: float
    strength: float


@dataclass(frozen=True)
class LineTiming:
    """Measured length of one line's speech (seconds) and the pauses inside it, in time order."""

    duration: float
    pauses: tuple[Pause, ...] = ()

    def __post_init__(self) -> None:
        if not math.isfinite(self.duration) or self.duration <= 0:
            raise ValueError(f"line duration must be positive, got {self.duration}")


TimingFn = Callable[[Scene, Line], LineTiming]

_TOKEN = re.compile(r"\S+")
_SENTENCE_END = ".!?;:"


_GAPS = {1.0: 0.25, 0.6: 0.12, 0.2: 0.0}  # the pause after a word, by its punctuation strength


def _spoken(word: str, per_word: float) -> float:
    """Seconds to say ``word``: the voice's time per word, scaled by its length (0.6x to 2x)."""
    return per_word * max(0.6, min(2.0, len(word) / 5.0))


def _punctuation_strength(word: str) -> float:
    if word.endswith(("...", "--")) or word[-1:] in _SENTENCE_END:
        return 1.0
    if word[-1:] in ",)":
        return 0.6
    return 0.2


def estimate_timing(scene: Scene, line: Line) -> LineTiming:
    """Text-only estimate: words at the voice's rate (words per minute) plus short pauses at punctuation.

    Lines with only an audio file get a nominal 2 s. Deterministic and instant.
    """
    text = line.text or ""
    words = _TOKEN.findall(text)
    if not words:
        return LineTiming(2.0)
    per_word = 60.0 / scene.character(line.speaker).voice.rate
    t = 0.0
    pauses = []
    for word in words[:-1]:
        t += _spoken(word, per_word)
        strength = _punctuation_strength(word)
        gap = _GAPS[strength]
        pauses.append(Pause(round(t + gap / 2, 4), strength))
        t += gap
    t += _spoken(words[-1], per_word)
    return LineTiming(round(max(t, 0.3), 4), tuple(pauses))


def speech_timing(scene: Scene, line: Line, sample_rate: int = SPEECH_RATE) -> LineTiming:
    """Real timing: TTS for text lines, the audio file when the line has one.

    Raises:
        ScriptError: located at the line, when the voice is unknown or the audio file cannot be read.
    """
    loc = line.location or SourceLocation(scene.source)
    if line.audio is not None:
        from talkgen.audio.io import load_audio

        try:
            wave = load_audio(line.audio, sample_rate=sample_rate)
        except TalkgenError as exc:
            raise script_error(
                loc, f"cannot use audio file {line.audio}: {exc}", "give a readable wav/flac/mp3/ogg file"
            ) from None
        if len(wave) == 0:
            raise script_error(loc, f"audio file {line.audio} is empty", "give a file with speech in it")
        return LineTiming(len(wave) / sample_rate, silence_pauses(wave, sample_rate))
    from talkgen.audio.tts import synthesize

    voice = scene.character(line.speaker).voice
    try:
        speech = synthesize(
            line.text or "",
            voice.name,
            variant=voice.variant,
            rate=voice.rate,
            pitch=voice.pitch,
            sample_rate=sample_rate,
        )
    except TalkgenError as exc:
        raise script_error(loc, f"cannot speak this line: {exc}", "check the speaker's voice settings") from None
    if speech.duration <= 0:
        raise script_error(loc, "the speech for this line is empty", "write words that can be spoken")
    return LineTiming(speech.duration, word_pauses(line.text or "", speech.words))


def word_pauses(text: str, words) -> tuple[Pause, ...]:
    """Pauses at word boundaries of TTS output; strength from the punctuation after the word in ``text``.

    Args:
        text: the line as written.
        words: sequence of objects with ``text``, ``start``, ``end`` (seconds), in order.
    """
    pauses = []
    pos = 0
    for prev, nxt in zip(words, words[1:], strict=False):
        found = text.find(prev.text, pos) if prev.text else -1
        strength = 0.2
        if found >= 0:
            pos = found + len(prev.text)
            after = text[pos : pos + 3].lstrip(" \"'")
            strength = _punctuation_strength(prev.text + after[:1]) if after else 0.2
        gap = max(0.0, nxt.start - prev.end)
        strength = max(strength, min(1.0, gap / 0.3))
        pauses.append(Pause(round((prev.end + nxt.start) / 2, 4), strength))
    return tuple(pauses)


def silence_pauses(
    wave: np.ndarray, sample_rate: int, frame_s: float = 0.02, min_silence_s: float = 0.15, floor_db: float = -35.0
) -> tuple[Pause, ...]:
    """Silences inside a speech waveform (N,) as pauses at their middle; strength grows with the silence length."""
    hop = max(1, int(frame_s * sample_rate))
    n = len(wave) // hop
    if n < 3:
        return ()
    frames = np.asarray(wave[: n * hop], dtype=np.float32).reshape(n, hop)
    rms = np.sqrt(np.mean(frames**2, axis=1) + 1e-12)
    silent = 20 * np.log10(rms / (rms.max() + 1e-12)) < floor_db
    voiced = np.flatnonzero(~silent)
    if len(voiced) == 0:
        return ()
    pauses = []
    run_start = None
    for k in range(voiced[0], voiced[-1] + 1):
        if silent[k] and run_start is None:
            run_start = k
        elif not silent[k] and run_start is not None:
            length = (k - run_start) * frame_s
            if length >= min_silence_s:
                pauses.append(Pause(round((run_start + k) / 2 * frame_s, 4), min(1.0, length / 0.4)))
            run_start = None
    return tuple(pauses)


class CachedTiming:
    """Wrap a timing function so each (speaker voice, text, audio) is measured once.

    ``maxsize`` bounds the entries kept (least recently used dropped first; None: unbounded), for a long-lived
    cache such as the web app's, shared by every check of a session's edits.
    """

    def __init__(self, fn: TimingFn = speech_timing, maxsize: int | None = None) -> None:
        from collections import OrderedDict

        self.fn = fn
        self.maxsize = maxsize
        self._cache: OrderedDict[tuple, LineTiming] = OrderedDict()

    def __call__(self, scene: Scene, line: Line) -> LineTiming:
        key = (scene.character(line.speaker).voice, line.text, line.audio)
        timing = self._cache.get(key)
        if timing is None:
            timing = self.fn(scene, line)
            if not isinstance(timing, LineTiming):
                raise TypeError(f"timing function returned {type(timing).__name__}, not LineTiming")
            self._cache[key] = timing
            if self.maxsize is not None and len(self._cache) > self.maxsize:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return timing
