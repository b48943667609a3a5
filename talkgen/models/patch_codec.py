"""A fixed linear video codec: principal components of 8x8-pixel, 4-frame patches (the tiny preset's latent space).

Training a small ``AutoencoderKLWan`` from scratch on the 2-core CPU was measured to be the bottleneck of the tiny
model (blurry faces, no eyes or mouths after 500 steps: 18 dB PSNR), while the principal components of the
synthetic world's patches reconstruct held-out clips at 32-34 dB with 64-96 components and are fitted in seconds
(``benchmarks/results/codec.json``). So the tiny preset uses this codec; the foundation track keeps Wan's VAE.

Layout (the causal Wan VAE's, so every pipeline, window and speech-window computation is unchanged): latent
frame 0 encodes video frame 0 alone (repeated to a 4-frame group), latent frame i >= 1 encodes video frames
``4 i - 3 .. 4 i``; each 8x8 patch of a group (4 x 3 x 8 x 8 = 768 values) is projected on ``z_dim`` orthonormal
components after subtracting the mean patch. Decoding is the transpose (latent 0 decodes to the mean of its group).

The interface is the part of ``AutoencoderKLWan`` that talkgen uses: ``encode(x).latent_dist`` (a
``DiagonalGaussianDistribution`` with zero variance: ``mode()`` = ``mean`` = ``sample()``), ``decode(z)``,
``config.z_dim`` / ``latents_mean`` / ``latents_std`` / ``temperal_downsample`` (for the 8x spatial and 4x temporal
scale factors) and tiling switches (no-ops: decoding is a matrix product per patch).
"""

from __future__ import annotations

import torch
import torch.nn as nn
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.autoencoders.vae import DecoderOutput, DiagonalGaussianDistribution
from diffusers.models.modeling_outputs import AutoencoderKLOutput
from diffusers.models.modeling_utils import ModelMixin


