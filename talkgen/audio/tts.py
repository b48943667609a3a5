"""Offline text-to-speech over espeak-ng (the ``espeakng-loader`` wheel) through ctypes.

espeak-ng keeps global state, so synthesis runs in one helper process per Python process
(:mod:`talkgen.audio._espeak`), which forks a pristine child for each request: output depends only on the
arguments, and concurrent calls from threads are serialised on a lock and never mix audio. The library reports its
own sample rate (an event for mbrola voices); audio is resampled from it to the requested rate. Phoneme events (IPA)
and word events give each phoneme's and word's position in the audio.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkgen import SPEECH_RATE
from talkgen.audio import _espeak
from talkgen.audio.presets import DEFAULT_PITCH, DEFAULT_RATE, find_preset
from talkgen.errors import SpeechError

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 20_000
RATE_RANGE = (80, 450)  # words per minute
PITCH_RANGE = (0, 99)


@dataclass(frozen=True)
class Phoneme:
    """One phoneme: IPA symbol and its span in the audio, in seconds."""

    symbol: str
    start: float
    end: float


@dataclass(frozen=True)
class Word:
    """One word of the input text and its span in the audio, in seconds."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class VoiceInfo:
    """An espeak-ng voice: ``identifier`` is what ``synthesize(voice=...)`` accepts (``name`` too)."""

    name: str
    identifier: str
    languages: tuple[str, ...]
    gender: str


@dataclass(frozen=True, eq=False)
class Speech:
    """Synthesised speech: mono float32 waveform, its rate, and the phoneme and word timelines."""

    waveform: np.ndarray
    sample_rate: int
    phonemes: tuple[Phoneme, ...]
    words: tuple[Word, ...]

    @property
    def duration(self) -> float:
        return len(self.waveform) / self.sample_rate


