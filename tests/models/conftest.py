"""Tiny random components for the model tests (2 layers, 2 heads, 32x32 pixels = 4x4 latents, 9 frames)."""

from __future__ import annotations

import pytest
import torch
from dummies import TINY_WAN, randomize_new_layers

from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel

AUDIO_DIM = 6


@pytest.fixture
def tiny_wan_config() -> dict:
    """WanTransformer3DModel kwargs of the tiny test config."""
    return dict(TINY_WAN)


@pytest.fixture
def tiny_model() -> TalkingCharacterTransformer3DModel:
    torch.manual_seed(0)
    model = TalkingCharacterTransformer3DModel(**TINY_WAN, audio_dim=AUDIO_DIM).eval()
    randomize_new_layers(model)
    return model


@pytest.fixture
def tiny_inputs() -> dict[str, torch.Tensor]:
    """Batch of 2: latents (2, 4, 3, 4, 4), 3 latent frames = 9 video frames, 2 audio streams."""
    gen = torch.Generator().manual_seed(1)
    return {
        "hidden_states": torch.randn(2, 4, 3, 4, 4, generator=gen),
        "timestep": torch.tensor([100.0, 700.0]),
        "encoder_hidden_states": torch.randn(2, 5, 8, generator=gen),
        "audio_embeds": torch.randn(2, 2, 9, AUDIO_DIM, generator=gen),
    }
