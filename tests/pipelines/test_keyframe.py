"""The keyframe stage: a pipeline with a keyframe transformer draws each take's first frame from the prompt and
generates the take with it as the reference; an image, or ``keyframe=False``, bypasses it; dubbing never loads it."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch
from dummies import DUMMY, dummy_pipeline

from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel
from talkgen.pipelines.defaults import KEYFRAME_STEPS
from talkgen.pipelines.loading import load_pipeline

CALL = {"num_frames": 9, "height": 16, "width": 16, "fps": 25.0, "num_inference_steps": 2}


def _keyframe_transformer(seed: int = 1) -> TalkingCharacterTransformer3DModel:
    torch.manual_seed(seed)
    return TalkingCharacterTransformer3DModel(**{**DUMMY.transformer, "num_layers": 1, "audio_block_indices": []})


@pytest.fixture(scope="module")
def keyframe_pipe():
    pipe = dummy_pipeline("talking")
    pipe.register_modules(keyframe_transformer=_keyframe_transformer().eval())
    return pipe


def _latents(pipe, speech, **kwargs):
    generator = torch.Generator().manual_seed(0)
    return pipe("Person1 talks", speech, generator=generator, output_type="latent", **CALL, **kwargs).frames


def test_the_drawn_first_frame_is_the_takes_reference(keyframe_pipe, speech, monkeypatch):
    drawn, seen = [], []
    draw, forward = keyframe_pipe.draw_keyframe, keyframe_pipe.transformer.forward
    monkeypatch.setattr(keyframe_pipe, "draw_keyframe", lambda *a, **k: drawn.append(draw(*a, **k)) or drawn[-1])
    monkeypatch.setattr(
        keyframe_pipe.transformer, "forward", lambda *a, **k: seen.append(k["reference_latents"]) or forward(*a, **k)
    )
    _latents(keyframe_pipe, speech)
    assert len(drawn) == 1 and drawn[0].shape == (1, DUMMY.transformer["in_channels"], 1, 2, 2)
    assert torch.isfinite(drawn[0]).all() and drawn[0].abs().sum() > 0
    assert seen and all(torch.equal(r[:1], drawn[0]) for r in seen)  # every pass of every step sees that frame


def test_an_image_or_keyframe_false_bypasses_the_keyframe_transformer(keyframe_pipe, dummy_pipe, speech, monkeypatch):
    with_keyframe = _latents(keyframe_pipe, speech)
    without = _latents(keyframe_pipe, speech, keyframe=False)
    assert not torch.allclose(with_keyframe, without)
    torch.testing.assert_close(without, _latents(dummy_pipe, speech))  # the same weights without the stage

    def refuse(*args, **kwargs):
        raise AssertionError("draw_keyframe ran although an image was given")

    monkeypatch.setattr(keyframe_pipe, "draw_keyframe", refuse)
    image = np.full((16, 16, 3), 90, dtype=np.uint8)
    torch.testing.assert_close(_latents(keyframe_pipe, speech, image=image), _latents(dummy_pipe, speech, image=image))


BAD_KEYFRAME = [{"keyframe_steps": 0}, {"keyframe_text_scale": -1.0}, {"keyframe_text_scale": math.nan}]


@pytest.mark.parametrize("bad", BAD_KEYFRAME)
def test_bad_keyframe_settings_are_refused(keyframe_pipe, speech, bad):
    with pytest.raises(ValueError, match="keyframe_steps must be >= 1 and keyframe_text_scale >= 0"):
        _latents(keyframe_pipe, speech, **bad)


def test_text_guidance_steers_the_drawn_frame(keyframe_pipe):
    prompt = keyframe_pipe.encode_text(["Person1 has green skin"], torch.device("cpu"))
    negative = keyframe_pipe.encode_text([""], torch.device("cpu"))

    def draw(text_scale):
        generator = torch.Generator().manual_seed(0)
        return keyframe_pipe.draw_keyframe(prompt, negative, 16, 16, 2, text_scale, generator)

    unguided, guided = draw(1.0), draw(4.0)
    assert not torch.allclose(unguided, guided)
    torch.testing.assert_close(draw(4.0), guided)  # seeded


def test_a_saved_pipeline_keeps_its_keyframe_transformer_and_dubbing_skips_it(keyframe_pipe, tmp_path, caplog):
    keyframe_pipe.save_pretrained(tmp_path)
    talking, _ = load_pipeline("talking", tmp_path)
    assert isinstance(talking.keyframe_transformer, TalkingCharacterTransformer3DModel)
    assert talking.keyframe_transformer.config.audio_block_indices == []
    with caplog.at_level(logging.WARNING):
        lipsync, _ = load_pipeline("lipsync", tmp_path)
    assert lipsync.keyframe_transformer is None
    assert "not expected" not in caplog.text


def _generate_counting(pipe, method: str, run, monkeypatch, flag: list[str]) -> tuple[int, dict]:
    """``talkgen generate`` (``run``: the ``talkgen_generate`` fixture) with ``flag``: how often
    ``TalkingCharacterPipeline.method`` ran, and the manifest."""
    from talkgen.pipelines.pipeline_talking import TalkingCharacterPipeline

    calls = []
    original = getattr(TalkingCharacterPipeline, method)
    monkeypatch.setattr(TalkingCharacterPipeline, method, lambda *a, **k: calls.append(1) or original(*a, **k))
    manifest = run(pipe, flag)
    return len(calls), manifest


@pytest.mark.parametrize("flag, drawn", [([], True), (["--no-keyframe"], False)])
def test_talkgen_generate_draws_first_frames_unless_told_not_to(
    keyframe_pipe, tmp_path, monkeypatch, flag, drawn, talkgen_generate
):
    calls, manifest = _generate_counting(keyframe_pipe, "draw_keyframe", talkgen_generate, monkeypatch, flag)
    assert bool(calls) is drawn and manifest["keyframe"] is drawn


@pytest.mark.parametrize("flag, retimed", [([], True), (["--no-retime"], False)])
def test_talkgen_generate_retimes_the_mouths_unless_told_not_to(
    tmp_path, monkeypatch, flag, retimed, talkgen_generate
):
    from talkgen.models.mouth_head import SpeechMouthHead
    from talkgen.models.mouth_locator import MouthLocatorNet

    pipe = dummy_pipeline("talking")
    pipe.register_modules(
        mouth_head=SpeechMouthHead(feature_dim=pipe.audio_encoder.feature_dim, context=1),
        mouth_locator=MouthLocatorNet(size=16, width=16),
    )
    calls, manifest = _generate_counting(pipe, "retime_mouths", talkgen_generate, monkeypatch, flag)
    assert bool(calls) is retimed and manifest["retimed"] is retimed


@pytest.mark.parametrize("flag, anchor", [([], None), (["--reference-anchor", "1"], 1.0)])
def test_talkgen_generate_passes_the_reference_anchor(
    keyframe_pipe, tmp_path, monkeypatch, flag, anchor, talkgen_generate
):
    from talkgen.pipelines.pipeline_talking import TalkingCharacterPipeline

    seen = []
    call = TalkingCharacterPipeline.__call__

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("reference_anchor"))
        return call(self, *args, **kwargs)

    monkeypatch.setattr(TalkingCharacterPipeline, "__call__", spy)
    _, manifest = _generate_counting(keyframe_pipe, "draw_keyframe", talkgen_generate, monkeypatch, flag)
    assert seen and all(value == anchor for value in seen)  # None: the model's own setting
    assert manifest["reference_anchor"] == anchor  # the saved dummy folder sets none


@pytest.mark.parametrize("flag, steps", [([], KEYFRAME_STEPS), (["--keyframe-steps", "2"], 2)])
def test_talkgen_generate_passes_the_keyframe_steps(
    keyframe_pipe, tmp_path, monkeypatch, flag, steps, talkgen_generate
):
    from talkgen.pipelines.pipeline_talking import TalkingCharacterPipeline

    seen = []
    draw = TalkingCharacterPipeline.draw_keyframe

    def spy(self, prompt, negative, height, width, num_inference_steps, *args, **kwargs):
        seen.append(num_inference_steps)
        return draw(self, prompt, negative, height, width, num_inference_steps, *args, **kwargs)

    monkeypatch.setattr(TalkingCharacterPipeline, "draw_keyframe", spy)
    _, manifest = _generate_counting(keyframe_pipe, "draw_keyframe", talkgen_generate, monkeypatch, flag)
    assert seen and all(value == steps for value in seen)
    assert manifest["keyframe"] is True and manifest["keyframe_steps"] == steps


def test_a_scene_render_refuses_keyframe_steps_under_1():
    from talkgen.errors import ConfigError
    from talkgen.pipelines.generate import GenerateOptions
    from talkgen.pipelines.render_plan import SceneRenderConfig

    for make in (SceneRenderConfig, lambda **k: GenerateOptions(random_weights=True, **k)):
        with pytest.raises(ConfigError, match="keyframe_steps must be >= 1, got 0"):
            make(keyframe_steps=0)


def test_talkgen_generate_refuses_a_reference_anchor_outside_0_1(tmp_path):
    import typer
    from typer.testing import CliRunner

    from talkgen.commands.generate import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    args = ["generate", "samples/scenes/monologue.yaml", "-o", str(tmp_path / "out.mp4"), "--random-weights"]
    result = CliRunner().invoke(app, [*args, "--reference-anchor", "2"])
    assert result.exit_code != 0 and "--reference-anchor" in result.output
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("anchor", [-0.1, 1.5, float("nan")])
def test_generate_options_refuse_a_reference_anchor_outside_0_1(anchor):
    # The web app and Python callers reach GenerateOptions without the CLI's range check.
    from talkgen.errors import ConfigError
    from talkgen.pipelines.generate import GenerateOptions

    with pytest.raises(ConfigError, match="reference_anchor must lie in"):
        GenerateOptions(random_weights=True, reference_anchor=anchor)
    assert GenerateOptions(random_weights=True, reference_anchor=1.0).reference_anchor == 1.0
