"""Shared helpers of the tests' dummy components (the tests' pythonpath holds this folder)."""

from __future__ import annotations

import torch


def randomize_new_layers(model: torch.nn.Module, seed: int = 0) -> None:
    """Give a talking transformer's zero-initialised layers (audio output projections, condition embedding)
    random values, so that audio and conditions change the output of an untrained dummy."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "audio_attn.to_out" in name or "condition_" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.2)