class _Client:
    """Talks to one espeak server process (:mod:`talkgen.audio._espeak`); requests are serialised by ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.proc: subprocess.Popen | None = None
        self.voices: list[VoiceInfo] = []
        self.data_path = Path()

    def _start(self) -> None:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "talkgen.audio._espeak"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            hello, _ = _espeak.read_message(self.proc.stdout, with_payload=False)
        except EOFError as exc:
            self.close()
            raise SpeechError(
                "the offline speech engine (espeak-ng) failed to start; reinstall espeakng-loader"
            ) from exc
        self.voices = [
            VoiceInfo(v["name"], v["identifier"], tuple(v["languages"]), v["gender"]) for v in hello["voices"]
        ]
        self.data_path = Path(hello["data_path"])

    def ensure(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self._start()

    def synth(self, text: str, voice: str, rate: int, pitch: int) -> tuple[np.ndarray, int, list]:
        """One synthesis; returns (int16 samples, native sample rate, raw events)."""
        with self.lock:
            self.ensure()
            try:
                _espeak.write_message(self.proc.stdin, {"text": text, "voice": voice, "rate": rate, "pitch": pitch})
                header, payload = _espeak.read_message(self.proc.stdout, with_payload=True)
            except (EOFError, BrokenPipeError) as exc:
                self.close()
                raise SpeechError("the offline speech engine (espeak-ng) stopped; try again") from exc
        if "error" in header:
            raise SpeechError(header["error"])
        return np.frombuffer(payload, dtype="<i2"), int(header["sample_rate"]), header["events"]

    def close(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc = None


_client = _Client()
_client_lock = threading.Lock()


def _get_client() -> _Client:
    with _client_lock:
        _client.ensure()
        return _client


atexit.register(_client.close)


def list_voices() -> list[VoiceInfo]:
    """All espeak-ng voices (languages) available offline."""
    return list(_get_client().voices)


def list_variants() -> list[str]:
    """Voice variants (``en-us+f3`` style suffixes): names of files in espeak-ng-data/voices/!v."""
    folder = _get_client().data_path / "voices" / "!v"
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def resolve_voice(voice: str) -> VoiceInfo:
    """Find a voice by name, identifier (``gmw/en-GB``), file name or language code (``en-gb``), any case."""
    key = voice.strip().lower() if isinstance(voice, str) else ""
    if not key or "\0" in key or "+" in key:
        raise SpeechError(f"invalid voice {voice!r}; give a voice from `talkgen voices` and the variant separately")
    voices = list_voices()
    for match in (
        lambda v: v.name.lower() == key or v.identifier.lower() == key,
        lambda v: v.identifier.rsplit("/", 1)[-1].lower() == key,
        lambda v: bool(v.languages) and v.languages[0].lower() == key,
    ):
        found = [v for v in voices if match(v)]
        if found:
            return found[0]
    raise SpeechError(f"unknown voice {voice!r}; list voices with `talkgen voices`")


def _voice_spec(voice: str, variant: str | None) -> str:
    name = resolve_voice(voice).name
    if variant is None:
        return name
    if variant not in list_variants():
        raise SpeechError(f"unknown voice variant {variant!r}; list variants with `talkgen voices --variants`")
    return f"{name}+{variant}"


def synthesize(
    text: str,
    voice: str = "en-us",
    *,
    variant: str | None = None,
    rate: int | None = None,
    pitch: int | None = None,
    sample_rate: int = SPEECH_RATE,
) -> Speech:
    """Speak ``text`` offline. Thread safe (calls are serialised on espeak-ng's global state).

    Args:
        text: the words to speak (UTF-8, at most 20,000 characters).
        voice: an espeak-ng voice name or identifier (``talkgen voices``), e.g. ``en-us``, ``en-gb``, ``fr``, or a
            named preset (``talkgen voices --presets``: ``ben``, ``narrator``...), whose variant, rate and pitch
            apply where the arguments below are None.
        variant: optional variant such as ``f3`` or ``m2`` (``talkgen voices --variants``).
        rate: speaking rate in words per minute (80-450; None: the preset's, else 175).
        pitch: base pitch 0-99 (None: the preset's, else 50).
        sample_rate: rate of the returned waveform.

    Returns:
        :class:`Speech` with a (N,) float32 waveform at ``sample_rate``, IPA phonemes and words with times.
    """
    if not isinstance(text, str) or not text.strip():
        raise SpeechError("nothing to say: the text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise SpeechError(f"text has {len(text)} characters, more than the limit {MAX_TEXT_CHARS}; split it")
    preset = find_preset(voice)
    if preset is not None:
        voice, variant = preset.voice, preset.variant if variant is None else variant
        rate, pitch = preset.rate if rate is None else rate, preset.pitch if pitch is None else pitch
    rate, pitch = DEFAULT_RATE if rate is None else rate, DEFAULT_PITCH if pitch is None else pitch
    if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
        raise SpeechError(f"rate {rate} is outside {RATE_RANGE[0]}-{RATE_RANGE[1]} words per minute")
    if not PITCH_RANGE[0] <= pitch <= PITCH_RANGE[1]:
        raise SpeechError(f"pitch {pitch} is outside {PITCH_RANGE[0]}-{PITCH_RANGE[1]}")
    if sample_rate < 8000 or sample_rate > 96_000:
        raise SpeechError(f"sample_rate {sample_rate} is outside 8000-96000 Hz")
    spec = _voice_spec(voice, variant)
    samples, native_rate, events = _get_client().synth(text, spec, rate, pitch)
    wave = samples.astype(np.float32) / 32768.0
    if native_rate != sample_rate and len(wave):
        import soxr

        wave = soxr.resample(wave, native_rate, sample_rate, quality="HQ").astype(np.float32)
    duration = len(wave) / sample_rate
    return Speech(
        waveform=np.ascontiguousarray(wave, dtype=np.float32),
        sample_rate=sample_rate,
        phonemes=_phonemes(events, duration),
        words=_words(events, text, duration),
    )


def _phonemes(events: list, duration: float) -> tuple[Phoneme, ...]:
    """Phoneme spans: each phoneme lasts until the next phoneme event (or the end of the audio)."""
    starts = [(pos / 1000.0, name) for typ, pos, _, _, name, _ in events
              if typ == _espeak.EVENT_PHONEME]  # fmt: skip
    ends = [e[1] / 1000.0 for e in events if e[0] in (_espeak.EVENT_END, _espeak.EVENT_MSG_TERMINATED)]
    out = []
    for i, (start, symbol) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else (max(ends) if ends else duration)
        end = min(max(end, start), duration)
        start = min(start, duration)
        if symbol and not (symbol.startswith("(") and symbol.endswith(")")) and end > start:
            out.append(Phoneme(symbol, start, end))
    return tuple(out)


def _words(events: list, text: str, duration: float) -> tuple[Word, ...]:
    """Word spans from word events; a word ends where the next word starts (or at the last phoneme's end)."""
    encoded = text.encode("utf-8")
    raw = [(pos / 1000.0, tpos, length) for typ, pos, tpos, length, _, _ in events if typ == _espeak.EVENT_WORD]
    ends = [e[1] / 1000.0 for e in events if e[0] in (_espeak.EVENT_END, _espeak.EVENT_MSG_TERMINATED)]
    out = []
    for i, (start, tpos, length) in enumerate(raw):
        word = encoded[max(tpos - 1, 0) : max(tpos - 1, 0) + length].decode("utf-8", errors="replace")
        end = raw[i + 1][0] if i + 1 < len(raw) else (max(ends) if ends else duration)
        out.append(Word(word, min(start, duration), min(max(end, start), duration)))
    return tuple(out)
