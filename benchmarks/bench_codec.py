"""The tiny preset's latent space: reconstruction and speed of the patch codec against a trained Wan VAE.

Run: ``python benchmarks/bench_codec.py [--vae-checkpoint RUN/checkpoint-N]``; writes
``benchmarks/results/codec.json``.

- **Reconstruction** of held-out synthetic clips (128 px, whole performances up to 81 frames): PSNR over the frame
  and inside the mouth boxes, for the principal-component codec fitted on 64 clips with 32 / 64 / 96 / 128
  components, and (baseline, same run) for a small ``AutoencoderKLWan`` trained with ``configs/tiny-vae.yaml``
  (EMA weights of the given checkpoint; skipped when none is given).
- **Cost**: fitting seconds; encode + decode seconds per second of 128 px video for the codec and for the Wan VAE
  (same shapes, batch 1, oneDNN path).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from common import machine_info

COMPONENTS = (32, 64, 96, 128)
FIT_CLIPS = 64
HELD_OUT = 8


def _psnr(a: torch.Tensor, b: torch.Tensor, where: torch.Tensor | None = None) -> float:
    diff = (a.float() - b.float()).pow(2)
    if where is not None:
        diff = diff[where.expand_as(diff)]
    mse = float(diff.mean())
    return 10 * math.log10(4.0 / max(mse, 1e-12))


def _scores(model, clips) -> dict:
    from talkgen.models.cpu_conv import fast_cpu_conv3d
    from talkgen.models.latents import mouth_mask

    whole, mouth, seconds, video_s = [], [], 0.0, 0.0
    with torch.no_grad():
        for clip in clips:
            video = clip["video"][None]
            start = time.perf_counter()
            with fast_cpu_conv3d(torch.device("cpu")):
                recon = model.decode(model.encode(video).latent_dist.mode()).sample.clamp(-1, 1)
            seconds += time.perf_counter() - start
            video_s += video.shape[2] / 25.0
            mask = mouth_mask(clip["mouth_box"][None], video.shape[-2], video.shape[-1], 0.25) > 0
            whole.append(_psnr(recon, video))
            mouth.append(_psnr(recon, video, mask))
    return {
        "psnr_db": float(np.mean(whole)),
        "mouth_psnr_db": float(np.mean(mouth)),
        "codec_seconds_per_video_second": seconds / video_s,
    }


def main() -> None:
    from talkgen.models.patch_codec import PatchPCAAutoencoder
    from talkgen.training.codec import HELD_OUT_SEED
    from talkgen.training.config import TrainConfig
    from talkgen.training.latent_cache import render_full_clip

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vae-checkpoint", type=Path, default=None, help="a configs/tiny-vae.yaml checkpoint")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "codec.json")
    args = parser.parse_args()

    torch.set_num_threads(2)
    config = TrainConfig(latent_cache="unused", max_characters=3, latent_cache_max_frames=81)
    fit = [render_full_clip(config, i)["video"] for i in range(FIT_CLIPS)]
    held = [render_full_clip(config, HELD_OUT_SEED + k) for k in range(HELD_OUT)]
    rows = {}
    for k in COMPONENTS:
        codec = PatchPCAAutoencoder(z_dim=k)
        start = time.perf_counter()
        codec.fit(fit)
        rows[f"patch codec, {k} components"] = {**_scores(codec, held), "fit_seconds": time.perf_counter() - start}
        print(k, rows[f"patch codec, {k} components"])
    if args.vae_checkpoint is not None:
        from diffusers import AutoencoderKLWan
        from safetensors.torch import load_file

        train = TrainConfig.from_yaml(Path(__file__).parents[1] / "configs" / "tiny-vae.yaml")
        vae = AutoencoderKLWan(**{k: v for k, v in train.component_config("vae").items() if k != "kind"}).eval()
        names = [n for n, p in vae.named_parameters() if p.requires_grad]
        shadow = load_file(str(args.vae_checkpoint / "ema.safetensors"))
        state = {n: shadow[str(i)] for i, n in enumerate(names)}
        vae.load_state_dict(state, strict=False)
        step = json.loads((args.vae_checkpoint / "state.json").read_text())["step"]
        rows[f"AutoencoderKLWan trained {step} steps (baseline)"] = _scores(vae, held)
        print(rows[f"AutoencoderKLWan trained {step} steps (baseline)"])
    from talkgen.fs import finite_json, write_json

    result = {"machine": machine_info(), "fit_clips": FIT_CLIPS, "held_out_clips": HELD_OUT, "rows": rows}
    write_json(args.output, finite_json(result))
    print(args.output)


if __name__ == "__main__":
    main()
