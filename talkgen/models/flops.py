"""Analytic FLOP count of one transformer forward pass (for MFU and for sizing presets).

Counts the matrix products (2 FLOPs per multiply-add: linear layers, patch convolutions and the two products of
each attention), which are > 99% of the work; norms, activations, RoPE and softmax are left out. The speech
window attention is counted as the batched kernel runs it: every query against its full ``(r + 2n) S`` window,
padded slots included. A training step is about 3x the forward count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FlopCount:
    """FLOPs of one forward pass by component (all for the whole batch)."""

    embeddings: int
    self_attention: int
    text_attention: int
    audio_attention: int
    feed_forward: int
    output: int

    @property
    def total(self) -> int:
        return (
            self.embeddings
            + self.self_attention
            + self.text_attention
            + self.audio_attention
            + self.feed_forward
            + self.output
        )

    def as_dict(self) -> dict[str, int]:
        """Components and ``total`` as a plain dict (for JSON benchmark records)."""
        return {
            "embeddings": self.embeddings,
            "self_attention": self.self_attention,
            "text_attention": self.text_attention,
            "audio_attention": self.audio_attention,
            "feed_forward": self.feed_forward,
            "output": self.output,
            "total": self.total,
        }


def transformer_flops(
    config: Mapping[str, Any],
    latent_frames: int,
    latent_height: int,
    latent_width: int,
    text_len: int = 512,
    num_streams: int | None = 1,
    batch_size: int = 1,
    with_conditions: bool = False,
) -> FlopCount:
    """FLOPs of ``TalkingCharacterTransformer3DModel.forward`` for one latent shape.

    Args:
        config: the model's config (``model.config`` or a preset's ``transformer`` kwargs).
        latent_frames, latent_height, latent_width: latent video shape (F, H, W).
        text_len: L, text tokens. num_streams: S audio streams; None = no audio given (one null token per frame).
        batch_size: B. with_conditions: whether any reference/source/motion latent is given (adds the condition
            patch embedding; without them it reduces to a bias).

    Returns:
        :class:`FlopCount`.
    """
    patch = tuple(config.get("patch_size", (1, 2, 2)))
    heads, head_dim = config["num_attention_heads"], config["attention_head_dim"]
    dim = heads * head_dim
    layers = config["num_layers"]
    in_ch = config["in_channels"]
    out_ch = config.get("out_channels") or in_ch
    cond_ch = config.get("condition_channels") or in_ch
    ratio = config.get("vae_scale_factor_temporal", 4)
    neighbors = config.get("audio_window_neighbors", 1)
    audio_blocks = config.get("audio_block_indices")
    n_audio_blocks = layers if audio_blocks is None else len(set(audio_blocks))
    if latent_height % patch[1] or latent_width % patch[2] or latent_frames % patch[0]:
        raise ValueError(f"latent shape ({latent_frames}, {latent_height}, {latent_width}) not divisible by {patch}")

    tokens = (latent_frames // patch[0]) * (latent_height // patch[1]) * (latent_width // patch[2])
    patch_volume = math.prod(patch)
    streams = 1 if num_streams is None else num_streams
    audio_frames = ratio * (latent_frames - 1) + 1
    window = (ratio + 2 * neighbors) * streams

    def linear(rows: int, fan_in: int, fan_out: int) -> int:
        return 2 * rows * fan_in * fan_out

    embeddings = linear(tokens, in_ch * patch_volume, dim)
    if with_conditions:
        embeddings += linear(tokens, 3 * (cond_ch + 1) * patch_volume, dim)
    freq = config.get("freq_dim", 256)
    embeddings += linear(1, freq, dim) + linear(1, dim, dim) + linear(1, dim, 6 * dim)  # timestep MLP + adaLN proj
    embeddings += linear(text_len, config["text_dim"], dim) + linear(text_len, dim, dim)  # text projection
    if num_streams is not None:
        embeddings += linear(streams * audio_frames, config.get("audio_dim", 768), dim) + linear(
            streams * audio_frames, dim, dim
        )

    self_attention = layers * (4 * linear(tokens, dim, dim) + 4 * tokens * tokens * dim)
    text_attention = layers * (
        2 * linear(tokens, dim, dim) + 2 * linear(text_len, dim, dim) + 4 * tokens * text_len * dim
    )
    audio_attention = n_audio_blocks * (
        2 * linear(tokens, dim, dim) + 2 * linear(audio_frames * streams, dim, dim) + 4 * tokens * window * dim
    )
    feed_forward = layers * 2 * linear(tokens, dim, config["ffn_dim"])
    output = linear(tokens, dim, out_ch * patch_volume)
    return FlopCount(
        embeddings=batch_size * embeddings,
        self_attention=batch_size * self_attention,
        text_attention=batch_size * text_attention,
        audio_attention=batch_size * audio_attention,
        feed_forward=batch_size * feed_forward,
        output=batch_size * output,
    )


def video_flops(
    config: Mapping[str, Any],
    num_frames: int,
    height: int,
    width: int,
    vae_scale_factor_spatial: int = 8,
    text_len: int = 512,
    num_streams: int | None = 1,
    batch_size: int = 1,
    with_conditions: bool = False,
) -> FlopCount:
    """:func:`transformer_flops` for a pixel-space video size (``num_frames = r k + 1``, causal VAE)."""
    ratio = config.get("vae_scale_factor_temporal", 4)
    if num_frames < 1 or (num_frames - 1) % ratio:
        raise ValueError(f"num_frames must be {ratio} k + 1 for a causal VAE with ratio {ratio}, got {num_frames}")
    if height % vae_scale_factor_spatial or width % vae_scale_factor_spatial:
        raise ValueError(f"height and width must be divisible by {vae_scale_factor_spatial}, got {height}x{width}")
    return transformer_flops(
        config,
        (num_frames - 1) // ratio + 1,
        height // vae_scale_factor_spatial,
        width // vae_scale_factor_spatial,
        text_len=text_len,
        num_streams=num_streams,
        batch_size=batch_size,
        with_conditions=with_conditions,
    )
