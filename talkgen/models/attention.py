"""Speech-video window attention: each latent frame attends only to the audio of its own video frames.

The VAE is causal in time with ratio ``r`` (4 for Wan): latent frame 0 is video frame 0 and latent frame ``i >= 1``
covers video frames ``1 + r (i - 1) .. r i``. With ``n`` neighbouring frames on each side (MoCha uses ``n = 1``),
latent ``i >= 1`` sees video frames ``r (i - 1) + 1 - n .. r i + n`` (``r + 2n`` frames) and latent 0 sees frames
``-n .. n`` clipped to the clip (frames ``0 .. n``), padded to the same width and masked.

The attention is computed per latent frame in one batched call: queries ``(B, F * H * W, D)`` are reshaped to
``(B * F, H * W, D)`` and the audio tokens are gathered into ``(B * F, (r + 2n) * S, D)`` windows (``S`` streams),
so memory grows with the window, never with a dense ``(F H W) x (T S)`` mask. The module holding the weights is a
diffusers :class:`~diffusers.models.transformers.transformer_wan.WanAttention`; this file holds the processor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def num_video_frames_for_latents(num_latent_frames: int, temporal_ratio: int) -> int:
    """Video frames covered by ``num_latent_frames`` latents of a causal VAE: ``r (F - 1) + 1``."""
    if num_latent_frames < 1:
        raise ValueError(f"num_latent_frames must be >= 1, got {num_latent_frames}")
    if temporal_ratio < 1:
        raise ValueError(f"temporal_ratio must be >= 1, got {temporal_ratio}")
    return temporal_ratio * (num_latent_frames - 1) + 1


def latent_frame_span(latent_index: int, temporal_ratio: int) -> tuple[int, int]:
    """Inclusive video-frame range ``(first, last)`` encoded by one latent frame of a causal VAE."""
    if latent_index == 0:
        return 0, 0
    return 1 + temporal_ratio * (latent_index - 1), temporal_ratio * latent_index


@dataclass(frozen=True)
class SpeechWindows:
    """Gather indices of the audio window of every latent frame.

    Attributes:
        index: (F, W) int64 video-frame index of each window slot, clamped into ``[0, T - 1]``.
        mask: (F, W) bool, True where the slot is a real frame of the window (False = padding).
        embedding: (W, D) added to the audio tokens of each window slot before the key/value projections, so that
            a latent frame knows which of its video frames a token speaks for (None: a window is an unordered set
            of tokens, and the order of a latent's frames is lost).
    """

    index: torch.Tensor
    mask: torch.Tensor
    embedding: torch.Tensor | None = None

    @property
    def num_latent_frames(self) -> int:
        return self.index.shape[0]

    @property
    def width(self) -> int:
        return self.index.shape[1]


def speech_windows(
    num_latent_frames: int,
    num_audio_frames: int,
    temporal_ratio: int = 4,
    neighbors: int = 1,
    device: torch.device | str | None = None,
) -> SpeechWindows:
    """Build the per-latent-frame audio windows (see the module docstring).

    Args:
        num_latent_frames: F, latent frames of the clip.
        num_audio_frames: T, audio feature frames at the video frame rate; must be >= ``r (F - 1) + 1``.
        temporal_ratio: r, video frames per latent frame (after the first).
        neighbors: n, extra video frames on each side of a latent's own frames.

    Returns:
        :class:`SpeechWindows` with (F, r + 2n) index and mask.
    """
    if neighbors < 0:
        raise ValueError(f"neighbors must be >= 0, got {neighbors}")
    needed = num_video_frames_for_latents(num_latent_frames, temporal_ratio)
    if num_audio_frames < needed:
        raise ValueError(
            f"audio has {num_audio_frames} frames but {num_latent_frames} latent frames cover {needed} video frames;"
            f" expected at least {needed} audio frames at the video frame rate"
        )
    width = temporal_ratio + 2 * neighbors
    first = torch.tensor(
        [latent_frame_span(i, temporal_ratio)[0] for i in range(num_latent_frames)], dtype=torch.long, device=device
    )
    last = torch.tensor(
        [latent_frame_span(i, temporal_ratio)[1] for i in range(num_latent_frames)], dtype=torch.long, device=device
    )
    lo, hi = first - neighbors, last + neighbors
    index = lo[:, None] + torch.arange(width, dtype=torch.long, device=device)[None, :]  # (F, W)
    mask = (index <= hi[:, None]) & (index >= 0) & (index < num_audio_frames)
    return SpeechWindows(index=index.clamp(0, num_audio_frames - 1), mask=mask)


class SpeechWindowAttnProcessor:
    """Batched per-latent-frame cross-attention from video tokens to their audio window.

    Called by a ``WanAttention`` module (it holds ``to_q/to_k/to_v/to_out`` and the across-heads RMS norms, and
    optionally ``to_gate``: a per-token, per-head gate ``2 sigmoid(to_gate(x))`` on the attention's output).
    """

    def __call__(
        self,
        attn: torch.nn.Module,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
        windows: SpeechWindows | None = None,
    ) -> torch.Tensor:
        """Attend from video tokens to windowed audio tokens.

        Args:
            attn: the ``WanAttention`` holding the weights.
            hidden_states: (B, F * H * W, D) video tokens, frame-major (as Wan flattens them).
            encoder_hidden_states: (B, T, S, D) audio tokens at the video frame rate, S streams.
            attention_mask: unused (the window mask comes from ``windows``); must be None.
            rotary_emb: unused; must be None.
            windows: the :class:`SpeechWindows` for this clip (F latent frames).

        Returns:
            (B, F * H * W, D) attention output after ``to_out``.
        """
        if windows is None:
            raise ValueError("SpeechWindowAttnProcessor needs windows=speech_windows(...)")
        if attention_mask is not None or rotary_emb is not None:
            raise ValueError("SpeechWindowAttnProcessor takes its mask from `windows`; pass no attention_mask/rotary")
        batch, seq_len, _ = hidden_states.shape
        frames = windows.num_latent_frames
        if seq_len % frames != 0:
            raise ValueError(f"{seq_len} video tokens do not split into {frames} latent frames")
        _, num_audio, streams, _ = encoder_hidden_states.shape
        heads = attn.heads

        query = attn.norm_q(attn.to_q(hidden_states))  # (B, F*HW, inner)
        if windows.embedding is None:  # project each token once, then gather
            audio = encoder_hidden_states.flatten(1, 2)  # (B, T*S, D)
            key = attn.norm_k(attn.to_k(audio)).unflatten(1, (num_audio, streams))[:, windows.index]
            value = attn.to_v(audio).unflatten(1, (num_audio, streams))[:, windows.index]  # (B, F, W, S, inner)
        else:  # gather, mark each slot's place in its window, then project
            slots = encoder_hidden_states[:, windows.index]  # (B, F, W, S, D)
            slots = slots + windows.embedding.to(slots.dtype)[None, None, :, None, :]
            key, value = attn.norm_k(attn.to_k(slots)), attn.to_v(slots)

        # Each latent frame's window: (B, F, W, S, inner) -> (B*F, W*S, heads, d).
        key = key.flatten(0, 1).flatten(1, 2).unflatten(2, (heads, -1))
        value = value.flatten(0, 1).flatten(1, 2).unflatten(2, (heads, -1))
        query = query.reshape(batch * frames, seq_len // frames, heads, -1)
        key_mask = windows.mask[:, :, None].expand(-1, -1, streams).reshape(frames, 1, 1, -1)
        key_mask = key_mask.repeat(batch, 1, 1, 1)  # (B*F, 1, 1, W*S)

        out = F.scaled_dot_product_attention(
            query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), attn_mask=key_mask
        )  # (B*F, heads, HW, d)
        if getattr(attn, "to_gate", None) is not None:  # per token and head, 1 at first: 2 sigmoid(W x + b)
            gate = 2.0 * torch.sigmoid(attn.to_gate(hidden_states).float())  # (B, F*HW, heads)
            gate = gate.reshape(batch * frames, seq_len // frames, heads).transpose(1, 2)[..., None]
            out = out * gate.to(out.dtype)
        out = out.transpose(1, 2).reshape(batch, seq_len, -1).type_as(hidden_states)
        out = attn.to_out[0](out)
        return attn.to_out[1](out)
