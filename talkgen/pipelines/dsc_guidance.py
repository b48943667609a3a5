"""Guidance for mask-free lip-sync editing (OmniSync): DS-CFG and progressive noise initialisation.

Dynamic spatio-temporal CFG (DS-CFG) guides only the audio term, strongest at the mouth and early in sampling::

    v = v(src, no audio) + w(t) G(x, y) [v(src, audio) - v(src, no audio)]

- spatial map ``G(x, y) = b + (1 - b) exp(-d^2 / (2 sigma_px^2))``, ``d`` the distance to the mouth centre and
  ``b = w_base / w_peak`` (the map is normalised so that ``w_peak`` is not counted twice): ``w(t) G`` is ``w_peak``
  at the mouth centre and ``w_base`` far from it (at the first step); with several mouths the maps are combined by
  their maximum; a frame without a mouth gets ``b`` everywhere.
- temporal weight ``w(t) = w_peak (t / T) ^ gamma`` (gamma = 1.5): ``t / T`` is the scheduler's sigma, so guidance
  is strong while the mouth shape forms and fades as details are refined.

Progressive noise initialisation starts from the source instead of pure noise: ``x = (1 - tau) z_src + tau eps``
and the scheduler's sigmas start at ``tau`` (:func:`edit_sigmas`); ``tau = 0`` keeps the source latents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from talkgen.errors import ConfigError


@dataclass(frozen=True)
class DSCFGConfig:
    """Run-time DS-CFG settings.

    Attributes:
        w_peak: audio guidance scale at the mouth centre at ``t = T``.
        w_base: audio guidance scale far from the mouth at ``t = T`` (``<= w_peak``).
        gamma: exponent of the temporal decay ``(t / T) ^ gamma``.
        sigma_px: Gaussian radius in pixels of the source video; None = ``sigma_scale`` x the mouth box width.
        sigma_scale: radius relative to the mouth width when ``sigma_px`` is None.
    """

    w_peak: float = 4.0
    w_base: float = 1.0
    gamma: float = 1.5
    sigma_px: float | None = None
    sigma_scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("w_peak", "w_base", "gamma", "sigma_scale"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise ConfigError(f"DS-CFG {name} must be a finite number, got {value!r}")
        if self.w_peak <= 0 or self.w_base < 0 or self.w_base > self.w_peak:
            raise ConfigError(f"DS-CFG needs 0 <= w_base <= w_peak and w_peak > 0, got {self.w_base}, {self.w_peak}")
        if self.gamma < 0 or self.sigma_scale <= 0:
            raise ConfigError("DS-CFG gamma must be >= 0 and sigma_scale > 0")
        if self.sigma_px is not None and not (math.isfinite(self.sigma_px) and self.sigma_px > 0):
            raise ConfigError(f"DS-CFG sigma_px must be positive, got {self.sigma_px}")

    @property
    def base_ratio(self) -> float:
        """``b = w_base / w_peak``."""
        return self.w_base / self.w_peak

    def temporal_weight(self, sigma: float) -> float:
        """``w(t)`` at noise level ``sigma = t / T``."""
        return temporal_weight(sigma, self.w_peak, self.gamma)


def temporal_weight(t_over_T: float, w_peak: float, gamma: float = 1.5) -> float:
    """``w(t) = w_peak (t / T) ^ gamma`` for ``t / T`` in [0, 1]."""
    if not 0.0 <= t_over_T <= 1.0:
        raise ValueError(f"t / T must lie in [0, 1], got {t_over_T}")
    return float(w_peak * t_over_T**gamma)


def spatial_map(
    centers: np.ndarray | torch.Tensor,
    sigmas: np.ndarray | torch.Tensor | float,
    height: int,
    width: int,
    base: float,
    pixel_size: float = 1.0,
) -> torch.Tensor:
    """DS-CFG spatial map per frame on a ``height`` x ``width`` grid.

    Args:
        centers: (F, K, 2) mouth centres ``(x, y)`` in source pixels (NaN rows: no mouth), or (F, 2).
        sigmas: Gaussian radius in source pixels, scalar or (F, K) / (F,).
        height, width: grid size. Cell ``(i, j)`` covers source pixels ``[j s, (j + 1) s) x [i s, (i + 1) s)``
            with ``s = pixel_size``, and is evaluated at its centre.
        base: ``b = w_base / w_peak`` in [0, 1].

    Returns:
        float32 (F, height, width): ``b + (1 - b) max_k exp(-d_k^2 / (2 sigma_k^2))``; ``b`` where no mouth.
    """
    if not 0.0 <= base <= 1.0:
        raise ValueError(f"base ratio must lie in [0, 1], got {base}")
    c = torch.as_tensor(np.asarray(centers, dtype=np.float32))
    if c.ndim == 2:
        c = c[:, None]
    if c.ndim != 3 or c.shape[-1] != 2:
        raise ValueError(f"centers must be (F, K, 2) or (F, 2), got {tuple(c.shape)}")
    s = torch.as_tensor(np.asarray(sigmas, dtype=np.float32))
    s = s.reshape(s.shape + (1,) * (2 - s.ndim)) if s.ndim < 2 else s
    s = torch.broadcast_to(s, c.shape[:2])
    if c.shape[1] == 0:
        return torch.full((c.shape[0], height, width), float(base))
    ys = (torch.arange(height, dtype=torch.float32) + 0.5) * pixel_size
    xs = (torch.arange(width, dtype=torch.float32) + 0.5) * pixel_size
    dy = ys.view(1, 1, height, 1) - c[..., 1].view(*c.shape[:2], 1, 1)
    dx = xs.view(1, 1, 1, width) - c[..., 0].view(*c.shape[:2], 1, 1)
    gauss = torch.exp(-(dx**2 + dy**2) / (2 * s.view(*c.shape[:2], 1, 1) ** 2))
    gauss = torch.nan_to_num(gauss, nan=0.0)  # absent mouths contribute nothing
    peak = gauss.amax(dim=1)
    return (base + (1.0 - base) * peak).float()


def latent_frame_groups(num_frames: int, temporal_factor: int) -> list[range]:
    """Video frames of each latent frame of a causal VAE: ``[0]``, then ``1 + r (i - 1) .. r i``."""
    if num_frames < 1 or (num_frames - 1) % temporal_factor:
        raise ValueError(f"num_frames must be {temporal_factor} k + 1, got {num_frames}")
    groups = [range(0, 1)]
    groups += [
        range(1 + temporal_factor * (i - 1), 1 + temporal_factor * i)
        for i in range(1, (num_frames - 1) // temporal_factor + 1)
    ]
    return groups


def latent_spatial_map(
    centers: np.ndarray,
    sigmas: np.ndarray | float,
    latent_height: int,
    latent_width: int,
    base: float,
    spatial_factor: float,
    temporal_factor: int,
) -> torch.Tensor:
    """DS-CFG map on the latent grid: (F_video, K, 2) centres -> (F_latent, h, w), max over each frame group."""
    frame_maps = spatial_map(centers, sigmas, latent_height, latent_width, base, pixel_size=spatial_factor)
    groups = latent_frame_groups(frame_maps.shape[0], temporal_factor)
    return torch.stack([frame_maps[g.start : g.stop].amax(dim=0) for g in groups])


def ds_cfg(v_audio: torch.Tensor, v_null_audio: torch.Tensor, spatial: torch.Tensor, weight: float) -> torch.Tensor:
    """Guided velocity ``v_null + weight G (v_audio - v_null)``.

    Args:
        v_audio / v_null_audio: (B, C, F, h, w) predictions with and without the new audio.
        spatial: (F, h, w) or (B, F, h, w) map ``G``. weight: ``w(t)``.

    Returns:
        (B, C, F, h, w) in the predictions' dtype (computed in float32).
    """
    g = spatial.to(device=v_audio.device, dtype=torch.float32)
    g = g[None, None] if g.ndim == 3 else g[:, None]
    out = v_null_audio.float() + weight * g * (v_audio.float() - v_null_audio.float())
    return out.to(v_audio.dtype)


def progressive_init(source: torch.Tensor, noise: torch.Tensor, strength: float) -> torch.Tensor:
    """``x = (1 - tau) z_src + tau eps`` (``strength = tau`` in [0, 1]); ``tau = 0`` returns ``source`` itself."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must lie in [0, 1], got {strength}")
    if source.shape != noise.shape:
        raise ValueError(f"source {tuple(source.shape)} and noise {tuple(noise.shape)} differ in shape")
    if strength == 0.0:
        return source
    return (1.0 - strength) * source + strength * noise.to(source.dtype)


