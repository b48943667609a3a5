"""Benchmark: CPU VAE decode / encode of one second of video, plain vs batch-1 Conv3d through oneDNN.

The tiny preset's ``AutoencoderKLWan`` (random weights: timing only) decodes (1, 16, 7, h, w) latents = 25 frames =
1 s at 25 fps, and encodes the 25 frames back, at 128 and 256 px, in three ways measured in the same run and
interleaved (the machine is shared): plain (ATen's dispatch: batch-1 Conv3d on few frames runs the native
slow_conv3d kernel), ``talkgen.models.cpu_conv.fast_cpu_conv3d`` (those calls through ``torch.mkldnn_convolution``)
and the batch padded to 2 and sliced (ATen then picks oneDNN by itself, at twice the work). Each row also gives the
largest absolute difference from the plain output. Writes benchmarks/results/vae.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from common import best_time, machine_info
from diffusers import AutoencoderKLWan

from talkgen.models.cpu_conv import fast_cpu_conv3d

FPS = 25.0
FRAMES = 25  # 1 s at 25 fps = 7 latent frames


def _ways(vae: AutoencoderKLWan, op: str, x: torch.Tensor) -> dict:
    """Callables computing ``op`` on ``x`` (batch 1) in the three ways; each returns the batch-1 output."""

    def run(inputs: torch.Tensor) -> torch.Tensor:
        if op == "decode":
            return vae.decode(inputs, return_dict=False)[0]
        return vae.encode(inputs).latent_dist.mode()

    def onednn() -> torch.Tensor:
        with fast_cpu_conv3d():
            return run(x)

    return {
        "plain": lambda: run(x),
        "onednn": onednn,
        "batch2": lambda: run(torch.cat([x, torch.zeros_like(x)]))[:1],
    }


def main(sizes: tuple[int, ...] = (128, 256), rounds: int = 3) -> dict:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    torch.manual_seed(0)
    # the small Wan VAE of configs/tiny-vae.yaml (the tiny preset itself uses the patch codec: bench_codec.py)
    from talkgen.training.config import TrainConfig

    shapes = TrainConfig.from_yaml(Path(__file__).parents[1] / "configs" / "tiny-vae.yaml").component_config("vae")
    vae = AutoencoderKLWan(**{k: v for k, v in shapes.items() if k != "kind"}).eval()
    rows = []
    for size in sizes:
        gen = torch.Generator().manual_seed(size)
        inputs = {
            "decode": torch.randn(1, 16, (FRAMES - 1) // 4 + 1, size // 8, size // 8, generator=gen),
            "encode": torch.rand(1, 3, FRAMES, size, size, generator=gen) * 2 - 1,
        }
        for op, x in inputs.items():
            ways = _ways(vae, op, x)
            with torch.no_grad():
                outputs = {name: fn() for name, fn in ways.items()}  # warm-up, and the outputs compared
                times = {name: [] for name in ways}
                for _ in range(rounds):  # interleaved, so load from other processes hits every way alike
                    for name, fn in ways.items():
                        times[name].append(best_time(fn, repeat=1))
            best = {name: min(t) for name, t in times.items()}
            seconds = FRAMES / FPS
            rows.append({
                "op": op,
                "size": size,
                "s_per_video_s": {name: round(t / seconds, 3) for name, t in best.items()},
                "speedup_onednn": round(best["plain"] / best["onednn"], 2),
                "speedup_batch2": round(best["plain"] / best["batch2"], 2),
                "max_abs_diff": {
                    name: float((outputs[name] - outputs["plain"]).abs().max()) for name in ("onednn", "batch2")
                },
                "output_abs_max": float(outputs["plain"].abs().max()),
                "all_times_s": {name: [round(v, 3) for v in t] for name, t in times.items()},
            })  # fmt: skip
    result = {
        "machine": machine_info(),
        "config": {"preset": "tiny", "frames": FRAMES, "fps": FPS, "rounds": rounds, "sizes": list(sizes),
                   "weights": "random (seed 0)"},
        "rows": rows,
    }  # fmt: skip
    out = Path(__file__).parent / "results" / "vae.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    import logging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    logging.getLogger(__name__).info(json.dumps(main(tuple(args.sizes), args.rounds), indent=1))
