"""The pipeline tests' dummy pipeline (tests/dummies.py: test-sized components) and speech."""

from __future__ import annotations

import numpy as np
import pytest
from dummies import dummy_pipeline

from talkgen.pipelines.pipeline_talking import TalkingCharacterPipeline


@pytest.fixture(scope="session")
def dummy_pipe() -> TalkingCharacterPipeline:
    return dummy_pipeline("talking")


@pytest.fixture(scope="session")
def speech() -> np.ndarray:
    """Two 1 s streams of 16 kHz noise-like 'speech' (S=2, N)."""
    rng = np.random.default_rng(0)
    return (rng.standard_normal((2, 16_000)) * 0.1).astype(np.float32)
