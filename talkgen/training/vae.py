"""VAE training: diffusers ``AutoencoderKLWan`` on synthetic clips, reconstruction MSE + weighted KL.

The KL term is the per-element mean of ``0.5 (mu^2 + var - 1 - log var)`` so ``kl_weight`` does not depend on
the clip size; the posterior sample uses the loop generator (exact resume).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from talkgen.training.config import TrainConfig
from talkgen.training.loop import TrainingTask


class VAETrainModule(nn.Module):
    """Wraps the VAE so one forward gives reconstruction and posterior statistics."""

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, video: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, 3, T, H, W) video, noise shaped like the latents -> (reconstruction, mean, logvar)."""
        posterior = self.vae.encode(video).latent_dist
        z = posterior.mean + posterior.std * noise.to(posterior.mean.dtype)
        return self.vae.decode(z).sample, posterior.mean, posterior.logvar


def kl_divergence(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Per-element mean KL(N(mean, exp(logvar)) || N(0, 1))."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).mean()


class VAETask(TrainingTask):
    """Reconstruction + KL task over the preset's (or overridden) VAE shapes."""

    name = "vae"

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        from diffusers import AutoencoderKLWan

        torch.manual_seed(config.seed)
        self.module = VAETrainModule(AutoencoderKLWan(**config.component_config("vae")))
        cfg = self.module.vae.config
        self.latent_channels = cfg.z_dim
        self.scale_temporal = 2 ** sum(cfg.temperal_downsample)
        self.scale_spatial = 2 ** (len(cfg.dim_mult) - 1)

    def loss(self, module, batch: dict[str, Any], generator: torch.Generator):
        video = batch["video"]
        b, _, t, h, w = video.shape
        latent_shape = (
            b,
            self.latent_channels,
            (t - 1) // self.scale_temporal + 1,
            h // self.scale_spatial,
            w // self.scale_spatial,
        )
        noise = torch.randn(latent_shape, generator=generator)
        device = next(module.parameters()).device
        recon, mean, logvar = module(video.to(device), noise.to(device))
        rec = F.mse_loss(recon.float(), video.to(device).float())
        kl = kl_divergence(mean.float(), logvar.float())
        return rec + self.config.kl_weight * kl, {"reconstruction": rec.item(), "kl": kl.item()}

    @torch.no_grad()
    def validate(self, module, batch: dict[str, Any], clip_path: Path | None) -> dict[str, float]:
        """Reconstruction MSE of the posterior mean; the clip shows the first reconstruction beside the original."""
        device = next(module.parameters()).device
        video = batch["video"].to(device)
        recon = module.vae.decode(module.vae.encode(video).latent_dist.mean).sample
        numbers = {"val_reconstruction": F.mse_loss(recon.float(), video.float()).item()}
        if clip_path is not None:
            from talkgen.training.validation import side_by_side, write_validation_clip

            first = ((recon[0].float().clamp(-1, 1) + 1) / 2).permute(1, 2, 3, 0).cpu().numpy()
            frames = side_by_side(first, batch["video"][0])
            write_validation_clip(clip_path, frames, self.config.fps, batch["audio_streams"][0])
        return numbers

    def export(self, module: nn.Module, directory: Path) -> None:
        module.vae.save_pretrained(directory)
