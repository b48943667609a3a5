from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from talkgen.commands.generate import register
from talkgen.errors import WeightsError
from talkgen.pipelines.render_plan import (
    SceneRenderConfig,
    clip_streams,
    dialogue_track,
    render_scene,
    subtitles_srt,
)
from talkgen.prompts import CachedTiming, estimate_timing, load_scenes, plan_scene

SCRIPT = "samples/scenes/dialogue.yaml"


@pytest.fixture(scope="module")
def plan():
    scene = load_scenes(SCRIPT, voices=None)[0]
    return plan_scene(scene, CachedTiming(estimate_timing))


def _waves(plan, rate=16_000):
    """A constant 'speech' per line (value = line number) with the planned duration."""
    return [np.full(round((pl.end - pl.start) * rate), 0.1 * (pl.index + 1), np.float32) for pl in plan.lines]


def test_dialogue_track_and_streams(plan):
    waves = _waves(plan)
    track = dialogue_track(plan, waves)
    assert track.shape == (round(plan.duration * 16_000),)
    first = plan.lines[0]
    assert track[round((first.start + first.end) / 2 * 16_000)] == pytest.approx(0.1)
    for clip in plan.clips:
        tags, streams = clip_streams(clip, waves)
        assert streams.shape == (len(tags), round(clip.duration * 16_000))
        for seg in clip.segments:
            if seg.tag in tags:
                mid = round((seg.clip_offset + seg.duration / 2) * 16_000)
                assert streams[tags.index(seg.tag), mid] == pytest.approx(0.1 * (seg.line_index + 1))


def test_subtitles(plan):
    srt = subtitles_srt(plan)
    assert srt.startswith("1\n00:00:")
    assert srt.count("-->") == len(plan.lines)


def test_render_scene_frame_count(dummy_pipe):
    # trio: 2 clips (113 + 49 frames) with 3 character streams each, 5 windows of 41 frames in all
    plan = plan_scene(load_scenes("samples/scenes/trio.yaml", voices=None)[0], CachedTiming(estimate_timing))
    config = SceneRenderConfig(seed=1, num_inference_steps=1, height=16, width=16, window_frames=41)
    seen = []
    result = render_scene(dummy_pipe, plan, config, waves=_waves(plan), on_step=lambda *step: seen.append(step))
    assert result.frames.shape == (plan.num_frames, 16, 16, 3)
    assert result.audio.shape == (round(plan.duration * 16_000),)
    # progress counts every window's steps: it never goes back, and ends at the scene's total
    assert seen == [(0, 1, 5), (0, 2, 5), (0, 3, 5), (1, 4, 5), (1, 5, 5)]


def test_render_config_validation():
    with pytest.raises(ValueError, match="window_frames"):
        SceneRenderConfig(window_frames=8)
    with pytest.raises(ValueError, match="multiples of 16"):
        SceneRenderConfig(height=20)
    with pytest.raises(ValueError, match="reference_anchor"):
        SceneRenderConfig(reference_anchor=-0.5)


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    return app


def test_generate_without_weights_is_a_weights_error(tmp_path):
    result = CliRunner().invoke(_app(), ["generate", SCRIPT, "-o", str(tmp_path / "out.mp4"), "--model", "nowhere"])
    assert isinstance(result.exception, WeightsError)
    assert "model_index.json" in str(result.exception)


def test_generate_end_to_end(dummy_pipe, tmp_path):
    model = tmp_path / "model"
    dummy_pipe.save_pretrained(model)
    out = tmp_path / "out.mp4"
    args = ["generate", "samples/scenes/monologue.yaml", "-o", str(out), "--model", str(model)]
    result = CliRunner().invoke(_app(), [*args, "--size", "16", "--steps", "1", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0 and out.with_suffix(".srt").is_file()
    manifest = json.loads(out.with_suffix(".manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["model"]["hashes"]
    assert set(manifest["timings"]) >= {"speech_s", "generate_s", "encode_s", "total_s"}


def test_render_scene_draws_its_noise_on_the_cpu_for_any_device(dummy_pipe, plan):
    # A seed must render the same scene on a GPU as on a CPU: the takes' generators stay on the CPU (the pipeline
    # moves the noise to its device). The proxy reports a GPU as its device and records what each take is given.
    import torch

    class OnGpu:
        _execution_device = torch.device("cuda")

        def __init__(self):
            self.generators = []

        def __getattr__(self, name):
            return getattr(dummy_pipe, name)

        def __call__(self, *args, generator=None, **kwargs):
            self.generators.append((generator.device.type, generator.initial_seed()))
            return dummy_pipe(*args, generator=generator, **kwargs)

    proxy = OnGpu()
    config = SceneRenderConfig(seed=7, num_inference_steps=1, height=16, width=16)
    render_scene(proxy, plan, config, waves=_waves(plan))
    assert proxy.generators == [("cpu", 7 + clip.index) for clip in plan.clips]
