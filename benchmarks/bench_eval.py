"""Evaluation throughput and the CI bench table; writes benchmarks/results/eval.json.

Run: ``python benchmarks/bench_eval.py``. Baseline: a plain consecutive-frame difference over the same frames
(the cheapest possible per-frame pass), timed in the same process.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from common import best_time, cpu_model


def main() -> None:
    from talkgen.eval.bench import SUITES, markdown_table, run_bench
    from talkgen.eval.signals import sync_tracks
    from talkgen.eval.world import evaluate_world, flicker
    from talkgen.media.faces import FaceMeshTracker
    from talkgen.synth.world import make_scene, render_clip

    clip = render_clip(make_scene(103, 3, "continuous", num_lines=3), size=128)
    frames, truth = clip.frames.numpy(), clip.truth
    n = len(frames)
    t_world = best_time(lambda: evaluate_world(frames, truth))
    t_base = best_time(lambda: flicker(frames))
    rng = np.random.default_rng(0)
    x = rng.random(750)
    t_sync = best_time(lambda: sync_tracks(x, x, 25.0), repeat=5)
    face = np.repeat(np.ascontiguousarray(__import__("skimage.data").data.astronaut()[0:256, 96:352])[None], 50, 0)
    t_face = best_time(lambda: FaceMeshTracker().track(face), repeat=2)
    t0 = time.perf_counter()
    rows = run_bench(SUITES["ci"])
    t_bench = time.perf_counter() - t0
    result = {
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__},
        "world_eval_frames_per_s_3chars_128px": n / t_world,
        "baseline_frame_diff_frames_per_s_128px": n / t_base,
        "world_eval_cost_vs_baseline": t_world / t_base,
        "sync_tracks_30s_ms": 1000 * t_sync,
        "face_mesh_frames_per_s_256px": len(face) / t_face,
        "bench_ci_suite_seconds": t_bench,
        "bench_ci_table": markdown_table(rows),
    }
    out = Path(__file__).parent / "results" / "eval.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    for k, v in result.items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    main()
