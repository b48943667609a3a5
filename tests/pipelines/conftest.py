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


@pytest.fixture
def talkgen_generate(tmp_path):
    """``run(pipe, flags) -> manifest``: ``talkgen generate`` of the sample monologue at 16 px and 1 step with ``pipe``
    saved as the model and ``flags`` added (spy on the pipeline before calling it)."""
    import json

    import typer
    from typer.testing import CliRunner

    from talkgen.commands.generate import register

    def run(pipe, flags: list[str]) -> dict:
        model = tmp_path / "model"
        pipe.save_pretrained(model)
        app = typer.Typer()
        register(app)
        app.command("noop")(lambda: None)
        out = tmp_path / "out.mp4"
        args = ["generate", "samples/scenes/monologue.yaml", "-o", str(out), "--model", str(model), "--size", "16"]
        result = CliRunner().invoke(app, [*args, "--steps", "1", *flags])
        assert result.exit_code == 0, result.output
        return json.loads(out.with_suffix(".manifest.json").read_text())

    return run
