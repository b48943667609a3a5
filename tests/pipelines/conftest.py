"""Tiny random pipeline for the pipeline tests (2 layers, 16x16 pixels, 9 frames, 2 steps)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from talkgen.pipelines.pipeline_talking import TalkingCharacterPipeline, build_tiny_pipeline


def _randomize_new_layers(pipe: TalkingCharacterPipeline, seed: int = 0) -> None:
    """Give the zero-initialised layers random values so that audio and conditions change the output."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in pipe.transformer.named_parameters():
            if "audio_attn.to_out" in name or "condition_" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.2)


@pytest.fixture(scope="session")
def tiny_pipe() -> TalkingCharacterPipeline:
    pipe = build_tiny_pipeline(seed=0, num_layers=2)
    _randomize_new_layers(pipe)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="session")
def speech() -> np.ndarray:
    """Two 1 s streams of 16 kHz noise-like 'speech' (S=2, N)."""
    rng = np.random.default_rng(0)
    return (rng.standard_normal((2, 16_000)) * 0.1).astype(np.float32)
