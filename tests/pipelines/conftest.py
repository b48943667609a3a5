"""Tiny random pipeline for the pipeline tests (2 layers, 16x16 pixels, 9 frames, 2 steps)."""

from __future__ import annotations

import numpy as np
import pytest
from dummies import randomize_new_layers

from talkgen.pipelines.pipeline_talking import TalkingCharacterPipeline, build_tiny_pipeline


@pytest.fixture(scope="session")
def tiny_pipe() -> TalkingCharacterPipeline:
    pipe = build_tiny_pipeline(seed=0, num_layers=2)
    randomize_new_layers(pipe.transformer)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="session")
def speech() -> np.ndarray:
    """Two 1 s streams of 16 kHz noise-like 'speech' (S=2, N)."""
    rng = np.random.default_rng(0)
    return (rng.standard_normal((2, 16_000)) * 0.1).astype(np.float32)
