"""Benchmark the script front end: parse + plan + compile for the sample scenes.

Baseline (same run): ``yaml.load(..., CSafeLoader)`` of the same YAML files
(what a parser that does no validation would cost).
Writes ``benchmarks/results/prompts.json``. Run: ``python benchmarks/bench_prompts.py``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch
import yaml
from common import cpu_model

from talkgen.prompts import CachedTiming, estimate_timing, load_scenes, plan_scene, speech_timing

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "samples" / "scenes").glob("*.*"))
logger = logging.getLogger("bench_prompts")


def _per_call_ms(fn, repeat: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1000


def main() -> dict:
    repeat = 50
    yamls = [p for p in SAMPLES if p.suffix == ".yaml"]
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    baseline = _per_call_ms(lambda: [yaml.load(p.read_text(encoding="utf-8"), Loader=loader) for p in yamls], repeat)
    parse = _per_call_ms(lambda: [load_scenes(p) for p in yamls], repeat)
    scenes = [s for p in SAMPLES for s in load_scenes(p)]
    plan_est = _per_call_ms(lambda: [plan_scene(s, estimate_timing) for s in scenes], repeat) / len(scenes)
    start = time.perf_counter()
    speech_seconds = 0.0
    for s in scenes:
        plan = plan_scene(s, CachedTiming(speech_timing))
        speech_seconds += plan.duration
    tts_plan = (time.perf_counter() - start) * 1000 / len(scenes)
    result = {
        "machine": {"cpu": cpu_model(), "cores": torch.get_num_threads(), "torch": torch.__version__},
        "scenes": len(scenes),
        "baseline_yaml_csafe_load_ms_per_file": round(baseline / len(yamls), 3),
        "load_and_validate_ms_per_file": round(parse / len(yamls), 3),
        "plan_estimate_ms_per_scene": round(plan_est, 3),
        "plan_with_tts_ms_per_scene": round(tts_plan, 1),
        "tts_plan_ms_per_second_of_scene": round(tts_plan * len(scenes) / speech_seconds, 1),
    }
    out = ROOT / "benchmarks" / "results" / "prompts.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    logger.warning("wrote %s: %s", out, json.dumps(result))
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