class PatchPCAAutoencoder(ModelMixin, ConfigMixin):
    """Principal-component codec of ``patch_size`` x ``patch_size`` x ``frames_per_latent`` RGB patches.

    Args:
        z_dim: latent channels (components kept). patch_size: spatial factor (8). frames_per_latent: temporal
            factor (4). in_channels: 3 (RGB). latents_mean / latents_std: per-channel normalisation the pipelines
            apply (:mod:`talkgen.models.latents`). temperal_downsample: Wan's flags, kept so that
            ``2 ** len(...)`` is the spatial and ``2 ** sum(...)`` the temporal factor. seed: of the random
            orthonormal basis before :meth:`fit` (tests, untrained pipelines).
    """

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(
        self,
        z_dim: int = 96,
        patch_size: int = 8,
        frames_per_latent: int = 4,
        in_channels: int = 3,
        latents_mean: list[float] | None = None,
        latents_std: list[float] | None = None,
        temperal_downsample: list[bool] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        dim = frames_per_latent * in_channels * patch_size * patch_size
        if not 1 <= z_dim <= dim:
            raise ValueError(f"z_dim must be 1..{dim} for {patch_size}x{patch_size}x{frames_per_latent} patches")
        temperal_downsample = list(temperal_downsample or [False, True, True])
        if 2 ** len(temperal_downsample) != patch_size:
            raise ValueError(f"temperal_downsample must have log2(patch_size) = {patch_size.bit_length() - 1} flags")
        if 2 ** sum(temperal_downsample) != frames_per_latent:
            raise ValueError("temperal_downsample must hold log2(frames_per_latent) True flags")
        self.register_to_config(  # defaults resolved, as the pipelines read them
            temperal_downsample=temperal_downsample,
            latents_mean=list(latents_mean) if latents_mean is not None else [0.0] * z_dim,
            latents_std=list(latents_std) if latents_std is not None else [1.0] * z_dim,
        )
        generator = torch.Generator().manual_seed(seed)
        basis, _ = torch.linalg.qr(torch.randn(dim, z_dim, generator=generator))
        self.register_buffer("patch_mean", torch.zeros(dim))
        self.register_buffer("components", basis.T.contiguous())  # (z_dim, dim), orthonormal rows

    # ------------------------------------------------------------------------------------------- patches
    def _groups(self, video: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W), T = r k + 1 -> (B, F, H/p, W/p, r C p p) patch vectors (frame 0 repeated r times)."""
        r, p = self.config.frames_per_latent, self.config.patch_size
        b, c, t, h, w = video.shape
        if (t - 1) % r or h % p or w % p:
            raise ValueError(f"video must be {r} k + 1 frames of sides divisible by {p}, got {tuple(video.shape)}")
        frames = torch.cat([video[:, :, :1].expand(-1, -1, r, -1, -1), video[:, :, 1:]], dim=2)
        x = frames.reshape(b, c, t // r + 1, r, h // p, p, w // p, p)
        return x.permute(0, 2, 4, 6, 3, 1, 5, 7).reshape(b, t // r + 1, h // p, w // p, r * c * p * p)

    def _ungroup(self, patches: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`_groups`: (B, F, h, w, r C p p) -> (B, C, T, H, W); latent 0 -> its group's mean."""
        r, p, c = self.config.frames_per_latent, self.config.patch_size, self.config.in_channels
        b, f, h, w, _ = patches.shape
        x = patches.reshape(b, f, h, w, r, c, p, p).permute(0, 5, 1, 4, 2, 6, 3, 7)  # (B, C, F, r, h, p, w, p)
        x = x.reshape(b, c, f, r, h * p, w * p)
        first = x[:, :, :1].mean(dim=3)
        rest = x[:, :, 1:].reshape(b, c, (f - 1) * r, h * p, w * p)
        return torch.cat([first, rest], dim=2)

    # ------------------------------------------------------------------------------------------- codec
    def encode(self, x: torch.Tensor, return_dict: bool = True) -> AutoencoderKLOutput | tuple:
        """(B, 3, T, H, W) in [-1, 1] -> a zero-variance posterior over (B, z_dim, F, H/p, W/p) latents."""
        patches = self._groups(x.to(self.components.dtype))
        z = (patches - self.patch_mean) @ self.components.T  # (B, F, h, w, z)
        mean = z.permute(0, 4, 1, 2, 3)
        logvar = torch.full_like(mean, -30.0)
        dist = DiagonalGaussianDistribution(torch.cat([mean, logvar], dim=1))
        return AutoencoderKLOutput(latent_dist=dist) if return_dict else (dist,)

    def decode(self, z: torch.Tensor, return_dict: bool = True) -> DecoderOutput | tuple:
        """(B, z_dim, F, h, w) latents -> (B, 3, T, H, W) video, T = r (F - 1) + 1."""
        patches = z.to(self.components.dtype).permute(0, 2, 3, 4, 1) @ self.components + self.patch_mean
        video = self._ungroup(patches)
        return DecoderOutput(sample=video) if return_dict else (video,)

    def forward(self, sample: torch.Tensor, return_dict: bool = True) -> DecoderOutput | tuple:
        """Encode and decode (the reconstruction)."""
        return self.decode(self.encode(sample).latent_dist.mode(), return_dict=return_dict)

    def enable_tiling(self, *args, **kwargs) -> None:
        """No-op: decoding is a matrix product per patch, memory grows only with the output."""

    def disable_tiling(self) -> None:
        """No-op (see :meth:`enable_tiling`)."""

    # ------------------------------------------------------------------------------------------- fitting
    @torch.no_grad()
    def fit(self, videos: list[torch.Tensor], stats_scale: str = "global") -> dict[str, float]:
        """Fit the mean patch and the ``z_dim`` leading principal components to clips, then the normalisation.

        Args:
            videos: clips (3, T, H, W) in [-1, 1], T = r k + 1. stats_scale: ``global`` (one std for every channel,
                so the flow-matching loss stays a pixel-space MSE: the basis is orthonormal) or ``channel``.

        Returns:
            ``{"psnr_db": ..., "explained": ...}`` of the fit on its own data.
        """
        patches = torch.cat([self._groups(v[None].float()).reshape(-1, self.components.shape[1]) for v in videos])
        mean = patches.mean(0)
        centred = patches - mean
        covariance = centred.T @ centred / len(centred)
        values, vectors = torch.linalg.eigh(covariance.double())
        order = torch.argsort(values, descending=True)[: self.config.z_dim]
        self.patch_mean.copy_(mean)
        self.components.copy_(vectors[:, order].T.float())
        z = centred @ self.components.T
        if stats_scale == "global":
            std = [float(z.std())] * self.config.z_dim
        elif stats_scale == "channel":
            std = z.std(0).clamp(min=1e-4).tolist()
        else:
            raise ValueError(f"stats_scale must be global or channel, got {stats_scale!r}")
        self.register_to_config(latents_mean=[0.0] * self.config.z_dim, latents_std=std)
        residual = centred - z @ self.components
        mse = float(residual.pow(2).mean())
        return {
            "psnr_db": float(10 * torch.log10(torch.tensor(4.0 / max(mse, 1e-12)))),
            "explained": float(values[order].sum() / values.sum()),
        }


def vae_class(config: dict) -> type[nn.Module]:
    """The autoencoder class a VAE folder's ``config.json`` names (Wan's VAE or this codec)."""
    name = config.get("_class_name", "AutoencoderKLWan")
    if name == PatchPCAAutoencoder.__name__:
        return PatchPCAAutoencoder
    if name == "AutoencoderKLWan":
        from diffusers import AutoencoderKLWan

        return AutoencoderKLWan
    raise ValueError(f"unknown autoencoder class {name!r} (expected AutoencoderKLWan or PatchPCAAutoencoder)")


def load_autoencoder(folder) -> nn.Module:
    """Load a VAE folder (``config.json`` + safetensors) of either class, locally.

    Raises:
        ConfigError: no such folder, or a config naming another class.
    """
    import json
    from pathlib import Path

    from talkgen.errors import ConfigError

    folder = Path(folder)
    config = folder / "config.json"
    if not config.is_file():
        raise ConfigError(f"{folder} is not a VAE folder (expected config.json + safetensors from save_pretrained)")
    try:
        cls = vae_class(json.loads(config.read_text(encoding="utf-8")))
    except ValueError as exc:
        raise ConfigError(f"{config}: {exc}") from None
    return cls.from_pretrained(folder, local_files_only=True, use_safetensors=True)
