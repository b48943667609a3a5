"""Child process of the ``say`` job kind: one synthesis per fresh process.

espeak-ng keeps static state across calls inside a process (the same text synthesised after other texts gives
different samples, even after re-initialisation), so a long-lived worker would make ``say`` outputs depend on which
jobs it ran before. Each ``say`` job therefore synthesises in a fresh interpreter, which starts from the same state
every time: the output bytes depend on the request only.

Usage: ``python -m talkgen.serve._say_child OUT_DIR < request.json``; exit 2 with ``error: ...`` on stderr for a
user error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from talkgen.errors import TalkgenError


def synthesize_to(spec: dict, out_dir: Path) -> None:
    """Write ``speech.wav`` and ``words.json`` for a validated ``say`` request dict into ``out_dir``."""
    from talkgen.audio.io import save_wav
    from talkgen.audio.tts import synthesize

    speech = synthesize(
        spec["text"],
        spec["voice"],
        variant=spec["variant"],
        rate=spec["rate"],
        pitch=spec["pitch"],
        sample_rate=spec["sample_rate"],
    )
    save_wav(out_dir / "speech.wav", speech.waveform, speech.sample_rate)
    timeline = {
        "duration": speech.duration,
        "words": [{"text": w.text, "start": w.start, "end": w.end} for w in speech.words],
        "phonemes": [{"symbol": p.symbol, "start": p.start, "end": p.end} for p in speech.phonemes],
    }
    (out_dir / "words.json").write_text(json.dumps(timeline, sort_keys=True, indent=1))


def main() -> int:
    try:
        synthesize_to(json.loads(sys.stdin.read()), Path(sys.argv[1]))
    except TalkgenError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
