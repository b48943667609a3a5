"""Normalisation of VAE latents with the ``latents_mean`` / ``latents_std`` of an ``AutoencoderKLWan`` config.

The transformer always sees normalised latents; training, generation and editing share these two functions.
"""

from __future__ import annotations

import torch


def _stats(vae, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    shape = (1, vae.config.z_dim, 1, 1, 1)
    mean = torch.tensor(vae.config.latents_mean).view(shape).to(like.device, like.dtype)
    std = torch.tensor(vae.config.latents_std).view(shape).to(like.device, like.dtype)
    return mean, std


def normalize_latents(vae, latents: torch.Tensor) -> torch.Tensor:
    """Raw VAE latents (B, C, F, h, w) -> normalised latents (same shape)."""
    mean, std = _stats(vae, latents)
    return (latents - mean) / std


def denormalize_latents(vae, latents: torch.Tensor) -> torch.Tensor:
    """Normalised latents (B, C, F, h, w) -> raw VAE latents for ``vae.decode`` (same shape)."""
    mean, std = _stats(vae, latents)
    return latents * std + mean
