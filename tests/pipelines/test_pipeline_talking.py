from __future__ import annotations

import numpy as np
import pytest
import torch

from talkgen.pipelines.guidance import GuidanceConfig
from talkgen.pipelines.pipeline_talking import (
    TalkingCharacterPipeline,
    TalkingCharacterPipelineOutput,
    plan_windows,
)

TINY_CALL = {"num_frames": 9, "height": 16, "width": 16, "fps": 25.0, "num_inference_steps": 2}


def _run(pipe, speech, seed=0, **kwargs):
    call = {**TINY_CALL, **kwargs}
    return pipe("a woman talks to camera", speech, generator=torch.Generator().manual_seed(seed), **call)


def _step_inputs(pipe, speech, batch=1):
    gen = torch.Generator().manual_seed(1)
    latents = torch.randn(batch, pipe.transformer.config.in_channels, 3, 2, 2, generator=gen)
    prompt = pipe.encode_text(["a man speaks"] * batch, torch.device("cpu"))
    negative = pipe.encode_text([""] * batch, torch.device("cpu"))
    audio = pipe.audio_encoder(torch.as_tensor(speech)[None].expand(batch, -1, -1), 25.0, 9)
    return latents, prompt, negative, audio


def test_output_shapes_and_range(dummy_pipe, speech):
    out = _run(dummy_pipe, speech)
    assert isinstance(out, TalkingCharacterPipelineOutput)
    assert out.frames.shape == (1, 9, 16, 16, 3)
    assert np.isfinite(out.frames).all() and out.frames.min() >= 0 and out.frames.max() <= 1
    latents = _run(dummy_pipe, speech, output_type="latent", return_dict=False)[0]
    assert latents.shape == (1, dummy_pipe.transformer.config.in_channels, 3, 2, 2)


def test_reference_image_and_batch(dummy_pipe, speech):
    image = np.full((16, 16, 3), 128, dtype=np.uint8)
    out = dummy_pipe(
        ["one", "two"], speech, image=image, generator=torch.Generator().manual_seed(0), output_type="pt", **TINY_CALL
    )
    assert out.frames.shape == (2, 9, 3, 16, 16)


def test_deterministic_under_seed(dummy_pipe, speech):
    a = _run(dummy_pipe, speech, seed=3, output_type="latent").frames
    b = _run(dummy_pipe, speech, seed=3, output_type="latent").frames
    c = _run(dummy_pipe, speech, seed=4, output_type="latent").frames
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("scales", [(5.0, 4.0), (5.0, 0.0), (1.0, 3.0), (0.0, 0.0)])
def test_batched_passes_equal_unbatched(dummy_pipe, speech, scales):
    latents, prompt, negative, audio = _step_inputs(dummy_pipe, speech, batch=2)
    t = torch.tensor([700.0])
    conditions = {"reference_latents": None, "motion_latents": latents[:, :, :1]}
    batched = dummy_pipe.guided_velocity(latents, t, *scales, prompt, negative, audio, **conditions, batched=True)
    single = dummy_pipe.guided_velocity(latents, t, *scales, prompt, negative, audio, **conditions, batched=False)
    torch.testing.assert_close(batched, single, rtol=1e-4, atol=5e-5)