def edit_sigmas(num_inference_steps: int, strength: float, shift: float = 1.0) -> list[float]:
    """Unshifted sigmas to pass to ``FlowMatchEulerDiscreteScheduler.set_timesteps(sigmas=...)``.

    The scheduler maps ``u -> shift u / (1 + (shift - 1) u)``; these ``u`` are spaced evenly from the pre-image of
    ``strength`` down to ``u0 / N``, so the shifted schedule starts exactly at ``sigma = strength``.
    """
    if num_inference_steps < 1:
        raise ValueError(f"num_inference_steps must be >= 1, got {num_inference_steps}")
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength must lie in (0, 1] to denoise, got {strength}")
    if shift <= 0:
        raise ValueError(f"shift must be positive, got {shift}")
    u0 = strength / (shift - (shift - 1.0) * strength)
    return [float(v) for v in u0 * np.linspace(1.0, 1.0 / num_inference_steps, num_inference_steps)]


def set_edit_timesteps(scheduler, num_inference_steps: int, strength: float, device=None) -> torch.Tensor:
    """Set ``scheduler`` (FlowMatchEulerDiscrete) to start at ``sigma = strength``; returns its timesteps.

    Raises:
        ValueError: the scheduler's configuration (dynamic shifting, Karras sigmas...) moved the first sigma.
    """
    shift = float(getattr(scheduler, "shift", scheduler.config.get("shift", 1.0)))
    scheduler.set_timesteps(sigmas=edit_sigmas(num_inference_steps, strength, shift), device=device)
    first = float(scheduler.sigmas[0])
    if abs(first - strength) > 1e-4:
        raise ValueError(
            f"the scheduler starts at sigma={first:.4f}, not at strength {strength}; use a FlowMatchEulerDiscrete"
            " scheduler without dynamic shifting or sigma conversions"
        )
    return scheduler.timesteps
