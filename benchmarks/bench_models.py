"""Benchmark the talking-character transformer on CPU.

1. Forward time of the ``tiny`` preset at 128x128x25 frames (7x16x16 latents, the preset's text length, 1 and 2 audio
   streams), against diffusers' plain ``WanTransformer3DModel`` of the same shapes (no speech layers) in the same run.
2. Speech window attention (batched per latent frame) against the dense-masked attention baseline, same weights,
   at several clip sizes; records the max abs difference too.

Run: ``python benchmarks/bench_models.py`` -> ``benchmarks/results/models.json``.
"""

from __future__ import annotations

import json
import statistics
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from common import machine_info
from diffusers.models.transformers.transformer_wan import WanTransformer3DModel

from talkgen.models.attention import SpeechWindowAttnProcessor, speech_windows
from talkgen.models.flops import transformer_flops
from talkgen.models.presets import get_preset
from talkgen.models.transformer_talking import (
    WAN_CONFIG_KEYS,
    TalkingCharacterBlock,
    TalkingCharacterTransformer3DModel,
)

RESULTS = Path(__file__).parent / "results" / "models.json"


def timed(fn, repeat: int = 7, warmup: int = 2) -> float:
    """Median seconds of ``fn()`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@torch.no_grad()
def bench_forward() -> list[dict]:
    preset = get_preset("tiny")
    config = preset.config("transformer")
    torch.manual_seed(0)
    model = TalkingCharacterTransformer3DModel(**config).eval()
    wan = WanTransformer3DModel(**{k: config[k] for k in WAN_CONFIG_KEYS}).eval()
    video_frames = 25
    frames, height, width = preset.latent_shape(num_frames=video_frames)  # 25 frames, 128x128 -> (7, 16, 16)
    latents = torch.randn(1, config["in_channels"], frames, height, width)
    text = torch.randn(1, preset.text_len, config["text_dim"])
    timestep = torch.tensor([500.0])
    rows = []
    wan_s = timed(lambda: wan(latents, timestep, text))
    rows.append({"model": "diffusers WanTransformer3DModel (baseline)", "streams": 0, "seconds": wan_s})
    for streams in (1, 2):
        audio = torch.randn(1, streams, video_frames, config["audio_dim"])
        seconds = timed(lambda audio=audio: model(latents, timestep, text, audio_embeds=audio))
        flops = transformer_flops(config, frames, height, width, preset.text_len, streams).total
        rows.append(
            {
                "model": "talkgen tiny",
                "streams": streams,
                "seconds": seconds,
                "vs_wan": seconds / wan_s,
                "gflop": flops / 1e9,
                "gflop_per_s": flops / seconds / 1e9,
            }
        )
    params = sum(p.numel() for p in model.parameters())
    for row in rows:
        row.update({"video": f"128x128x{video_frames}", "latents": [frames, height, width], "params_m": params / 1e6})
    return rows


def dense_masked(attn, video: torch.Tensor, audio: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Baseline: every video token against every audio token with a dense (N, T*S) boolean mask."""
    q = attn.norm_q(attn.to_q(video)).unflatten(2, (attn.heads, -1)).transpose(1, 2)
    flat = audio.flatten(1, 2)
    k = attn.norm_k(attn.to_k(flat)).unflatten(2, (attn.heads, -1)).transpose(1, 2)
    v = attn.to_v(flat).unflatten(2, (attn.heads, -1)).transpose(1, 2)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return attn.to_out[0](out.transpose(1, 2).flatten(2))


@torch.no_grad()
def bench_window_attention() -> list[dict]:
    torch.manual_seed(0)
    dim, heads = 256, 4
    block = TalkingCharacterBlock(dim=dim, ffn_dim=4 * dim, num_heads=heads, with_audio=True)
    attn = block.audio_attn
    torch.nn.init.normal_(attn.to_out[0].weight, std=0.02)
    processor = SpeechWindowAttnProcessor()
    rows = []
    for video_frames, size, streams in ((25, 128, 1), (81, 128, 2), (81, 256, 2)):
        frames, per_frame = (video_frames - 1) // 4 + 1, (size // 16) ** 2
        tokens = frames * per_frame
        video = torch.randn(1, tokens, dim)
        audio = torch.randn(1, video_frames, streams, dim)
        windows = speech_windows(frames, video_frames, 4, 1)
        # Dense mask built from the windows (the cost of building it is not timed).
        dense = torch.zeros(frames, video_frames, streams, dtype=torch.bool)
        for i in range(frames):
            dense[i, windows.index[i][windows.mask[i]]] = True
        dense = dense.repeat_interleave(per_frame, dim=0).flatten(1)  # (N, T*S)
        run_window = partial(processor, attn, video, audio, windows=windows)
        run_dense = partial(dense_masked, attn, video, audio, dense)
        window_s, dense_s = timed(run_window), timed(run_dense)
        diff = (run_window() - run_dense()).abs().max()
        rows.append(
            {
                "video": f"{size}x{size}x{video_frames}",
                "tokens": tokens,
                "streams": streams,
                "window_ms": window_s * 1e3,
                "dense_masked_ms": dense_s * 1e3,
                "speedup": dense_s / window_s,
                "max_abs_diff": diff.item(),
            }
        )
    return rows


def main() -> None:
    record = {"machine": machine_info(), "forward": bench_forward(), "window_attention": bench_window_attention()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    for row in record["forward"]:
        print(json.dumps(row))  # noqa: T201 - benchmark script output
    for row in record["window_attention"]:
        print(json.dumps(row))  # noqa: T201
    print(f"wrote {RESULTS}")  # noqa: T201


if __name__ == "__main__":
    main()
