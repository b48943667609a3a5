"""Normalisation of VAE latents with the ``latents_mean`` / ``latents_std`` of an ``AutoencoderKLWan`` config.

The transformer always sees normalised latents; training, generation and editing share these two functions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


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


def mouth_mask(mouth_box: torch.Tensor, height: int, width: int, margin: float = 0.5) -> torch.Tensor:
    """(B, C, T, 4) pixel boxes ``[x0, y0, x1, y1]`` (NaN rows: off-screen) -> (B, 1, T, H, W) float mask in {0, 1}.

    Each box is widened by ``margin`` times its width/height on every side (lips move past their rest box).
    """
    boxes = mouth_box.float()
    b, c, t, _ = boxes.shape
    valid = torch.isfinite(boxes).all(-1)  # (B, C, T)
    boxes = torch.nan_to_num(boxes, nan=-1.0)
    w = (boxes[..., 2] - boxes[..., 0]).clamp(min=1.0)
    h = (boxes[..., 3] - boxes[..., 1]).clamp(min=1.0)
    x0, x1 = boxes[..., 0] - margin * w, boxes[..., 2] + margin * w
    y0, y1 = boxes[..., 1] - margin * h, boxes[..., 3] + margin * h
    xs = torch.arange(width, dtype=torch.float32, device=boxes.device) + 0.5
    ys = torch.arange(height, dtype=torch.float32, device=boxes.device) + 0.5
    in_x = (xs >= x0[..., None]) & (xs <= x1[..., None])  # (B, C, T, W)
    in_y = (ys >= y0[..., None]) & (ys <= y1[..., None])  # (B, C, T, H)
    inside = in_y[..., :, None] & in_x[..., None, :] & valid[..., None, None]  # (B, C, T, H, W)
    return inside.any(dim=1, keepdim=True).float()


def latent_mouth_mask(mask: torch.Tensor, temporal: int, spatial: int) -> torch.Tensor:
    """(B, 1, T, H, W) pixel mask -> (B, 1, F, H/s, W/s) with the causal VAE's frame grouping.

    Latent frame 0 covers video frame 0; latent frame i >= 1 covers frames ``1 + r (i - 1) .. r i``.
    """
    b, _, t, h, w = mask.shape
    pooled = F.max_pool2d(mask.reshape(b * t, 1, h, w), spatial).reshape(b, 1, t, h // spatial, w // spatial)
    frames = [pooled[:, :, :1]]
    for i in range(1, (t - 1) // temporal + 1):
        frames.append(pooled[:, :, 1 + temporal * (i - 1) : 1 + temporal * i].amax(dim=2, keepdim=True))
    return torch.cat(frames, dim=2)
