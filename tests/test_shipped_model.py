"""The shipped model really talks: a held-out close-up generated at the default settings is in sync with its speech.

Runs on the CPU in well under a minute; it loads ``models/talkgen-tiny`` (committed with the repository).
"""

from __future__ import annotations

import time

import pytest

from talkgen.pipelines.loading import default_model_dir

# Measured on the shipped weights (models/talkgen-tiny/README.md): the model row of this case is far above the
# floor (shuffled audio), which sits near 0.
MIN_CORRELATION = 0.5
MAX_ABS_OFFSET = 2


@pytest.mark.skipif(default_model_dir() is None, reason="models/talkgen-tiny not present")
def test_shipped_model_lip_syncs_a_held_out_close_up():
    import torch

    from talkgen.eval.bench import BenchCase, pipeline_model, render_case
    from talkgen.eval.world import evaluate_world
    from talkgen.pipelines.loading import load_pipeline

    torch.set_num_threads(2)
    start = time.perf_counter()
    pipe, info = load_pipeline("talking")
    pipe.set_progress_bar_config(disable=True)
    case = BenchCase("close-up", 9001, 1, "cut", num_lines=1)  # a held-out scene seed, one line
    truth = render_case(case)
    frames = pipeline_model(pipe)(case, truth)  # the pipeline's default settings, as users run it
    floor_free = evaluate_world(frames, truth.truth, reference_frames=truth.frames)
    assert floor_free.correlation >= MIN_CORRELATION, floor_free
    assert abs(floor_free.offset) <= MAX_ABS_OFFSET, floor_free
    assert time.perf_counter() - start < 60
