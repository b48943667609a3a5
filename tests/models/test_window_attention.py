"""Speech-video window attention against a dense masked reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from talkgen.models.attention import SpeechWindowAttnProcessor, speech_windows
from talkgen.models.transformer_talking import TalkingCharacterBlock


def expected_window(latent: int, ratio: int, neighbors: int, num_audio: int) -> set[int]:
    """Video frames latent ``latent`` may hear, written from DESIGN.md (causal VAE: latent 0 = frame 0)."""
    own = [0] if latent == 0 else list(range(1 + ratio * (latent - 1), ratio * latent + 1))
    return {t for t in range(own[0] - neighbors, own[-1] + neighbors + 1) if 0 <= t < num_audio}


def dense_reference(attn, video: torch.Tensor, audio: torch.Tensor, frames: int, ratio: int, neighbors: int):
    """Full attention of every video token over every audio token with an explicit (N, T*S) mask."""
    batch, seq_len, _ = video.shape
    _, num_audio, streams, _ = audio.shape
    per_frame = seq_len // frames
    mask = torch.zeros(seq_len, num_audio, streams, dtype=torch.bool)
    for n in range(seq_len):
        for t in expected_window(n // per_frame, ratio, neighbors, num_audio):
            mask[n, t, :] = True
    q = attn.norm_q(attn.to_q(video)).unflatten(2, (attn.heads, -1)).transpose(1, 2)
    flat = audio.flatten(1, 2)
    k = attn.norm_k(attn.to_k(flat)).unflatten(2, (attn.heads, -1)).transpose(1, 2)
    v = attn.to_v(flat).unflatten(2, (attn.heads, -1)).transpose(1, 2)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.flatten(1))
    return attn.to_out[0](out.transpose(1, 2).flatten(2))


def test_windows_follow_the_causal_vae_layout():
    windows = speech_windows(num_latent_frames=3, num_audio_frames=9, temporal_ratio=4, neighbors=1)
    assert windows.index.shape == (3, 6)
    got = [set(windows.index[i][windows.mask[i]].tolist()) for i in range(3)]
    assert got == [{0, 1}, {0, 1, 2, 3, 4, 5}, {4, 5, 6, 7, 8}]  # last latent: frame 9 is past the clip


@pytest.mark.parametrize("frames", [1, 2, 3, 5])
@pytest.mark.parametrize("streams", [1, 3])
def test_window_attention_equals_dense_masked_reference(frames: int, streams: int):
    torch.manual_seed(frames * 10 + streams)
    block = TalkingCharacterBlock(dim=24, ffn_dim=32, num_heads=2, cross_attn_norm=True, with_audio=True)
    attn = block.audio_attn
    torch.nn.init.normal_(attn.to_out[0].weight)  # the zero init would make every output 0
    ratio, neighbors, per_frame = 4, 1, 6
    num_audio = ratio * (frames - 1) + 1 + 2  # longer than needed: the extra frames are real neighbours
    video = torch.randn(2, frames * per_frame, 24)
    audio = torch.randn(2, num_audio, streams, 24)
    windows = speech_windows(frames, num_audio, ratio, neighbors)
    out = SpeechWindowAttnProcessor()(attn, video, audio, windows=windows)
    ref = dense_reference(attn, video, audio, frames, ratio, neighbors)
    assert out.shape == (2, frames * per_frame, 24)
    assert (out - ref).abs().max().item() < 1e-5


def test_first_latent_ignores_audio_outside_its_window():
    torch.manual_seed(0)
    block = TalkingCharacterBlock(dim=24, ffn_dim=32, num_heads=2, with_audio=True)
    torch.nn.init.normal_(block.audio_attn.to_out[0].weight)
    video, audio = torch.randn(1, 12, 24), torch.randn(1, 5, 1, 24)
    windows = speech_windows(2, 5, 4, 1)
    base = SpeechWindowAttnProcessor()(block.audio_attn, video, audio, windows=windows)
    changed = audio.clone()
    changed[:, 2:] += 5.0  # frames 2..4: outside latent 0's window {0, 1}, inside latent 1's
    out = SpeechWindowAttnProcessor()(block.audio_attn, video, changed, windows=windows)
    assert torch.equal(out[:, :6], base[:, :6])
    assert not torch.allclose(out[:, 6:], base[:, 6:])


def test_audio_shorter_than_video_is_refused():
    with pytest.raises(ValueError, match="expected at least 9 audio frames"):
        speech_windows(num_latent_frames=3, num_audio_frames=8, temporal_ratio=4)


@pytest.mark.parametrize("streams", [1, 2])
def test_window_positions_equal_a_per_frame_reference(streams: int):
    """With ``windows.embedding`` each slot's token is its audio frame plus the slot's embedding: the same as
    attending, latent frame by latent frame, over exactly those tokens."""
    torch.manual_seed(streams)
    block = TalkingCharacterBlock(dim=24, ffn_dim=32, num_heads=2, cross_attn_norm=True, with_audio=True)
    attn = block.audio_attn
    torch.nn.init.normal_(attn.to_out[0].weight)
    frames, ratio, neighbors, per_frame = 3, 4, 1, 6
    num_audio = ratio * (frames - 1) + 1
    video = torch.randn(2, frames * per_frame, 24)
    audio = torch.randn(2, num_audio, streams, 24)
    plain = speech_windows(frames, num_audio, ratio, neighbors)
    windows = type(plain)(plain.index, plain.mask, torch.randn(plain.width, 24))
    out = SpeechWindowAttnProcessor()(attn, video, audio, windows=windows)
    for f in range(frames):
        slots = [k for k in range(windows.width) if windows.mask[f, k]]
        tokens = torch.cat([audio[:, windows.index[f, k]] + windows.embedding[k] for k in slots], dim=1)
        q = attn.norm_q(attn.to_q(video[:, f * per_frame : (f + 1) * per_frame]))
        k_, v = attn.norm_k(attn.to_k(tokens)), attn.to_v(tokens)
        split = [t.unflatten(2, (attn.heads, -1)).transpose(1, 2) for t in (q, k_, v)]
        ref = attn.to_out[0](F.scaled_dot_product_attention(*split).transpose(1, 2).flatten(2))
        assert (out[:, f * per_frame : (f + 1) * per_frame] - ref).abs().max().item() < 1e-5
    assert (out - SpeechWindowAttnProcessor()(attn, video, audio, windows=plain)).abs().max() > 1e-3
