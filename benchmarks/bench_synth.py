"""Rendering throughput of the synthetic world at 128x128 (frames/s), renderer only (speech excluded).

Measures ``render_performance`` on pre-computed performances of 1-3 character scenes, with 2 torch threads on CPU
(and on CUDA when available, rendering a batch of clips one after another on the device). The baseline is the same
renderer drawing one frame at a time (T = 1 per call), which shows what batching over frames buys.
Writes benchmarks/results/synth.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from common import cpu_model

from talkgen.synth.world import make_scene, perform, render_performance, speak_lines


def _jobs(n: int, frames: int):
    out = []
    for seed in range(n):
        scene = make_scene(seed)
        out.append((scene, perform(scene, speak_lines(scene), 25.0, frames)))
    return out


def _throughput(jobs, device: str, size: int = 128, repeats: int = 2) -> float:
    render_performance(*jobs[0], size, device)
    best = 0.0
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        n = 0
        for scene, perf in jobs:
            clip = render_performance(scene, perf, size, device)
            n += clip.frames.shape[0]
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = max(best, n / (time.perf_counter() - t0))
    return best


def _per_frame_baseline(jobs, size: int = 128, frames: int = 25) -> float:
    from dataclasses import replace

    t0 = time.perf_counter()
    n = 0
    for scene, perf in jobs[:4]:
        for t in range(frames):
            one = replace(
                perf,
                num_frames=1,
                mouth=perf.mouth[:, t : t + 1],
                viseme=perf.viseme[:, t : t + 1],
                speaking=perf.speaking[:, t : t + 1],
                sway=perf.sway[:, t : t + 1],
                eye_open=perf.eye_open[:, t : t + 1],
                gaze=perf.gaze[:, t : t + 1],
                brow_raise=perf.brow_raise[:, t : t + 1],
                shots=[replace(s, start_frame=0, end_frame=1) for s in perf.shots[:1]],
            )
            render_performance(scene, one, size, "cpu")
            n += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    torch.set_num_threads(2)
    frames = 100
    jobs = _jobs(16, frames)
    results = {
        "machine": {
            "cpu": cpu_model(),
            "cores": torch.get_num_threads(),
            "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        "size": 128,
        "frames_per_clip": frames,
        "clips": len(jobs),
        "cpu_2_threads_fps": round(_throughput(jobs, "cpu"), 1),
        "baseline_cpu_per_frame_calls_fps": round(_per_frame_baseline(jobs), 1),
        "target_cpu_fps": 500,
    }
    if torch.cuda.is_available():
        results["cuda_fps"] = round(_throughput(_jobs(64, 250), "cuda"), 1)
        results["target_cuda_fps"] = 20_000
    out = Path(__file__).parent / "results" / "synth.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
