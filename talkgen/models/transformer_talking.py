"""The talking-character transformer: a Wan DiT with speech-video window attention and optional conditions.

Built from diffusers' Wan modules (``WanRotaryPosEmbed``, ``WanTimeTextImageEmbedding``, ``WanTransformerBlock``,
``WanAttention``) under the same parameter names as ``WanTransformer3DModel``, so a Wan checkpoint loads into it
key for key (:meth:`TalkingCharacterTransformer3DModel.from_wan`) and every new layer starts as an identity.

How each input enters the model:

- **Video latents** ``hidden_states`` (B, C, F, H, W): Wan's patch embedding (patch (1, 2, 2)) and 3D RoPE.
- **Text** ``encoder_hidden_states`` (B, L, D_text): Wan's text projection and text cross-attention; with
  ``text_pooling`` also a read of the whole prompt added to the timestep embedding (zero at first).
- **Speech** ``audio_embeds`` (B, S, T, C_audio), features at the *video* frame rate, S <= ``max_audio_streams``
  character streams: projected to the model width, plus a learned slot embedding per stream (stream k carries the
  identity of character slot k). In each audio block a speech cross-attention runs after the text cross-attention;
  it is window attention (:mod:`talkgen.models.attention`): latent frame i sees only the audio of its own video
  frames plus ``audio_window_neighbors`` frames on each side. Its output projection starts at zero. With
  ``audio_window_positions`` each slot of a window adds a learned embedding of its place (zero at first), so that a
  latent frame, which encodes several video frames, can tell which of them a speech token belongs to.
- **Reference image** ``reference_latents`` (B, C, 1, H, W), the VAE latent of the first frame; **source video**
  ``source_latents`` (B, C, F, H, W) for mask-free editing; **motion** ``motion_latents`` (B, C, F_m, H, W), the last
  F_m latent frames of the previous window, which the new window overlaps (they sit at frames 0..F_m-1). These enter
  as Wan I2V does, by channel concatenation with a mask channel each ([ref, ref_mask, src, src_mask, motion,
  motion_mask], ``3 (C + 1)`` channels), but through a separate zero-initialised patch embedding whose output is added
  to the video tokens, so Wan's own ``patch_embedding`` loads unchanged.
- **Absent conditions** become learned nulls (for dropout and guidance): a null audio token (shared by all streams,
  no slot) and a null embedding per latent condition added to every token. ``null_conditions`` drops conditions per
  sample, so the passes of a guidance step run as one batch.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import PixArtAlphaTextProjection
from diffusers.models.modeling_outputs import Transformer2DModelOutput
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.normalization import FP32LayerNorm
from diffusers.models.transformers.transformer_wan import (
    WanAttention,
    WanRotaryPosEmbed,
    WanTimeTextImageEmbedding,
    WanTransformer3DModel,
    WanTransformerBlock,
)

from talkgen.errors import WeightsError
from talkgen.models.attention import SpeechWindowAttnProcessor, SpeechWindows, speech_windows

logger = logging.getLogger(__name__)

LATENT_CONDITIONS = ("reference", "source", "motion")
PREDICTION_TYPES = ("velocity", "sample")
NUM_TRAIN_TIMESTEPS = 1000  # diffusers' flow-matching convention: timestep = 1000 sigma
NULLABLE_CONDITIONS = ("audio", *LATENT_CONDITIONS)
# Config keys shared with diffusers' WanTransformer3DModel (copied by from_wan).
WAN_CONFIG_KEYS = (
    "patch_size",
    "num_attention_heads",
    "attention_head_dim",
    "in_channels",
    "out_channels",
    "text_dim",
    "freq_dim",
    "ffn_dim",
    "num_layers",
    "cross_attn_norm",
    "qk_norm",
    "eps",
    "rope_max_seq_len",
)


class TalkingCharacterBlock(WanTransformerBlock):
    """A Wan block (self-attn, text cross-attn, FFN) with speech window cross-attention after the text one.

    Without audio layers (``with_audio=False``) or without audio tokens it computes exactly a ``WanTransformerBlock``.
    """

    def __init__(
        self,
        dim: int,
        ffn_dim: int,
        num_heads: int,
        qk_norm: str = "rms_norm_across_heads",
        cross_attn_norm: bool = False,
        eps: float = 1e-6,
        with_audio: bool = True,
        audio_gate: bool = False,
    ) -> None:
        super().__init__(dim, ffn_dim, num_heads, qk_norm, cross_attn_norm, eps, None)
        self.norm_audio: nn.Module | None = None
        self.audio_attn: WanAttention | None = None
        if with_audio:
            self.norm_audio = FP32LayerNorm(dim, eps, elementwise_affine=True)
            self.audio_attn = WanAttention(
                dim=dim,
                heads=num_heads,
                dim_head=dim // num_heads,
                eps=eps,
                cross_attention_dim_head=dim // num_heads,
                processor=SpeechWindowAttnProcessor(),
            )
            nn.init.zeros_(self.audio_attn.to_out[0].weight)
            nn.init.zeros_(self.audio_attn.to_out[0].bias)
            if audio_gate:  # per video token and head: 2 sigmoid(W x + b), 1 at first (zero-initialised)
                self.audio_attn.to_gate = nn.Linear(dim, num_heads)
                nn.init.zeros_(self.audio_attn.to_gate.weight)
                nn.init.zeros_(self.audio_attn.to_gate.bias)

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        temb: torch.Tensor,
        rotary_emb: tuple[torch.Tensor, torch.Tensor],
        audio_tokens: torch.Tensor | None = None,
        windows: SpeechWindows | None = None,
    ) -> torch.Tensor:
        """One block.

        Args:
            hidden_states: (B, N, D) video tokens. encoder_hidden_states: (B, L, D) projected text.
            temb: (B, 6, D) timestep modulation. rotary_emb: Wan's 3D RoPE (cos, sin), each (1, N, 1, d).
            audio_tokens: (B, T, S, D) projected audio at the video frame rate, or None to skip speech attention.
            windows: speech windows for the clip's latent frames (required with ``audio_tokens``).

        Returns:
            (B, N, D) updated video tokens.
        """
        if temb.ndim != 3:
            raise ValueError(f"temb must be (B, 6, D) (one timestep per sample), got {tuple(temb.shape)}")
        shift, scale, gate, c_shift, c_scale, c_gate = (self.scale_shift_table + temb.float()).chunk(6, dim=1)

        # 1. Self-attention with adaLN modulation (Wan's modules and order).
        normed = (self.norm1(hidden_states.float()) * (1 + scale) + shift).type_as(hidden_states)
        attn_output = self.attn1(normed, None, None, rotary_emb)
        hidden_states = (hidden_states.float() + attn_output * gate).type_as(hidden_states)

        # 2. Text cross-attention.
        normed = self.norm2(hidden_states.float()).type_as(hidden_states)
        hidden_states = hidden_states + self.attn2(normed, encoder_hidden_states, None, None)

        # 3. Speech window cross-attention (zero-initialised output projection).
        if self.audio_attn is not None and audio_tokens is not None:
            normed = self.norm_audio(hidden_states.float()).type_as(hidden_states)
            hidden_states = hidden_states + self.audio_attn(normed, audio_tokens, None, None, windows=windows)

        # 4. Feed-forward with adaLN modulation.
        normed = (self.norm3(hidden_states.float()) * (1 + c_scale) + c_shift).type_as(hidden_states)
        ff_output = self.ffn(normed)
        return (hidden_states.float() + ff_output.float() * c_gate).type_as(hidden_states)


# Config switches that only add zero-initialised parameters (switch -> shell patterns of their names): weights saved
# without them load into a model with them and compute the same (fine-tuning switches one on from trained weights).
ZERO_INIT_SWITCHES = {
    "audio_window_positions": ("audio_window_embedding",),
    "audio_gate": ("blocks.*.audio_attn.to_gate.weight", "blocks.*.audio_attn.to_gate.bias"),
    "text_pooling": ("text_pool_queries", "text_pool.*", "text_pool_proj.*"),
}


class TalkingCharacterTransformer3DModel(ModelMixin, ConfigMixin):
    """Wan-style DiT for talking characters (see the module docstring for how each condition enters).

    The first thirteen arguments are ``WanTransformer3DModel``'s (same meaning, same defaults as Wan2.1-T2V-1.3B
    except where noted); the rest configure the speech and condition layers.

    Args:
        audio_dim: channels of the audio features fed in (``audio_embeds[..., C]``).
        max_audio_streams: most character streams per clip (slot embeddings).
        audio_block_indices: blocks that get speech attention; None = every block.
        audio_window_neighbors: extra video frames on each side of a latent frame's audio window.
        audio_window_positions: a learned (zero-initialised) embedding of each window slot's place is added to its
            speech token, so the order of a latent frame's video frames survives the attention (False: a window is
            an unordered set of tokens; a model saved without it loads as before).
        audio_gate: each speech attention scales its heads' output per video token by ``2 sigmoid(W x + b)`` of
            that token (zero-initialised: 1 at first). Without it every token of a latent frame mixes the same few
            speech tokens, so the speech moves the whole frame about alike; the gate lets the mouth's tokens take
            the speech and the rest of the frame ignore it.
        vae_scale_factor_temporal: video frames per latent frame of the (causal) VAE.
        condition_channels: latent channels of reference/source/motion latents; None = ``in_channels``.
        prediction_type: ``"velocity"`` (Wan's flow velocity) or ``"sample"``: the network predicts the clean
            latents ``x0`` and returns the velocity ``(x_t - x0) / sigma`` (``sigma = timestep / 1000``, clamped at
            ``min_sigma``), so schedulers, guidance and losses see a velocity either way. Predicting the sample
            (JiT's x-prediction) is what lets a narrow network denoise many-channel latents such as the tiny
            preset's patch codec: a velocity in channels that hold almost only noise is the noise itself, which a
            network narrower than its tokens cannot carry through.
        min_sigma: the clamp of the ``sample`` parameterisation.
        text_pooling: the prompt also enters the timestep embedding, which modulates every block (adaLN), as a
            class label does in a class-conditional DiT: one learned query per character slot
            (``max_audio_streams``) reads the projected text states (padding, the all-zero states past the prompt,
            left out), and a zero-initialised projection of the reads is added to the timestep embedding. Cross-
            attention alone leaves a narrow network to find each colour word token by token; the pooled reads give
            every token the whole description at once (False: a model saved without it loads as before).
    """

    _supports_gradient_checkpointing = True
    _no_split_modules = ["TalkingCharacterBlock"]
    _keep_in_fp32_modules = ["rope", "time_embedder", "scale_shift_table", "norm1", "norm2", "norm3", "norm_audio"]
    _skip_layerwise_casting_patterns = ["patch_embedding", "condition_embedder", "norm"]

    @register_to_config
    def __init__(
        self,
        patch_size: tuple[int, ...] = (1, 2, 2),
        num_attention_heads: int = 12,
        attention_head_dim: int = 128,
        in_channels: int = 16,
        out_channels: int = 16,
        text_dim: int = 4096,
        freq_dim: int = 256,
        ffn_dim: int = 8960,
        num_layers: int = 30,
        cross_attn_norm: bool = True,
        qk_norm: str | None = "rms_norm_across_heads",
        eps: float = 1e-6,
        rope_max_seq_len: int = 1024,
        audio_dim: int = 768,
        max_audio_streams: int = 4,
        audio_block_indices: list[int] | None = None,
        audio_window_neighbors: int = 1,
        vae_scale_factor_temporal: int = 4,
        condition_channels: int | None = None,
        prediction_type: str = "velocity",
        min_sigma: float = 0.05,
        audio_window_positions: bool = False,
        audio_gate: bool = False,
        text_pooling: bool = False,
    ) -> None:
        super().__init__()
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"prediction_type must be one of {', '.join(PREDICTION_TYPES)}, got {prediction_type!r}")
        if not 0 < min_sigma < 1:
            raise ValueError(f"min_sigma must lie in (0, 1), got {min_sigma}")
        patch_size = tuple(patch_size)
        if len(patch_size) != 3 or patch_size[0] != 1:
            raise ValueError(
                f"patch_size must be (1, p_h, p_w) (speech windows are per latent frame), got {patch_size}"
            )
        if not 1 <= max_audio_streams <= 16:
            raise ValueError(f"max_audio_streams must be in [1, 16], got {max_audio_streams}")
        inner_dim = num_attention_heads * attention_head_dim
        out_channels = out_channels or in_channels
        cond_channels = condition_channels or in_channels
        audio_blocks = set(range(num_layers)) if audio_block_indices is None else set(audio_block_indices)
        if not audio_blocks <= set(range(num_layers)):
            raise ValueError(f"audio_block_indices must lie in [0, {num_layers}), got {sorted(audio_blocks)}")

        # Wan's modules, under Wan's names.
        self.rope = WanRotaryPosEmbed(attention_head_dim, patch_size, rope_max_seq_len)
        self.patch_embedding = nn.Conv3d(in_channels, inner_dim, kernel_size=patch_size, stride=patch_size)
        self.condition_embedder = WanTimeTextImageEmbedding(
            dim=inner_dim, time_freq_dim=freq_dim, time_proj_dim=inner_dim * 6, text_embed_dim=text_dim
        )
        self.blocks = nn.ModuleList(
            [
                TalkingCharacterBlock(
                    inner_dim,
                    ffn_dim,
                    num_attention_heads,
                    qk_norm,
                    cross_attn_norm,
                    eps,
                    i in audio_blocks,
                    audio_gate,
                )
                for i in range(num_layers)
            ]
        )
        self.norm_out = FP32LayerNorm(inner_dim, eps, elementwise_affine=False)
        self.proj_out = nn.Linear(inner_dim, out_channels * math.prod(patch_size))
        self.scale_shift_table = nn.Parameter(torch.randn(1, 2, inner_dim) / inner_dim**0.5)

        # New layers: speech tokens with character slots, latent conditions with learned nulls.
        self.audio_proj = PixArtAlphaTextProjection(audio_dim, inner_dim, act_fn="gelu_tanh")
        self.audio_slot_embedding = nn.Parameter(torch.randn(max_audio_streams, inner_dim) * 0.02)
        self.audio_null = nn.Parameter(torch.randn(inner_dim) * 0.02)
        self.condition_patch_embedding = nn.Conv3d(
            len(LATENT_CONDITIONS) * (cond_channels + 1), inner_dim, kernel_size=patch_size, stride=patch_size
        )
        nn.init.zeros_(self.condition_patch_embedding.weight)
        nn.init.zeros_(self.condition_patch_embedding.bias)
        self.condition_null = nn.Parameter(torch.zeros(len(LATENT_CONDITIONS), inner_dim))
        self.audio_window_embedding: nn.Parameter | None = None
        if audio_window_positions:
            width = vae_scale_factor_temporal + 2 * audio_window_neighbors
            self.audio_window_embedding = nn.Parameter(torch.zeros(width, inner_dim))

        self.text_pool: nn.MultiheadAttention | None = None
        if text_pooling:
            self.text_pool_queries = nn.Parameter(torch.randn(max_audio_streams, inner_dim) * inner_dim**-0.5)
            self.text_pool = nn.MultiheadAttention(inner_dim, num_attention_heads, batch_first=True)
            self.text_pool_proj = nn.Linear(max_audio_streams * inner_dim, inner_dim)
            nn.init.zeros_(self.text_pool_proj.weight)
            nn.init.zeros_(self.text_pool_proj.bias)

        self.gradient_checkpointing = False

    # ----------------------------------------------------------------------------------------------- inputs
    def pool_text(self, text: torch.Tensor, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        """(B, L, D) projected text states -> (B, D): the slot queries' reads of the prompt, projected.

        Positions whose encoder states are all zero (the padding the pipeline and training put past each prompt)
        are left out, so a prompt reads the same at any padded length.
        """
        padding = encoder_hidden_states.abs().amax(dim=-1) == 0
        padding[:, 0] = False  # an empty (all-zero) text still has one position to read
        queries = self.text_pool_queries[None].expand(text.shape[0], -1, -1).to(text.dtype)
        read, _ = self.text_pool(queries, text, text, key_padding_mask=padding, need_weights=False)
        return self.text_pool_proj(read.flatten(1))

    def num_audio_frames(self, num_latent_frames: int) -> int:
        """Audio frames (at the video frame rate) a clip of ``num_latent_frames`` latents needs: r (F - 1) + 1."""
        return self.config.vae_scale_factor_temporal * (num_latent_frames - 1) + 1

    def embed_audio(
        self, audio_embeds: torch.Tensor | None, num_latent_frames: int, batch_size: int, null_mask: torch.Tensor
    ) -> torch.Tensor:
        """Project audio features to tokens and add each stream's slot embedding.

        Args:
            audio_embeds: (B, S, T, C_audio) features at the video frame rate (T >= r (F - 1) + 1; extra frames
                at the end are ignored), or None for the learned null.
            num_latent_frames: F. batch_size: B. null_mask: (B,) bool, samples whose audio is replaced by the null.

        Returns:
            (B, T_v, S, D) audio tokens with T_v = r (F - 1) + 1 (S = 1 for the null).
        """
        needed = self.num_audio_frames(num_latent_frames)
        dtype = self.dtype  # looked up once: diffusers scans the modules for casting hooks on every lookup
        if audio_embeds is None:
            return self.audio_null.to(dtype).repeat(batch_size, needed, 1, 1)  # (B, T_v, 1, D)
        if audio_embeds.ndim != 4:
            raise ValueError(
                f"audio_embeds must be (batch, streams, frames, channels), got shape {tuple(audio_embeds.shape)}"
            )
        b, streams, frames, channels = audio_embeds.shape
        if b != batch_size:
            raise ValueError(f"audio_embeds has batch {b}, expected {batch_size} (the latents' batch)")
        if not 1 <= streams <= self.config.max_audio_streams:
            raise ValueError(f"audio_embeds has {streams} streams, expected 1..{self.config.max_audio_streams}")
        if channels != self.config.audio_dim:
            raise ValueError(f"audio_embeds has {channels} channels, expected audio_dim={self.config.audio_dim}")
        if frames < needed:
            raise ValueError(
                f"audio_embeds has {frames} frames but {num_latent_frames} latent frames need {needed} frames at the"
                f" video frame rate (r (F - 1) + 1 with r={self.config.vae_scale_factor_temporal}); audio is shorter"
                " than the video"
            )
        tokens = self.audio_proj(audio_embeds[:, :, :needed].to(dtype))  # (B, S, T_v, D)
        tokens = tokens + self.audio_slot_embedding[:streams, None, :].to(tokens.dtype)
        tokens = torch.where(null_mask[:, None, None, None], self.audio_null.to(tokens.dtype), tokens)
        return tokens.transpose(1, 2)

    def embed_conditions(
        self,
        batch_size: int,
        latent_shape: tuple[int, int, int],
        latents: dict[str, torch.Tensor | None],
        null_masks: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        """Token offsets from the reference / source / motion latents (channel concat + zero-init patch embedding).

        Args:
            batch_size: B. latent_shape: (F, H, W) of the video latents.
            latents: name -> (B, C, F_c, H, W) latents or None (reference: F_c = 1; source: F_c = F; motion: F_c <= F).
            null_masks: name -> (B,) bool, samples whose condition is replaced by the learned null.

        Returns:
            (B, N, D) offsets to add to the video tokens ((B, 1, D) when every condition is absent: the embedding
            of all-zero channels is its bias, so only the bias and the nulls remain).
        """
        frames, height, width = latent_shape
        channels = self.config.condition_channels or self.config.in_channels
        device, dtype = self.device, self.dtype  # once: each lookup walks the modules (~3 ms on a CPU)
        groups, present = [], []
        for name in LATENT_CONDITIONS:
            value = latents.get(name)
            group = torch.zeros(batch_size, channels + 1, frames, height, width, device=device, dtype=dtype)
            if value is not None:
                if value.ndim == 4 and name == "reference":
                    value = value.unsqueeze(2)
                if value.ndim != 5 or value.shape[0] != batch_size or value.shape[1] != channels:
                    raise ValueError(
                        f"{name}_latents must be (B={batch_size}, C={channels}, frames, {height}, {width}),"
                        f" got {tuple(value.shape)}"
                    )
                cond_frames = value.shape[2]
                max_frames = 1 if name == "reference" else frames
                exact = name == "source"
                if value.shape[3:] != (height, width) or cond_frames > max_frames or (exact and cond_frames != frames):
                    raise ValueError(
                        f"{name}_latents must be (B, C, {'1' if name == 'reference' else frames}"
                        f"{'' if exact or name == 'reference' else ' or fewer'}, {height}, {width}), got"
                        f" {tuple(value.shape)}"
                    )
                keep = (~null_masks[name]).to(group.dtype)[:, None, None, None, None]
                group[:, :channels, :cond_frames] = value.to(group.dtype) * keep
                group[:, channels:, :cond_frames] = keep
                present.append(~null_masks[name])
            else:
                present.append(torch.zeros(batch_size, dtype=torch.bool, device=device))
            groups.append(group)
        absent = (~torch.stack(present, dim=1)).to(dtype)  # (B, 3)
        nulls = (absent @ self.condition_null.to(dtype))[:, None, :]  # (B, 1, D)
        if not any(p.any() for p in present):
            # All-zero input channels: the patch embedding reduces to its bias.
            return nulls + self.condition_patch_embedding.bias.to(dtype)
        tokens = self.condition_patch_embedding(torch.cat(groups, dim=1)).flatten(2).transpose(1, 2)
        return tokens + nulls

    # ----------------------------------------------------------------------------------------------- forward
    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        audio_embeds: torch.Tensor | None = None,
        reference_latents: torch.Tensor | None = None,
        source_latents: torch.Tensor | None = None,
        motion_latents: torch.Tensor | None = None,
        null_conditions: dict[str, torch.Tensor] | None = None,
        attention_kwargs: dict[str, Any] | None = None,
        return_dict: bool = True,
    ) -> Transformer2DModelOutput | tuple[torch.Tensor]:
        """Predict the flow velocity for noisy video latents.

        Args:
            hidden_states: (B, C, F, H, W) noisy latents. timestep: (B,) diffusion timesteps (0..1000).
            encoder_hidden_states: (B, L, D_text) text encoder states.
            audio_embeds: (B, S, T, C_audio) audio features at the video frame rate, T >= r (F - 1) + 1, S streams.
            reference_latents: (B, C, 1, H, W) first-frame latent. source_latents: (B, C, F, H, W) source video.
            motion_latents: (B, C, F_m, H, W), F_m <= F, previous window's last latents (placed at frames 0..F_m-1).
            null_conditions: name ("audio", "reference", "source", "motion") -> (B,) bool; True replaces that
                condition of that sample by its learned null (absent conditions are always null).
            attention_kwargs: accepted for diffusers pipeline compatibility; no option is read.
            return_dict: return a ``Transformer2DModelOutput`` (else a 1-tuple).

        Returns:
            ``sample`` (B, out_channels, F, H, W).
        """
        if hidden_states.ndim != 5:
            raise ValueError(f"hidden_states must be (B, C, F, H, W), got {tuple(hidden_states.shape)}")
        if attention_kwargs:
            logger.debug("attention_kwargs %s ignored", sorted(attention_kwargs))
        batch, _, frames, height, width = hidden_states.shape
        p_t, p_h, p_w = self.config.patch_size
        if height % p_h or width % p_w:
            raise ValueError(f"latent height/width ({height}, {width}) must be divisible by the patch ({p_h}, {p_w})")
        if timestep.ndim != 1 or timestep.shape[0] not in (1, batch):
            raise ValueError(f"timestep must be (B,) = ({batch},), got {tuple(timestep.shape)}")
        timestep = timestep.expand(batch)
        post_h, post_w = height // p_h, width // p_w

        null_masks = {}
        for name in NULLABLE_CONDITIONS:
            mask = (null_conditions or {}).get(name)
            if mask is None:
                mask = torch.zeros(batch, dtype=torch.bool, device=hidden_states.device)
            elif mask.shape != (batch,):
                raise ValueError(f"null_conditions[{name!r}] must be a (B,) = ({batch},) bool tensor")
            null_masks[name] = mask.to(device=hidden_states.device, dtype=torch.bool)
        unknown = set(null_conditions or {}) - set(NULLABLE_CONDITIONS)
        if unknown:
            raise ValueError(f"unknown null_conditions {sorted(unknown)}; expected a subset of {NULLABLE_CONDITIONS}")

        # 1. Patchify, RoPE, latent conditions.
        rotary_emb = self.rope(hidden_states)
        tokens = self.patch_embedding(hidden_states).flatten(2).transpose(1, 2).contiguous()  # (B, N, D)
        cond = self.embed_conditions(
            batch,
            (frames, height, width),
            {"reference": reference_latents, "source": source_latents, "motion": motion_latents},
            null_masks,
        )
        tokens = tokens + cond

        # 2. Timestep and text embeddings (Wan's embedder), audio tokens and their windows.
        temb, timestep_proj, text, _ = self.condition_embedder(timestep, encoder_hidden_states)
        if self.text_pool is not None:
            temb = temb + self.pool_text(text, encoder_hidden_states).type_as(temb)
            timestep_proj = self.condition_embedder.time_proj(self.condition_embedder.act_fn(temb))
        timestep_proj = timestep_proj.unflatten(1, (6, -1))  # (B, 6, D)
        audio_tokens = self.embed_audio(audio_embeds, frames, batch, null_masks["audio"])
        windows = speech_windows(
            frames,
            audio_tokens.shape[1],
            self.config.vae_scale_factor_temporal,
            self.config.audio_window_neighbors,
            device=tokens.device,
        )
        if self.audio_window_embedding is not None:
            windows = dataclasses.replace(windows, embedding=self.audio_window_embedding)

        # 3. Blocks.
        for block in self.blocks:
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                tokens = self._gradient_checkpointing_func(
                    block, tokens, text, timestep_proj, rotary_emb, audio_tokens, windows
                )
            else:
                tokens = block(tokens, text, timestep_proj, rotary_emb, audio_tokens, windows)

        # 4. Output modulation, projection and unpatchify.
        shift, scale = (self.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
        # With the blocks split over GPUs (accelerate's device_map), temb is on the first device and the tokens on
        # the last: modulate where the tokens are.
        shift, scale = shift.to(tokens.device), scale.to(tokens.device)
        tokens = (self.norm_out(tokens.float()) * (1 + scale) + shift).type_as(tokens)
        tokens = self.proj_out(tokens)
        tokens = tokens.reshape(batch, frames // p_t, post_h, post_w, p_t, p_h, p_w, -1)
        output = tokens.permute(0, 7, 1, 4, 2, 5, 3, 6).flatten(6, 7).flatten(4, 5).flatten(2, 3)
        if self.config.prediction_type == "sample":  # x0 -> velocity (x_t - x0) / sigma
            sigma = (timestep.float() / NUM_TRAIN_TIMESTEPS).clamp(min=self.config.min_sigma)
            sigma = sigma.reshape(-1, *([1] * (output.ndim - 1))).to(output.device)
            output = ((hidden_states.float() - output.float()) / sigma).to(output.dtype)
        if not return_dict:
            return (output,)
        return Transformer2DModelOutput(sample=output)

    # ----------------------------------------------------------------------------------------------- Wan import
    @classmethod
    def from_wan_model(
        cls,
        wan: WanTransformer3DModel,
        audio_dim: int = 768,
        max_audio_streams: int = 4,
        audio_block_indices: list[int] | None = None,
        audio_window_neighbors: int = 1,
        vae_scale_factor_temporal: int = 4,
    ) -> TalkingCharacterTransformer3DModel:
        """Build from an in-memory Wan T2V transformer: copy every Wan weight, keep new layers at their init."""
        wan_config = dict(wan.config)
        if wan_config.get("image_dim") is not None or wan_config.get("added_kv_proj_dim") is not None:
            raise WeightsError("only Wan text-to-video transformers are supported (this one has image layers: I2V)")
        model = cls(
            **{key: wan_config[key] for key in WAN_CONFIG_KEYS if key in wan_config},
            audio_dim=audio_dim,
            max_audio_streams=max_audio_streams,
            audio_block_indices=audio_block_indices,
            audio_window_neighbors=audio_window_neighbors,
            vae_scale_factor_temporal=vae_scale_factor_temporal,
        )
        if wan.dtype != model.dtype:
            model.to(dtype=wan.dtype)
        result = model.load_state_dict(wan.state_dict(), strict=False)
        new_prefixes = ("audio_", "condition_patch_embedding", "condition_null")
        wrong = [k for k in result.missing_keys if not (k.startswith(new_prefixes) or ".audio_attn." in k)]
        wrong = [k for k in wrong if ".norm_audio." not in k]
        if result.unexpected_keys or wrong:
            raise WeightsError(
                f"Wan weights do not match the talking transformer: unexpected {result.unexpected_keys[:5]},"
                f" missing {wrong[:5]}"
            )
        return model

    @classmethod
    def from_wan(
        cls,
        path: str | Path,
        audio_dim: int = 768,
        max_audio_streams: int = 4,
        audio_block_indices: list[int] | None = None,
        audio_window_neighbors: int = 1,
        vae_scale_factor_temporal: int = 4,
        torch_dtype: torch.dtype | None = None,
    ) -> TalkingCharacterTransformer3DModel:
        """Load a diffusers-format Wan transformer from a LOCAL directory and wrap it (new layers at init).

        ``path`` is either the transformer folder (``config.json`` + ``diffusion_pytorch_model*.safetensors``) or a
        Wan pipeline folder containing ``transformer/``. Never touches the network.
        """
        root = Path(path).expanduser()
        folder = root / "transformer" if (root / "transformer" / "config.json").is_file() else root
        layout = (
            f"expected {root}/config.json and {root}/diffusion_pytorch_model.safetensors (or sharded"
            " *.safetensors with diffusion_pytorch_model.safetensors.index.json), or the same inside"
            f" {root}/transformer/ (a diffusers Wan2.1 T2V transformer saved with save_pretrained)"
        )
        if not folder.is_dir() or not (folder / "config.json").is_file():
            raise WeightsError(f"no Wan transformer config in {root}: {layout}")
        if not any(folder.glob("*.safetensors")):
            raise WeightsError(f"no safetensors weights in {folder}: {layout}")
        try:
            wan = WanTransformer3DModel.from_pretrained(
                folder, local_files_only=True, use_safetensors=True, torch_dtype=torch_dtype
            )
        except (OSError, ValueError) as exc:
            raise WeightsError(f"could not load the Wan transformer from {folder}: {exc}; {layout}") from exc
        return cls.from_wan_model(
            wan,
            audio_dim=audio_dim,
            max_audio_streams=max_audio_streams,
            audio_block_indices=audio_block_indices,
            audio_window_neighbors=audio_window_neighbors,
            vae_scale_factor_temporal=vae_scale_factor_temporal,
        )