@pytest.mark.parametrize(
    ("scales", "passes"),
    [((5.0, 4.0), 3), ((5.0, 0.0), 2), ((1.0, 3.0), 2), ((1.0, 1.0), 1), ((0.0, 0.0), 1)],
)
def test_each_guidance_term_switchable(dummy_pipe, speech, scales, passes, monkeypatch):
    latents, prompt, negative, audio = _step_inputs(dummy_pipe, speech)
    batches = []
    forward = dummy_pipe.transformer.forward

    def counting(*args, **kwargs):
        batches.append(kwargs["hidden_states"].shape[0])
        return forward(*args, **kwargs)

    monkeypatch.setattr(dummy_pipe.transformer, "forward", counting)
    t = torch.tensor([500.0])
    v = dummy_pipe.guided_velocity(latents, t, *scales, prompt, negative, audio)
    assert batches == [passes]  # one batched forward holding every needed pass
    silent = dummy_pipe.audio_encoder(torch.zeros(1, 2, 16_000), 25.0, 9)
    v_silent = dummy_pipe.guided_velocity(latents, t, *scales, prompt, negative, silent)
    other_negative = dummy_pipe.encode_text(["blurry"], torch.device("cpu"))
    v_neg = dummy_pipe.guided_velocity(latents, t, *scales, prompt, other_negative, audio)
    audio_used = scales[1] != 0  # the audio pass is skipped when its scale is 0
    negative_used = scales[0] != 1  # the unconditional pass is skipped when s_txt = 1
    assert torch.allclose(v, v_silent, atol=1e-6) is not audio_used
    assert torch.allclose(v, v_neg, atol=1e-6) is not negative_used


def test_audio_term_changes_the_video(dummy_pipe, speech):
    on = _run(dummy_pipe, speech, output_type="latent", guidance=GuidanceConfig.constant(3.0, 3.0)).frames
    off = _run(dummy_pipe, speech, output_type="latent", guidance=GuidanceConfig.constant(3.0, 0.0)).frames
    off_silent = _run(
        dummy_pipe, np.zeros_like(speech), output_type="latent", guidance=GuidanceConfig.constant(3.0, 0.0)
    ).frames
    assert not torch.allclose(on, off)
    torch.testing.assert_close(off, off_silent)  # audio term off: the audio is not used at all


def test_save_and_load_round_trip(dummy_pipe, speech, tmp_path):
    dummy_pipe.save_pretrained(tmp_path)
    assert (tmp_path / "model_index.json").is_file()
    loaded = TalkingCharacterPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert type(loaded.audio_encoder) is type(dummy_pipe.audio_encoder)
    assert loaded.config.max_text_length == dummy_pipe.config.max_text_length
    before = _run(dummy_pipe, speech, output_type="latent").frames
    after = _run(loaded, speech, output_type="latent").frames
    torch.testing.assert_close(before, after)


def test_plan_windows():
    assert plan_windows(3, 3, 1).starts == (0,)
    plan = plan_windows(7, 3, 1)
    assert plan.starts == (0, 2, 4) and plan.padded_latent_frames == 7
    plan = plan_windows(8, 3, 1)
    assert plan.starts == (0, 2, 4, 6) and plan.padded_latent_frames == 9
    with pytest.raises(ValueError, match="motion_latent_frames"):
        plan_windows(7, 3, 3)


def test_long_take_three_windows(dummy_pipe, speech, monkeypatch):
    motions = []
    forward = dummy_pipe.transformer.forward

    def spy(*args, **kwargs):
        motion = kwargs.get("motion_latents")
        motions.append(None if motion is None else tuple(motion.shape))
        return forward(*args, **kwargs)

    monkeypatch.setattr(dummy_pipe.transformer, "forward", spy)
    steps = []
    out = _run(
        dummy_pipe,
        speech,
        num_frames=25,
        window_frames=9,
        callback_on_step_end=lambda pipe, i, t, kw: steps.append(i) or kw,
    )
    assert out.frames.shape == (1, 25, 16, 16, 3)  # 3 windows of 3 latents overlapping by 1 = 7 latents
    assert len(steps) == 3 * TINY_CALL["num_inference_steps"]
    assert motions[0] is None and len(motions) == 6
    assert all(m is not None and m[2] == 1 for m in motions[2:])


