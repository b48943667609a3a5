"""FLOP counter against a hand count and torch's FlopCounterMode; the preset registry."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from talkgen.errors import ConfigError
from talkgen.models.flops import transformer_flops, video_flops
from talkgen.models.presets import PRESETS, build_transformer, build_vae, get_preset


def hand_count_tiny_128x128x25() -> int:
    """The tiny preset at 128x128x25, one audio stream, 64 text tokens, written out by hand.

    Latents 7x16x16, patch 1x2x2 -> N = 7*8*8 = 448 tokens; D = 256; 8 layers; FFN 768; text 64 x 256;
    audio T = 25 frames x 1 stream, window 6 slots; 2 FLOPs per multiply-add.
    """
    n, d, layers, ffn, lt, ta, win = 448, 256, 8, 768, 64, 25, 6
    per_block = (
        8 * n * d * d
        + 4 * n * n * d  # self-attention: q, k, v, out projections + QK^T and AV
        + 4 * n * d * d
        + 4 * lt * d * d
        + 4 * n * lt * d  # text cross-attention
        + 4 * n * d * d
        + 4 * ta * d * d
        + 4 * n * win * d  # speech window attention
        + 4 * n * d * ffn  # feed-forward
    )
    embed = 2 * n * 64 * d  # patch conv: 16 channels x 4 pixels
    embed += 2 * (128 * d + d * d + d * 6 * d)  # timestep MLP and modulation
    embed += 2 * lt * (256 * d + d * d)  # text projection
    embed += 2 * ta * (256 * d + d * d)  # audio projection
    out = 2 * n * d * 64
    return layers * per_block + embed + out


def test_flops_match_a_hand_count_for_tiny():
    counted = video_flops(get_preset("tiny").config("transformer"), 25, 128, 128, text_len=64, num_streams=1)
    assert abs(counted.total - hand_count_tiny_128x128x25()) / hand_count_tiny_128x128x25() < 0.05


@pytest.mark.parametrize("blocks,streams,conditions", [(None, 2, False), ([1], 1, True), (None, None, False)])
def test_flops_match_torch_flop_counter(tiny_model, tiny_inputs, blocks, streams, conditions, tiny_wan_config):
    from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel

    model = TalkingCharacterTransformer3DModel(**tiny_wan_config, audio_dim=6, audio_block_indices=blocks)
    inputs = dict(tiny_inputs)
    if streams is None:
        inputs.pop("audio_embeds")
    else:
        inputs["audio_embeds"] = inputs["audio_embeds"][:, :streams]
    if conditions:
        inputs["source_latents"] = torch.randn(2, 4, 3, 4, 4)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter:  # the math kernel's matmuls are visible
        model(**inputs)
    ours = transformer_flops(
        model.config, 3, 4, 4, text_len=5, num_streams=streams, batch_size=2, with_conditions=conditions
    )
    assert abs(ours.total - counter.get_total_flops()) / counter.get_total_flops() < 0.05


def test_tiny_preset_fits_the_cpu_budget():
    model = build_transformer("tiny")
    assert sum(p.numel() for p in model.parameters()) <= 15_000_000
    vae = build_vae("tiny")
    with torch.no_grad():
        latents = vae.encode(torch.randn(1, 3, 9, 32, 32)).latent_dist.mean
    assert latents.shape == (1, 96, 3, 4, 4)  # the patch codec: 96 components of 8x8x4-frame patches
    assert get_preset("tiny").latent_shape() == (3, 16, 16)  # the trained window: 9 frames at 128 px
    assert build_vae({"kind": "wan", **get_preset("wan-1.3b").config("vae")}).config.z_dim == 16
    with pytest.raises(ConfigError, match="unknown vae kind"):
        build_vae({"kind": "jpeg"})


def test_wan_preset_has_wan_1_3b_shapes():
    with torch.device("meta"):
        model = build_transformer("wan-1.3b")
    wan_params = sum(
        p.numel() for n, p in model.named_parameters() if "audio" not in n and not n.startswith("condition_")
    )
    assert 1.3e9 < wan_params < 1.5e9  # Wan2.1-T2V-1.3B has 1.42B parameters
    assert get_preset("wan-1.3b").latent_shape() == (21, 60, 104)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="tiny"):
        get_preset("huge")
    assert set(PRESETS) == {"tiny", "wan-1.3b"}
    with pytest.raises(ConfigError, match="num_frames"):
        get_preset("tiny").latent_shape(num_frames=24)
