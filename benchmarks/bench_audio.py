"""Benchmark: offline TTS and viseme-track throughput, in seconds of speech per second of CPU.

Baseline in the same run: synthesis at the library's native rate (22,050 Hz, no resampling) against the
default 16 kHz path (resampled).
Writes benchmarks/results/audio.json.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch
from common import cpu_model

from talkgen.audio.tts import synthesize
from talkgen.audio.visemes import mouth_track

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Could you pass me the map? I think we took a wrong turn somewhere near the bridge.",
    "Good morning everyone, and welcome to the show. Today we are talking about boats.",
    "Pack my box with five dozen liquor jugs, then bring them over to the old barn.",
]


def _cpu_seconds(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> dict:
    synthesize("warm up")
    rounds = 5
    speech = []
    wall_16k, _ = _cpu_seconds(lambda: speech.extend(synthesize(t) for _ in range(rounds) for t in TEXTS))
    audio_s = sum(s.duration for s in speech)
    wall_native, _ = _cpu_seconds(lambda: [synthesize(t, sample_rate=22050) for _ in range(rounds) for t in TEXTS])
    tracks = 20
    wall_vis, cpu_vis = _cpu_seconds(lambda: [mouth_track(s.phonemes, fps=25) for _ in range(tracks) for s in speech])
    result = {
        "machine": {"cpu": cpu_model(), "cores": torch.get_num_threads(),
                    "python": platform.python_version(), "torch": torch.__version__},
        "speech_seconds": round(audio_s, 2),
        "tts_16k_speech_s_per_wall_s": round(audio_s / wall_16k, 1),
        "tts_native_22k_speech_s_per_wall_s": round(audio_s / wall_native, 1),
        "visemes_25fps_speech_s_per_cpu_s": round(audio_s * tracks / cpu_vis, 1),
        "visemes_25fps_speech_s_per_wall_s": round(audio_s * tracks / wall_vis, 1),
        "note": "TTS runs in a helper process (fork per request), so its cost is measured in wall time.",
    }  # fmt: skip
    out = Path(__file__).parent / "results" / "audio.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO)
    logging.getLogger(__name__).info(json.dumps(main(), indent=1))
