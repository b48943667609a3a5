"""Scripts at scale: reading and planning time against script size (linear, or not).

Run: ``python benchmarks/bench_script_scale.py``; writes ``benchmarks/results/script_scale.json``.

Generated YAML scenes of 1,000 to 16,000 dialogue lines (a cast of lines/16, an action on every seventh line; 16,000
lines is a 1.2 MB file) are read (:func:`talkgen.prompts.load_scenes`) and planned with estimated timing
(:func:`talkgen.prompts.plan_scene`, as ``talkgen script check --estimate``), best of 3. The baseline in the same run
is reading alone (YAML composed by the C loader and validated): planning is linear when its share stays flat as the
script grows. Also the ms per dialogue line of speech measured by the offline TTS (what ``script check`` without
``--estimate`` adds per line), on 50 lines.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from pathlib import Path

from common import best_time, machine_info

SIZES = (1000, 4000, 16000)


def script(lines: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    cast = max(2, lines // 16)
    out = ["title: Big scene", "description: a long hall with many doors. It is late.", "characters:"]
    out += [f"  - name: C{i}\n    description: a person with red hair, number {i}" for i in range(cast)]
    out.append("lines:")
    for j in range(lines):
        out.append(f"  - speaker: C{rng.randrange(cast)}\n    text: Hello there friend number {j}, nice day.")
        if j % 7 == 0:
            out.append(f"    action: waves at C{rng.randrange(cast)}")
    return "\n".join(out) + "\n"


def main() -> dict:
    from talkgen.prompts import CachedTiming, estimate_timing, load_scenes, plan_scene, speech_timing

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in SIZES:
            path = Path(tmp) / f"s{n}.yaml"
            path.write_text(script(n), encoding="utf-8")
            read_s = best_time(lambda p=path: load_scenes(p))
            scene = load_scenes(path)[0]
            plan_s = best_time(lambda s=scene: plan_scene(s, estimate_timing))
            rows[f"{n} lines"] = {
                "bytes": path.stat().st_size,
                "read_s (baseline)": round(read_s, 3),
                "plan_s": round(plan_s, 3),
                "read_and_plan_s": round(read_s + plan_s, 3),
                "plan_us_per_line": round(plan_s / n * 1e6, 1),
                "read_us_per_line": round(read_s / n * 1e6, 1),
            }
        path = Path(tmp) / "tts.yaml"
        path.write_text(script(50, seed=1), encoding="utf-8")
        scene = load_scenes(path)[0]
        tts_s = best_time(lambda: plan_scene(scene, CachedTiming(speech_timing)), repeat=1)
    result = {"machine": machine_info(), "rows": rows, "tts_ms_per_line": round(tts_s / 50 * 1e3, 1)}
    out = Path(__file__).parent / "results" / "script_scale.json"
    out.write_text(json.dumps(result, indent=1))
    json.dump(result, sys.stdout, indent=1)
    return result


if __name__ == "__main__":
    main()
