"""Benchmark: talking-character generation on CPU, in seconds of compute per second of video.

Random ``tiny``-preset weights (timing only), 128x128 at 25 fps, one 25-frame window per second of video.
Baseline in the same run: the same call without guidance (one pass per step) against the default
multi-condition CFG (three passes batched into one forward per step), and the step-level cost of the three
passes run batched against one forward each.
Writes benchmarks/results/generate.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from talkgen.pipelines.guidance import GuidanceConfig
from talkgen.pipelines.pipeline_talking import build_tiny_pipeline


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(seconds: float = 1.0, steps: int = 4, size: int = 128, fps: float = 25.0) -> dict:
    pipe = build_tiny_pipeline(seed=0)
    pipe.set_progress_bar_config(disable=True)
    num_frames = 4 * round(seconds * fps / 4) + 1
    audio = (np.random.default_rng(0).standard_normal((1, int(16_000 * (seconds + 0.2)))) * 0.1).astype(np.float32)
    call = dict(num_frames=num_frames, height=size, width=size, fps=fps, num_inference_steps=steps)

    def run(guidance: GuidanceConfig) -> None:
        pipe("a person talks", audio, guidance=guidance, generator=torch.Generator().manual_seed(0), **call)

    run(GuidanceConfig.constant(1.0, 1.0))  # warm up
    video_s = num_frames / fps
    cfg_wall = _timed(lambda: run(GuidanceConfig.constant(5.0, 4.0)))
    plain_wall = _timed(lambda: run(GuidanceConfig.constant(1.0, 1.0)))

    latents = torch.randn(1, 16, (num_frames - 1) // 4 + 1, size // 8, size // 8)
    text = pipe.encode_text(["a person talks"], torch.device("cpu"))
    empty = pipe.encode_text([""], torch.device("cpu"))
    feats = pipe.audio_encoder(torch.as_tensor(audio)[None], fps, num_frames)
    t = torch.tensor([500.0])
    with torch.no_grad():
        step = {
            batched: min(
                _timed(lambda b=batched: pipe.guided_velocity(latents, t, 5.0, 4.0, text, empty, feats, {}, batched=b))
                for _ in range(3)
            )
            for batched in (True, False)
        }
    result = {
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                    "python": platform.python_version(), "torch": torch.__version__},
        "config": {"preset": "tiny", "size": size, "fps": fps, "frames": num_frames, "steps": steps},
        "cfg_compute_s_per_video_s": round(cfg_wall / video_s, 2),
        "no_guidance_compute_s_per_video_s": round(plain_wall / video_s, 2),
        "cfg_over_no_guidance": round(cfg_wall / plain_wall, 2),
        "step_batched_s": round(step[True], 4),
        "step_unbatched_s": round(step[False], 4),
        "batched_speedup": round(step[False] / step[True], 2),
        "target": "<= 2 s of compute per second of video (CPU, 2 cores, 128x128 @ 25 fps)",
    }  # fmt: skip
    out = Path(__file__).parent / "results" / "generate.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    import logging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    logging.getLogger(__name__).info(json.dumps(main(args.seconds, args.steps, args.size), indent=1))
