"""Fitting the tiny preset's latent codec (:class:`~talkgen.models.patch_codec.PatchPCAAutoencoder`).

``talkgen train codec --config configs/tiny-codec.yaml`` renders ``codec_clips`` clips of the synthetic world
(whole performances up to ``latent_cache_max_frames`` frames, scene seeds ``data_seed + i``), fits the principal
components of their patches and the latent normalisation, scores the reconstruction on ``validation_samples``
held-out clips, and writes ``output_dir/final`` (``save_pretrained``) with ``output_dir/codec.json`` (the numbers).
It takes about a minute on the CPU; run it again to refit (the folder is replaced atomically).
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import torch

from talkgen.errors import ConfigError
from talkgen.training.config import TrainConfig

HELD_OUT_SEED = 2_000_000_000  # scene seeds of the held-out clips (beyond any training range)


def fit_codec(config: TrainConfig, progress: bool = False) -> Path:
    """Fit the codec of ``config``'s preset on rendered clips; returns ``output_dir/final``.

    Raises:
        ConfigError: the preset's autoencoder is not a fitted codec (``vae.kind`` must be ``patch_pca``).
    """
    from tqdm.auto import tqdm

    from talkgen.fs import write_json
    from talkgen.models.presets import build_vae
    from talkgen.training.latent_cache import render_full_clip

    vae_config = config.component_config("vae")
    if vae_config.get("kind") != "patch_pca":
        raise ConfigError(
            f"preset {config.preset!r} has a trained autoencoder (vae kind {vae_config.get('kind', 'wan')!r}); "
            "use `talkgen train vae`"
        )
    start = time.perf_counter()
    codec = build_vae(vae_config)
    clips = [
        render_full_clip(config, i)["video"]
        for i in tqdm(range(config.codec_clips), desc="render clips", disable=not progress)
    ]
    fitted = codec.fit(clips, stats_scale=config.codec_stats_scale)
    held_out = [render_full_clip(config, HELD_OUT_SEED - config.data_seed + k)["video"] for k in
                range(config.validation_samples)]  # fmt: skip
    with torch.no_grad():
        mse = sum(float((codec(v[None]).sample[0] - v).pow(2).mean()) for v in held_out) / len(held_out)
    out = Path(config.output_dir)
    final = out / "final"
    staging = out / "final.partial"
    shutil.rmtree(staging, ignore_errors=True)
    codec.save_pretrained(staging)
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    report = {
        "clips": config.codec_clips,
        "z_dim": codec.config.z_dim,
        "stats_scale": config.codec_stats_scale,
        "fit_psnr_db": fitted["psnr_db"],
        "explained_variance": fitted["explained"],
        "held_out_clips": len(held_out),
        "held_out_psnr_db": 10 * math.log10(4.0 / max(mse, 1e-12)),
        "seconds": time.perf_counter() - start,
    }
    write_json(out / "codec.json", report)
    return final
