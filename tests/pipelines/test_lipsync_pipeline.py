"""LipSyncPipeline with tiny random components on CPU (2 layers, 16x16 pixels, 9 frames, 2 steps)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dummies import dummy_pipeline

from talkgen.errors import WeightsError
from talkgen.pipelines.loading import load_pipeline
from talkgen.pipelines.mouth import MouthTrack, edit_mask
from talkgen.pipelines.pipeline_lipsync import (
    LipSyncPipeline,
    LipSyncPipelineOutput,
)

FPS = 25.0
SR = 16_000


@pytest.fixture(scope="module")
def pipe() -> LipSyncPipeline:
    return dummy_pipeline("lipsync")


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, MouthTrack]:
    """9 frames of 16x16 noise video; one mouth per frame except frame 4 (no face)."""
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (9, 16, 16, 3), dtype=np.uint8)
    boxes = np.tile(np.array([5, 9, 9, 12], np.float32), (9, 1))
    boxes[:, [0, 2]] += np.arange(9)[:, None] * 0.25  # the mouth moves
    boxes[4] = np.nan
    return video, MouthTrack.from_boxes(boxes, 16, 16)


def _speech(frames: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    return (rng.standard_normal(int(frames * SR / FPS)) * 0.1).astype(np.float32)


def _run(pipe, clip, seed=0, frames=9, **kwargs) -> LipSyncPipelineOutput:
    video, track = clip
    call = {"mouths": track, "fps": FPS, "num_inference_steps": 2, **kwargs}
    return pipe(video, _speech(frames), generator=torch.Generator().manual_seed(seed), **call)


def test_mouth_extent_keeps_every_pixel_outside_the_feathered_region(pipe, clip):
    video, track = clip
    out = _run(pipe, clip)
    assert out.frames.shape == video.shape and out.frames.dtype == np.uint8
    np.testing.assert_array_equal(out.mask, edit_mask(track, "mouth"))
    outside = out.mask == 0
    assert outside.any() and (~outside).any()
    np.testing.assert_array_equal(out.frames[outside], video[outside])
    np.testing.assert_array_equal(out.frames[4], video[4])  # no face: the source frame
    assert (out.frames != video).any()  # the mouth region was edited
    assert out.audio.shape == (int(9 * SR / FPS),)


def test_frame_extent_edits_more_but_never_faceless_frames(pipe, clip):
    video, _ = clip
    out = _run(pipe, clip, extent="frame")
    np.testing.assert_array_equal(out.frames[4], video[4])
    assert np.all(out.mask[[0, 1, 2, 3, 5, 6, 7, 8]] == 1.0)
    assert (out.frames[0] != video[0]).mean() > 0.5


def test_strength_zero_returns_the_source(pipe, clip):
    video, _ = clip
    latents = _run(pipe, clip, strength=0.0, output_type="latent").frames
    source = pipe.encode_video(video, 16, 16, torch.device("cpu"))
    torch.testing.assert_close(latents, source.float(), rtol=0, atol=0)
    np.testing.assert_array_equal(_run(pipe, clip, strength=0.0).frames, video)


@pytest.mark.parametrize(
    ("policy", "audio_frames", "expected"),
    [("pad", 13, 13), ("pad", 5, 9), ("trim", 13, 9), ("trim", 5, 5), ("loop", 13, 13), ("loop", 5, 5)],
)
def test_length_policies_give_documented_frame_counts(pipe, clip, policy, audio_frames, expected):
    video, _ = clip
    out = _run(pipe, clip, frames=audio_frames, length_policy=policy, strength=0.0)
    assert out.frames.shape == (expected, 16, 16, 3)
    assert out.audio.shape == (int(expected * SR / FPS),)
    np.testing.assert_array_equal(out.frames, video[out.frame_index])


def test_pad_policy_runs_the_edit_on_frames_not_multiple_of_four(pipe, clip):
    video, _ = clip
    out = _run(pipe, clip, frames=11)  # 11 frames: padded to 13 inside, cropped back
    assert out.frames.shape == (11, 16, 16, 3)
    held = np.broadcast_to(video[8], out.frames[9:].shape)  # the last source frame is held
    np.testing.assert_array_equal(out.frames[9:][out.mask[9:] == 0], held[out.mask[9:] == 0])
    assert out.mask[9:].any()


def test_deterministic_under_a_seed_and_starts_at_strength(pipe, clip):
    seen = []

    def record(p, i, t, tensors):
        seen.append(float(t))
        return tensors

    a = _run(pipe, clip, seed=3, strength=0.5, callback_on_step_end=record).frames
    b = _run(pipe, clip, seed=3, strength=0.5).frames
    np.testing.assert_array_equal(a, b)
    assert seen[0] == pytest.approx(500.0, abs=0.1) and len(seen) == 2


def test_audio_changes_the_edit(pipe, clip):
    video, track = clip
    a = pipe(video, _speech(9), mouths=track, num_inference_steps=2, generator=torch.Generator().manual_seed(0))
    silence = np.zeros(int(9 * SR / FPS), np.float32)
    b = pipe(video, silence, mouths=track, num_inference_steps=2, generator=torch.Generator().manual_seed(0))
    assert (a.frames != b.frames).any()
    assert b.silent.all() and not a.silent.any()
    assert pipe(video, silence, mouths=track, num_inference_steps=1, return_dict=False)[0].shape == video.shape


def test_save_load_round_trip_and_missing_dir(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "lipsync")
    loaded, info = load_pipeline("lipsync", tmp_path / "lipsync")
    assert info["path"] == str(tmp_path / "lipsync") and info["hashes"]
    assert isinstance(loaded, LipSyncPipeline)
    assert loaded.config.default_strength == pipe.config.default_strength
    for name in ("transformer", "vae"):
        ref = getattr(pipe, name).state_dict()
        for key, value in getattr(loaded, name).state_dict().items():
            torch.testing.assert_close(value, ref[key])
    with pytest.raises(WeightsError, match="no model at"):
        load_pipeline("lipsync", tmp_path)
    with pytest.raises(WeightsError, match="no model at"):
        load_pipeline("lipsync", tmp_path / "missing")


def test_bad_inputs(pipe, clip):
    video, track = clip
    with pytest.raises(ValueError):
        pipe(video.astype(np.float32), _speech(9), mouths=track)
    with pytest.raises(ValueError):
        pipe(video, _speech(9), mouths=track, strength=1.5)
    with pytest.raises(ValueError):
        pipe(video, _speech(9), mouths=track, length_policy="stretch")
    with pytest.raises(ValueError):
        pipe(video, _speech(9), mouths=track, height=20)


def test_long_edits_run_in_trained_windows_batched_like_single_windows(pipe):
    """With window_frames = 9 (3 latents) a 7-latent take runs as windows starting at 0, 3 and 4; each window's
    result equals denoising that window alone (the batch does not mix windows)."""
    from talkgen.pipelines.dsc_guidance import DSCFGConfig

    windowed = LipSyncPipeline(**pipe.components, window_frames=9)
    windowed.set_progress_bar_config(disable=True)
    assert windowed.edit_windows(7) == [0, 3, 4] and windowed.edit_windows(3) == [0] and pipe.edit_windows(7) == [0]
    gen = torch.Generator().manual_seed(0)
    latents = torch.randn(1, pipe.transformer.config.in_channels, 7, 2, 2, generator=gen)
    conditions = {
        "prompt_embeds": torch.randn(1, pipe.config.max_text_length, pipe.transformer.config.text_dim, generator=gen),
        "audio_embeds": torch.randn(1, 1, 25, pipe.transformer.config.audio_dim, generator=gen),
        "source_latents": torch.randn(latents.shape, generator=gen),
        "spatial": torch.rand(7, 2, 2, generator=gen),
    }
    out = windowed._denoise(latents, 0.9, 2, DSCFGConfig(), **conditions)
    for start in (0, 4):  # window 3..5 is overwritten at 4..5 by the last window; 3 comes from window 3
        alone = {
            "prompt_embeds": conditions["prompt_embeds"],
            "audio_embeds": conditions["audio_embeds"][:, :, 4 * start : 4 * (start + 2) + 1],
            "source_latents": conditions["source_latents"][:, :, start : start + 3],
            "spatial": conditions["spatial"][start : start + 3],
        }
        single = pipe._denoise(latents[:, :, start : start + 3], 0.9, 2, DSCFGConfig(), **alone)
        torch.testing.assert_close(out[:, :, start : start + 3], single, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------------- per-face speech tracks
@pytest.fixture(scope="module")
def two_faces() -> tuple[np.ndarray, MouthTrack]:
    """9 frames of 16x32 noise video with two mouths; slot 0 is the RIGHT face (tracks number faces left to right)."""
    rng = np.random.default_rng(2)
    video = rng.integers(0, 256, (9, 16, 32, 3), dtype=np.uint8)
    right = np.tile(np.array([21, 9, 26, 12], np.float32), (9, 1))
    left = np.tile(np.array([4, 9, 9, 12], np.float32), (9, 1))
    return video, MouthTrack.from_boxes(np.stack([right, left], axis=1), 32, 16, grow=1.0)


def _tracks(frames: int, silent: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(3)
    tracks = (rng.standard_normal((2, int(frames * SR / FPS))) * 0.1).astype(np.float32)
    if silent is not None:
        tracks[silent] = 0.0
    return tracks


def test_per_face_tracks_reach_the_model_left_to_right(pipe, two_faces, monkeypatch):
    video, track = two_faces
    seen = []
    encode = pipe.audio_encoder.forward
    monkeypatch.setattr(pipe.audio_encoder, "forward", lambda w, *a: seen.append(np.array(w)) or encode(w, *a))
    tracks = _tracks(9)
    out = pipe(video, tracks, mouths=track, fps=FPS, num_inference_steps=2, generator=torch.Generator().manual_seed(0))
    (given,) = seen
    assert given.shape[:2] == (1, 2)  # one batch, two streams
    np.testing.assert_array_equal(given[0, :, : tracks.shape[1]], tracks)  # stream 0 = track 0 = left face
    np.testing.assert_allclose(out.audio, np.clip(tracks.sum(0), -1, 1))  # the output carries their mix
    assert (out.mask[:, :, :16] > 0).any() and (out.mask[:, :, 16:] > 0).any()  # both faces edited


def test_only_the_faces_named_are_edited(pipe, two_faces):
    video, track = two_faces
    call = {"mouths": track, "fps": FPS, "num_inference_steps": 2, "generator": torch.Generator().manual_seed(0)}
    out = pipe(video, _tracks(9, silent=0), edit_faces=[1], **call)  # the right face speaks; the left is kept
    assert not (out.mask[:, :, :16] > 0).any() and (out.mask[:, :, 16:] > 0).any()
    np.testing.assert_array_equal(out.frames[:, :, :16], video[:, :, :16])
    assert (out.frames[:, :, 16:] != video[:, :, 16:]).any()


def test_per_face_track_errors(pipe, two_faces, clip):
    video, track = two_faces
    call = {"mouths": track, "fps": FPS, "num_inference_steps": 1}
    with pytest.raises(ValueError, match="3 audio tracks for 2 face slot"):
        pipe(video, np.concatenate([_tracks(9), _tracks(9)[:1]]), **call)
    with pytest.raises(ValueError, match="face='all'"):
        pipe(video, _tracks(9), face=0, **call)
    with pytest.raises(ValueError, match="edit_faces must name tracks 0..1"):
        pipe(video, _tracks(9), edit_faces=[2], **call)
    with pytest.raises(ValueError, match="at most 4"):
        pipe(video, np.zeros((5, 6000), np.float32), **call)


def test_pil_output_and_an_interrupt_keep_the_source_outside_the_edit(pipe, clip):
    video = clip[0]
    pil = _run(pipe, clip, output_type="pil")
    assert len(pil.frames) == 9 and pil.frames[0].size == (16, 16)
    np.testing.assert_array_equal(np.stack([np.asarray(f) for f in pil.frames]), _run(pipe, clip).frames)
    steps = []

    def stop(p, i, t, tensors):
        steps.append(i)
        p._interrupt = True

    out = _run(pipe, clip, callback_on_step_end=stop)
    assert steps == [0] and pipe.interrupt
    np.testing.assert_array_equal(out.frames[out.mask == 0], video[out.mask == 0])
    with pytest.raises(ValueError, match="output_type"):
        _run(pipe, clip, output_type="gif")
