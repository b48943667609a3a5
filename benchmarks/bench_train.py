"""Benchmark: training-step cost of the talkgen-tiny DiT and VAE on synthetic clips.

Baseline in the same run: the forward-only loss of the same batch (no backward, no optimiser), so the reported
ratio (train step / forward) is comparable across machines. Data rendering is timed separately.
Writes benchmarks/results/train.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from common import machine_info

from talkgen.training import TrainConfig, build_trainer
from talkgen.training.data import synthetic_batches


def _bench(config: TrainConfig, repeat: int) -> dict:
    trainer = build_trainer(config)
    started = time.perf_counter()
    batch = next(synthetic_batches(config, 0))
    render_s = time.perf_counter() - started
    trainer.train_step(batch)  # warm up
    forward, step = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        with torch.no_grad():
            trainer.task.loss(trainer.module, batch, trainer.generator)
        forward.append(time.perf_counter() - started)
        started = time.perf_counter()
        trainer.train_step(batch)
        step.append(time.perf_counter() - started)
    return {
        "render_batch_s": round(render_s, 3),
        "forward_loss_s": round(min(forward), 3),
        "train_step_s": round(min(step), 3),
        "step_over_forward": round(min(step) / min(forward), 2),
        "clips_per_s": round(config.batch_size / min(step), 3),
    }


def main(size: int = 64, num_frames: int = 9, batch_size: int = 1, repeat: int = 3, out: Path | None = None) -> dict:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    result: dict = {"machine": machine_info(), "device": device, "size": size, "num_frames": num_frames,
                    "batch_size": batch_size}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for task in ("dit", "vae"):
            config = TrainConfig.from_yaml(
                Path(__file__).parents[1] / "configs" / f"{'tiny' if task == 'dit' else 'tiny-vae'}.yaml"
            )
            config = config.replace(
                size=size, num_frames=num_frames, batch_size=batch_size, steps=repeat + 1, output_dir=f"{tmp}/{task}",
                checkpoint_every=0, log_every=1000,
            )  # fmt: skip
            result[task] = _bench(config, repeat)
    out = out or Path(__file__).parent / "results" / "train.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    import logging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=9)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    logging.getLogger(__name__).info(
        json.dumps(main(args.size, args.frames, args.batch_size, args.repeat, args.out), indent=1)
    )
