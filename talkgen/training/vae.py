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

from talkgen.errors import ConfigError
from talkgen.models.latents import mouth_mask
from talkgen.training.config import TrainConfig
from talkgen.training.loop import TrainingTask
from talkgen.training.weighting import weighted_mse


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
        vae_config = config.component_config("vae")
        if vae_config.pop("kind", "wan") != "wan":
            raise ConfigError(
                f"preset {config.preset!r} uses a fitted codec, not a trained VAE: use `talkgen train codec`"
            )
        self.module = VAETrainModule(AutoencoderKLWan(**vae_config))
        cfg = self.module.vae.config
        self.latent_channels = cfg.z_dim
        self.scale_temporal = 2 ** sum(cfg.temperal_downsample)
        self.scale_spatial = 2 ** (len(cfg.dim_mult) - 1)

    def loss_weight(self, batch: dict[str, Any], shape: torch.Size) -> torch.Tensor | None:
        """(B, 1, T, H, W) pixel weights on the mouth boxes (``mouth_weight``), or None for plain MSE."""
        if self.config.mouth_weight <= 0 or batch.get("mouth_box") is None:
            return None
        mask = mouth_mask(batch["mouth_box"], shape[-2], shape[-1], self.config.mouth_margin)
        return 1.0 + self.config.mouth_weight * mask

    def crop(
        self,
        video: torch.Tensor,
        weight: torch.Tensor | None,
        mouth_box: torch.Tensor | None,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Random ``crop_size`` square windows of (B, 3, T, H, W) clips (and their weights), the same for all frames.

        Half of the windows (when the batch has mouth boxes) are centred near a visible mouth, so the small lips are
        seen often; the rest are uniform. The VAE is fully convolutional, so it trains on crops and runs on frames.
        """
        size = self.config.crop_size
        b, _, t, h, w = video.shape
        if size is None or size >= min(h, w):
            return video, weight
        step = self.scale_spatial
        video_out, weight_out = [], []
        for i in range(b):
            x0 = int(torch.randint(0, w - size + 1, (1,), generator=generator))
            y0 = int(torch.randint(0, h - size + 1, (1,), generator=generator))
            near_mouth = bool(torch.rand(1, generator=generator) < 0.5)
            if near_mouth and mouth_box is not None:
                boxes = mouth_box[i].reshape(-1, 4)
                boxes = boxes[torch.isfinite(boxes).all(-1)]
                if len(boxes):
                    box = boxes[int(torch.randint(0, len(boxes), (1,), generator=generator))]
                    jitter = (torch.rand(2, generator=generator) - 0.5) * (size / 2)
                    x0 = int(min(max((box[0] + box[2]) / 2 - size / 2 + jitter[0], 0), w - size))
                    y0 = int(min(max((box[1] + box[3]) / 2 - size / 2 + jitter[1], 0), h - size))
            x0, y0 = x0 // step * step, y0 // step * step
            video_out.append(video[i, :, :, y0 : y0 + size, x0 : x0 + size])
            if weight is not None:
                weight_out.append(weight[i, :, :, y0 : y0 + size, x0 : x0 + size])
        return torch.stack(video_out), (torch.stack(weight_out) if weight is not None else None)

    def loss(self, module, batch: dict[str, Any], generator: torch.Generator):
        video = batch["video"]
        weight = self.loss_weight(batch, video.shape)
        video, weight = self.crop(video, weight, batch.get("mouth_box"), generator)
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
        rec = weighted_mse(recon, video.to(device), weight)
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
        """Save the VAE with per-channel latent statistics fitted on held-out clips (the DiT's normalisation)."""
        from talkgen.training.validation import validation_batch

        clips = validation_batch(self.config.replace(validation_samples=LATENT_STAT_CLIPS))["video"]
        fit_latent_statistics(module.vae, clips)
        module.vae.save_pretrained(directory)


LATENT_STAT_CLIPS = 16


@torch.no_grad()
def fit_latent_statistics(vae: nn.Module, video: torch.Tensor) -> tuple[list[float], list[float]]:
    """Set ``latents_mean`` / ``latents_std`` of ``vae``'s config to the per-channel statistics of the posterior
    means of ``video`` (B, 3, T, H, W) in [-1, 1], so normalised latents have zero mean and unit variance.

    Returns the (mean, std) lists.
    """
    was_training = vae.training
    vae.eval()
    device = next(vae.parameters()).device
    z = torch.cat([vae.encode(clip[None].to(device)).latent_dist.mean.float() for clip in video])
    vae.train(was_training)
    mean = z.mean(dim=(0, 2, 3, 4))
    std = z.std(dim=(0, 2, 3, 4)).clamp(min=1e-4)
    vae.register_to_config(latents_mean=mean.tolist(), latents_std=std.tolist())
    return mean.tolist(), std.tolist()
