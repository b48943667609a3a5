"""Benchmark: training throughput of the talkgen-tiny DiT and VAE, the data sources, and transformer MFU.

1. Trainer steps (DiT, VAE) on synthetic clips. Baseline in the same run: the forward-only loss of the same batch
   (no backward, no optimiser), so the ratio (train step / forward) is comparable across machines. Reports clips/s,
   video tokens/s and the transformer's achieved FLOP/s (3x the counted forward FLOPs per step).
2. Data: one batch read from written shards (``talkgen synth dataset``) vs rendered on the fly.
3. Transformer-only training step (random weights, AdamW, bf16 autocast on CUDA) of ``--presets`` at
   ``--mfu-size``: FLOP/s and, on CUDA, MFU against ``--peak-tflops`` (989 = H100/H200 dense bf16).
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
    out = {
        "render_batch_s": round(render_s, 3),
        "forward_loss_s": round(min(forward), 3),
        "train_step_s": round(min(step), 3),
        "step_over_forward": round(min(step) / min(forward), 2),
        "clips_per_s": round(config.batch_size / min(step), 3),
    }
    if config.task == "dit":
        shape = _latent_shape(config)
        tokens = config.batch_size * shape[0] * (shape[1] // 2) * (shape[2] // 2)
        flops = 3 * _forward_flops(config.component_config("transformer"), shape, config)
        out["tokens_per_s"] = round(tokens / min(step), 1)
        out["transformer_gflops_per_s"] = round(flops / min(step) / 1e9, 2)
    return out


def _shipped_parts(config: TrainConfig) -> dict:
    """``vae_path`` / ``audio_encoder_path`` of the recipe where they exist, else the shipped model's (same shapes:
    a throughput benchmark needs the parts, not the stage that trained them)."""
    shipped = Path(__file__).parents[1] / "models" / "talkgen-tiny"
    parts = {}
    for key, folder in (("vae_path", "vae"), ("audio_encoder_path", "audio_encoder")):
        named = getattr(config, key)
        if named is not None and not Path(named).is_dir():
            parts[key] = str(shipped / folder)
    return parts


def _latent_shape(config: TrainConfig) -> tuple[int, int, int]:
    return (config.num_frames - 1) // 4 + 1, config.size // 8, config.size // 8


def _forward_flops(transformer: dict, shape: tuple[int, int, int], config: TrainConfig) -> int:
    from talkgen.models.flops import transformer_flops

    count = transformer_flops(
        transformer, *shape, text_len=config.text_len, num_streams=config.max_characters,
        batch_size=config.batch_size, with_conditions=True,
    )  # fmt: skip
    return count.total


def _bench_data(config: TrainConfig, tmp: str, repeat: int) -> dict:
    """Seconds per batch: decoded from written shards vs rendered by the synthetic world (same clips)."""
    from talkgen.synth.dataset import SynthConfig, write_dataset
    from talkgen.training.data import shard_batches

    synth = SynthConfig(size=config.size, fps=config.fps, num_frames=config.num_frames,
                        max_characters=config.max_characters, edit_pairs=config.edit_share > 0)  # fmt: skip
    write_dataset(f"{tmp}/shards", config.batch_size * repeat, synth, seed=config.data_seed)
    shard_config = config.replace(data_dir=f"{tmp}/shards")
    timings = {}
    for name, batches in (("rendered", synthetic_batches(config, 0)), ("shards", shard_batches(shard_config, 0))):
        seconds = []
        for _ in range(repeat):
            started = time.perf_counter()
            next(batches)
            seconds.append(time.perf_counter() - started)
        timings[f"{name}_batch_s"] = round(min(seconds), 4)
    timings["rendered_over_shards"] = round(timings["rendered_batch_s"] / timings["shards_batch_s"], 2)
    return timings


def _bench_transformer(preset: str, size: int, num_frames: int, batch_size: int, repeat: int, peak: float) -> dict:
    """Model-only training step of a preset with random weights (the cost of trained weights is the same)."""
    from talkgen.models.presets import build_transformer, get_preset

    device = "cuda" if torch.cuda.is_available() else "cpu"
    spec = get_preset(preset)
    shape = spec.latent_shape(num_frames, size, size)
    tcfg = spec.config("transformer")
    torch.manual_seed(0)
    model = build_transformer(spec).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=device == "cuda")
    streams = 3
    latents = torch.randn(batch_size, tcfg["in_channels"], *shape, device=device)
    text = torch.randn(batch_size, spec.text_len, tcfg["text_dim"], device=device)
    audio = torch.randn(batch_size, streams, num_frames, tcfg["audio_dim"], device=device)
    reference = latents[:, :, :1]
    timestep = torch.full((batch_size,), 500.0, device=device)
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda")

    def step() -> None:
        with autocast:
            out = model(latents, timestep, text, audio_embeds=audio, reference_latents=reference, return_dict=False)[0]
        out.float().square().mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm up (allocations, kernels)
    seconds = []
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        step()
        if device == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    from talkgen.models.flops import transformer_flops

    flops = 3 * transformer_flops(tcfg, *shape, text_len=spec.text_len, num_streams=streams,
                                  batch_size=batch_size, with_conditions=True).total  # fmt: skip
    best = min(seconds)
    out = {
        "device": device,
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "shape": [batch_size, num_frames, size, size],
        "step_s": round(best, 4),
        "tflops_per_s": round(flops / best / 1e12, 4),
    }
    if device == "cuda":
        out.update(mfu=round(flops / best / (peak * 1e12), 4), peak_tflops=peak, gpu=torch.cuda.get_device_name())
        out["max_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return out


def main(
    size: int = 64,
    num_frames: int = 9,
    batch_size: int = 1,
    repeat: int = 3,
    out: Path | None = None,
    presets: tuple[str, ...] = ("tiny",),
    mfu_size: int = 128,
    mfu_frames: int = 25,
    peak_tflops: float = 989.0,
) -> dict:
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
                checkpoint_every=0, log_every=1000, validate_every=0, tensorboard=False,
            )  # fmt: skip
            if task == "dit":  # the recipe's earlier stages live in run folders: time the step on the shipped parts
                config = config.replace(latent_cache=None, **_shipped_parts(config))
            result[task] = _bench(config, repeat)
            if task == "dit":
                result["data"] = _bench_data(config, tmp, repeat)
    result["transformer_step"] = {
        preset: _bench_transformer(preset, mfu_size, mfu_frames, batch_size, repeat, peak_tflops) for preset in presets
    }
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
    parser.add_argument("--presets", nargs="+", default=["tiny"], help="transformer-step presets (wan-1.3b: GPU)")
    parser.add_argument("--mfu-size", type=int, default=128, help="square frame size of the transformer step")
    parser.add_argument("--mfu-frames", type=int, default=25, help="frames of the transformer step")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="the accelerator's dense bf16 peak")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    result = main(args.size, args.frames, args.batch_size, args.repeat, args.out, tuple(args.presets),
                  args.mfu_size, args.mfu_frames, args.peak_tflops)  # fmt: skip
    logging.getLogger(__name__).info(json.dumps(result, indent=1))