def test_reference_anchor_blends_the_reference_into_each_later_windows_motion(dummy_pipe, speech, monkeypatch):
    seen = []
    forward = dummy_pipe.transformer.forward

    def spy(*args, **kwargs):
        seen.append((kwargs.get("reference_latents"), kwargs.get("motion_latents")))
        return forward(*args, **kwargs)

    monkeypatch.setattr(dummy_pipe.transformer, "forward", spy)
    image = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)

    def motions(**kwargs):
        seen.clear()
        _run(dummy_pipe, speech, image=image, num_frames=25, window_frames=9, output_type="latent", **kwargs)
        return [(ref, motion) for ref, motion in seen if motion is not None]

    later = motions(reference_anchor=1.0)
    assert len(later) == 4  # two later windows, two steps each
    for ref, motion in later:
        torch.testing.assert_close(motion, ref)  # every later window starts from the reference
    free = motions()  # the dummy's config has no anchor: the previous window's last latent alone
    assert all((motion - ref).abs().max() > 1e-3 for ref, motion in free)
    half = motions(reference_anchor=0.5)
    for (ref, motion), (_, own) in zip(half, free[:2], strict=False):  # the first later window follows the same one
        torch.testing.assert_close(motion, (ref + own) / 2)
    dummy_pipe.register_to_config(reference_anchor=1.0)  # a model folder's default
    try:
        for ref, motion in motions():
            torch.testing.assert_close(motion, ref)
    finally:
        dummy_pipe.register_to_config(reference_anchor=None)
    with pytest.raises(ValueError, match="reference_anchor"):
        _run(dummy_pipe, speech, reference_anchor=1.5)
    with pytest.raises(ValueError, match="reference_anchor"):
        type(dummy_pipe)(**dummy_pipe.components, reference_anchor=-0.1)


def test_bad_inputs(dummy_pipe, speech):
    with pytest.raises(ValueError, match="num_frames"):
        _run(dummy_pipe, speech, num_frames=10)
    with pytest.raises(ValueError, match="multiples"):
        _run(dummy_pipe, speech, height=20)
    with pytest.raises(ValueError, match="latents"):
        _run(dummy_pipe, speech, latents=torch.zeros(1, dummy_pipe.transformer.config.in_channels, 2, 2, 2))


def test_pil_output_callbacks_and_interrupt_follow_diffusers(dummy_pipe, speech):
    """Standard output types; ``callback_on_step_end`` gets the tensors named in ``..._tensor_inputs`` and may
    replace them or interrupt the call; a diffusers ``PipelineCallback`` is accepted."""
    from diffusers.callbacks import PipelineCallback

    pil = _run(dummy_pipe, speech, output_type="pil").frames
    assert len(pil) == 1 and len(pil[0]) == 9 and pil[0][0].size == (16, 16)
    reference = _run(dummy_pipe, speech, output_type="latent").frames
    steps = []

    def stop_after_first(pipe, step, timestep, tensors):
        steps.append((step, sorted(tensors)))
        pipe._interrupt = True
        return {"latents": torch.zeros_like(tensors["latents"])}

    stopped = _run(dummy_pipe, speech, output_type="latent", callback_on_step_end=stop_after_first,
                   callback_on_step_end_tensor_inputs=["latents"]).frames  # fmt: skip
    assert steps == [(0, ["latents"])]  # the second step was skipped
    assert torch.count_nonzero(stopped) == 0 and torch.count_nonzero(reference) > 0
    assert dummy_pipe.interrupt  # until the next call resets it:
    assert torch.equal(_run(dummy_pipe, speech, output_type="latent").frames, reference)
    with pytest.raises(ValueError, match="prompt_embeds"):
        _run(
            dummy_pipe,
            speech,
            callback_on_step_end=stop_after_first,
            callback_on_step_end_tensor_inputs=["prompt_embeds"],
        )

    class Count(PipelineCallback):
        tensor_inputs = ["latents"]

        def callback_fn(self, pipeline, step_index, timestep, callback_kwargs):
            steps.append(step_index)
            return callback_kwargs

    assert torch.equal(_run(dummy_pipe, speech, output_type="latent", callback_on_step_end=Count()).frames, reference)
    assert steps[-2:] == [0, 1]
