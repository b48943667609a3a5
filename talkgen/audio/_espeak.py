"""espeak-ng through ctypes, and a small server process that makes every synthesis start from the same state.

espeak-ng keeps hidden state between syntheses in one process (the same text comes out a few samples different
depending on what was spoken before), and it is not thread safe. So synthesis runs in a helper process
(``python -m talkgen.audio._espeak``): it initialises espeak-ng once, then forks a fresh child for every request;
each child starts from the identical just-initialised state, synthesises, writes the result and exits. Output is
therefore a pure function of (text, voice, rate, pitch), whichever thread or process asks and in whatever order.

Wire protocol (stdin/stdout of the server): request = 4-byte big-endian length + JSON; response = 4-byte length +
JSON header, then 4-byte length + raw little-endian int16 samples. This module imports no numpy, so the server
stays small and single-threaded (safe to fork).
"""

from __future__ import annotations

import ctypes
import json
import os
import struct
import sys
from pathlib import Path

# espeak-ng constants (speak_lib.h)
AUDIO_OUTPUT_SYNCHRONOUS = 0x02
INITIALIZE_PHONEME_EVENTS = 0x0001
INITIALIZE_PHONEME_IPA = 0x0002
INITIALIZE_DONT_EXIT = 0x8000
CHARS_UTF8 = 1
POS_CHARACTER = 1
EVENT_LIST_TERMINATED = 0
EVENT_WORD = 1
EVENT_END = 5
EVENT_MSG_TERMINATED = 6
EVENT_PHONEME = 7
EVENT_SAMPLERATE = 8
PARAM_RATE = 1
PARAM_PITCH = 3


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class Library:
    """The loaded and initialised libespeak-ng. Not thread safe: callers serialise access."""

    def __init__(self) -> None:
        import espeakng_loader

        self.data_path = Path(espeakng_loader.get_data_path())
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        options = INITIALIZE_PHONEME_EVENTS | INITIALIZE_PHONEME_IPA | INITIALIZE_DONT_EXIT
        rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path).encode(), options)
        if rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialise with data at {self.data_path}")
        # espeak-ng seeds its noise generator (breathy variants such as f3) with the clock at initialisation: a fixed
        # seed makes the same request give the same samples in every process, not only within one server.
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed(0)
        self.lib = lib
        self.native_rate = rate
        self._chunks: list[bytes] = []
        self._events: list[list] = []
        self._callback = _SynthCallback(self._on_audio)  # keep a reference: C holds the pointer
        lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav, num_samples, events) -> int:  # called by espeak-ng inside espeak_Synth
        if num_samples > 0 and wav:
            self._chunks.append(ctypes.string_at(wav, num_samples * 2))
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            ev = events[i]
            name = (
                bytes(ev.id.string).split(b"\0", 1)[0].decode("utf-8", "replace") if ev.type == EVENT_PHONEME else ""
            )
            number = ev.id.number if ev.type == EVENT_SAMPLERATE else 0
            self._events.append([ev.type, ev.audio_position, ev.text_position, ev.length, name, number])
            i += 1
        return 0

    def synth(self, text: str, voice: str, rate: int, pitch: int) -> tuple[dict, bytes]:
        """One synthesis; returns (header with rate/events or error, int16 sample bytes)."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            return {"error": f"unknown voice {voice!r}; list voices with `talkgen voices`"}, b""
        self.lib.espeak_SetParameter(PARAM_RATE, rate, 0)
        self.lib.espeak_SetParameter(PARAM_PITCH, pitch, 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(data)
        err = self.lib.espeak_Synth(buf, len(data), 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
        if err != 0:
            return {"error": f"espeak-ng synthesis failed (code {err}) for text {text[:40]!r}"}, b""
        rates = [e[5] for e in self._events if e[0] == EVENT_SAMPLERATE and e[5] > 0]
        return {"sample_rate": rates[-1] if rates else self.native_rate, "events": self._events}, b"".join(
            self._chunks
        )

    def voices(self) -> list[dict]:
        arr = self.lib.espeak_ListVoices(None)
        out = []
        i = 0
        while arr[i]:
            v = arr[i].contents
            out.append(
                {
                    "name": v.name.decode(errors="replace"),
                    "identifier": v.identifier.decode(errors="replace"),
                    "languages": _parse_languages(v.languages),
                    "gender": {1: "male", 2: "female"}.get(v.gender, "unknown"),
                }
            )
            i += 1
        return out


def _parse_languages(address: int | None) -> list[str]:
    """espeak's languages field: repeated (priority byte, NUL-terminated name), ended by a zero byte."""
    langs: list[str] = []
    offset = 0
    while address and ctypes.c_ubyte.from_address(address + offset).value != 0:
        name = ctypes.string_at(address + offset + 1)
        langs.append(name.decode(errors="replace"))
        offset += 2 + len(name)
    return langs


def write_message(stream, header: dict, payload: bytes | None = None) -> None:
    body = json.dumps(header).encode()
    stream.write(struct.pack(">I", len(body)) + body)
    if payload is not None:
        stream.write(struct.pack(">I", len(payload)) + payload)
    stream.flush()


def read_exact(stream, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            raise EOFError("espeak server closed the pipe")
        data += chunk
    return data


def read_message(stream, with_payload: bool) -> tuple[dict, bytes]:
    (n,) = struct.unpack(">I", read_exact(stream, 4))
    header = json.loads(read_exact(stream, n))
    payload = b""
    if with_payload:
        (m,) = struct.unpack(">I", read_exact(stream, 4))
        payload = read_exact(stream, m)
    return header, payload


def serve(stdin, stdout) -> None:
    """Server loop: initialise once, fork a pristine child per synthesis request."""
    library = Library()
    write_message(stdout, {"ready": True, "voices": library.voices(), "data_path": str(library.data_path)})
    while True:
        try:
            request, _ = read_message(stdin, with_payload=False)
        except EOFError:
            return
        pid = os.fork()
        if pid == 0:  # child: synthesise from the just-initialised state, answer, exit
            code = 0
            try:
                header, samples = library.synth(request["text"], request["voice"], request["rate"], request["pitch"])
                write_message(stdout, header, samples)
            except BaseException as exc:  # report anything to the parent's client, never hang it
                write_message(stdout, {"error": f"espeak-ng child failed: {exc!r}"}, b"")
                code = 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) < 0:  # killed by a signal before answering
            write_message(stdout, {"error": "espeak-ng crashed while synthesising this text"}, b"")


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
