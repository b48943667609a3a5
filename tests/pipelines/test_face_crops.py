"""Dubbing each face in its own crop: crop geometry, one pass per face with its own track, pasting back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dummies import dummy_pipeline

from talkgen.errors import ConfigError
from talkgen.pipelines.dub import DubConfig
from talkgen.pipelines.mouth import MouthTrack, edit_mask, face_crop_box
from talkgen.pipelines.pipeline_lipsync import LipSyncPipelineOutput

FPS = 25.0
SR = 16_000


def test_crop_box_frames_the_face_at_the_share_and_stays_in_the_frame():
    faces = np.tile(np.array([40, 30, 61, 51], np.float32), (5, 1))  # a 21 px face
    x0, y0, side = face_crop_box(faces, 0.7, 128, 256)
    assert side == 30 and (x0, y0) == (36, 26)  # 21 / 0.7, centred on the face
    faces[2] = np.nan  # absent frames do not count
    assert face_crop_box(faces, 0.7, 128, 256) == (36, 26, 30)
    moving = faces.copy()
    moving[4] = [80, 30, 101, 51]  # the face moves 40 px: the crop holds every position
    x0, y0, side = face_crop_box(moving, 0.7, 128, 256)
    assert x0 <= 40 and x0 + side >= 101 and y0 <= 30 and y0 + side >= 51
    corner = np.array([[0, 100, 25, 127]], np.float32)  # at the frame's corner: clamped inside it
    x0, y0, side = face_crop_box(corner, 0.5, 128, 128)
    assert (x0, y0) == (0, 128 - side) and side == 54
    assert face_crop_box(np.array([[0, 0, 120, 120]], np.float32), 0.7, 100, 160)[2] == 100  # at most the frame
    assert face_crop_box(np.full((3, 4), np.nan, np.float32), 0.7, 64, 64) is None
    with pytest.raises(ValueError, match="share"):
        face_crop_box(faces, 1.5, 128, 128)


def test_a_track_cropped_and_scaled_keeps_its_mouths_on_the_same_pixels():
    boxes = np.array([[[50, 60, 60, 66]]], np.float32)
    track = MouthTrack.from_boxes(boxes, 200, 100)
    track.faces = np.array([[[40, 40, 70, 80]]], np.float32)
    local = track.cropped(30, 30, 50, 50).scaled(100, 100)
    np.testing.assert_allclose(local.boxes[0, 0], [40, 60, 60, 72])
    np.testing.assert_allclose(local.centers[0, 0], [50, 66])
    np.testing.assert_allclose(local.faces[0, 0], [20, 20, 80, 100])
    assert (local.width, local.height, local.grow) == (100, 100, track.grow)


@pytest.fixture(scope="module")
def pipe():
    pipe = dummy_pipeline("lipsync")
    pipe.register_to_config(face_size=32)  # the size a trained model names in its model_index.json
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def two_faces() -> tuple[np.ndarray, MouthTrack]:
    """9 frames of 48x96 noise video with two faces (slot 0 on the left) and their mouths."""
    video = np.random.default_rng(5).integers(0, 256, (9, 48, 96, 3), dtype=np.uint8)
    mouths = np.array([[10, 30, 20, 36], [70, 30, 80, 36]], np.float32)
    faces = np.array([[4, 12, 26, 40], [64, 12, 86, 40]], np.float32)
    track = MouthTrack.from_boxes(np.tile(mouths, (9, 1, 1)), 96, 48, grow=1.0)
    track.faces = np.tile(faces, (9, 1, 1))
    return video, track


def test_each_face_is_dubbed_in_its_crop_with_its_own_track(pipe, two_faces):
    video, track = two_faces
    calls = []

    def fake_call(frames, speech, mouths, height, width):  # paints each crop with a colour that names its track
        assert (height, width) == frames.shape[1:3]
        calls.append((frames.shape, float(speech[0]), mouths))
        painted = np.full_like(frames, 60 if speech[0] > 0 else 200)
        return LipSyncPipelineOutput(painted, speech, None, None, 0.0, None)

    speech = [np.full(100, 0.5, np.float32), np.full(100, -0.5, np.float32)]
    out = pipe.dub_faces(video, speech, track, 0.7, 32, "mouth", fake_call)
    assert [c[:2] for c in calls] == [((9, 32, 32, 3), 0.5), ((9, 32, 32, 3), -0.5)]  # left face first, its track
    for j, (_, _, local) in enumerate(calls):  # the crop's track is the face's, in crop pixels
        assert (local.width, local.height) == (32, 32) and local.num_faces == 1
        x0, y0, side = face_crop_box(track.faces[:, j], 0.7, 48, 96)
        np.testing.assert_allclose(local.boxes[0, 0], (track.boxes[0, j] - [x0, y0, x0, y0]) * 32 / side, atol=1e-4)
    masks = [edit_mask(track.select(slice(None), [j]), "mouth") for j in range(2)]
    inside = [m == 1.0 for m in masks]
    assert (out[inside[0]] == 60).all() and (out[inside[1]] == 200).all()  # each mouth got its own pass
    outside = (masks[0] == 0) & (masks[1] == 0)
    np.testing.assert_array_equal(out[outside], video[outside])  # the rest of the frame is the footage's


def test_a_call_dubs_faces_in_crops_and_keeps_the_footage_outside(pipe, two_faces):
    video, track = two_faces
    tracks = (np.random.default_rng(6).standard_normal((2, int(9 * SR / FPS))) * 0.1).astype(np.float32)
    steps = []
    call = {"mouths": track, "fps": FPS, "num_inference_steps": 2}

    def count(p, i, t, kw):
        steps.append((p.dub_pass, i))
        return {}

    out = pipe(video, tracks, generator=torch.Generator().manual_seed(0), callback_on_step_end=count, **call)
    assert steps == [((0, 2), 0), ((0, 2), 1), ((1, 2), 0), ((1, 2), 1)]  # every step of both face passes
    assert pipe.dub_pass == (0, 1)
    outside = out.mask == 0
    np.testing.assert_array_equal(out.frames[outside], video[outside])
    assert (out.frames[out.mask == 1] != video[out.mask == 1]).any()
    whole = pipe(video, tracks, generator=torch.Generator().manual_seed(0), face_crop=None, **call)
    np.testing.assert_array_equal(whole.mask, out.mask)  # the same region either way
    assert not np.array_equal(whole.frames, out.frames)  # but another pass
    frame = pipe(video, tracks, generator=torch.Generator().manual_seed(0), extent="frame", **call)
    assert (frame.frames[:, :, 40:56] != video[:, :, 40:56]).any()  # extent frame: one whole-frame pass


def test_without_face_boxes_or_face_size_a_dub_is_one_whole_frame_pass(pipe, two_faces):
    video, track = two_faces
    assert pipe.crop_size(0.7, "mouth", track) == 32
    assert pipe.crop_size(0.7, "face", track) == 32 and pipe.crop_size(0.7, "frame", track) is None
    assert pipe.crop_size(None, "mouth", track) is None
    mouths_only = MouthTrack(track.boxes, track.centers, 96, 48, 1.0)  # --mouth-box: no face boxes
    assert pipe.crop_size(0.7, "mouth", mouths_only) is None


def test_face_crop_setting_is_checked():
    assert DubConfig().face_crop == 0.7
    with pytest.raises(ConfigError, match="face crop must be 0.1..1"):
        DubConfig(face_crop=1.5)


def test_a_model_trained_without_source_mouths_dubs_without_them(pipe):
    """With ``hide_source_mouth`` the source's latent cells over the mouth are zeroed: what the footage's mouth
    looked like cannot reach the model (its latents are the same), while everything else still does."""
    video = np.random.default_rng(7).integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
    track = MouthTrack.from_boxes(np.tile(np.array([12, 18, 20, 22], np.float32), (9, 1)), 32, 32, grow=1.0)
    other_mouth = video.copy()
    other_mouth[:, 18:22, 12:20] = 255 - other_mouth[:, 18:22, 12:20]
    speech = (np.random.default_rng(8).standard_normal(int(9 * SR / FPS)) * 0.1).astype(np.float32)

    def latents(frames):
        out = pipe(frames, speech, mouths=track, fps=FPS, num_inference_steps=2, output_type="latent",
                   generator=torch.Generator().manual_seed(0))  # fmt: skip
        return out.frames

    try:
        pipe.register_to_config(hide_source_mouth=0.0)
        torch.testing.assert_close(latents(video), latents(other_mouth))
        cells = pipe.hide_mouths(torch.ones(1, 4, 3, 4, 4), track, 9)
        assert (cells == 0).sum() == 4 * 3 * 2 and cells[..., 2, 1].eq(0).all()  # the mouth's 8 px cells
        pipe.register_to_config(hide_source_mouth=None)
        assert not torch.equal(latents(video), latents(other_mouth))  # seen, the mouth changes the dub
    finally:
        pipe.register_to_config(hide_source_mouth=None)


def test_one_track_drives_every_face_in_crops_as_in_one_pass(pipe, two_faces):
    video, track = two_faces
    speech = (np.random.default_rng(9).standard_normal(int(9 * SR / FPS)) * 0.1).astype(np.float32)
    out = pipe(video, speech, mouths=track, fps=FPS, num_inference_steps=1, generator=torch.Generator().manual_seed(0))
    for j in range(2):
        inside = edit_mask(track.select(slice(None), [j]), "mouth") == 1.0
        assert (out.frames[inside] != video[inside]).any()  # both faces re-timed


def test_unguided_dubbing_runs_one_pass_per_step_and_equals_the_guidance_formula(pipe, two_faces, monkeypatch):
    from talkgen.pipelines.dsc_guidance import DSCFGConfig, ds_cfg

    gen = torch.Generator().manual_seed(0)
    c = pipe.transformer.config.in_channels
    x, src = torch.randn(2, c, 3, 4, 4, generator=gen), torch.randn(2, c, 3, 4, 4, generator=gen)
    text = torch.randn(2, 8, pipe.transformer.config.text_dim, generator=gen)
    audio = torch.randn(2, 1, 9, pipe.transformer.config.audio_dim, generator=gen)
    ones, t = torch.ones(3, 4, 4), torch.tensor([500.0])
    fast = pipe.guided_velocity(x, t, 1.0, ones, text, audio, src)
    both = pipe.guided_velocity(x, t, 1.0 + 1e-9, ones, text, audio, src)  # the two-pass path, weight ~1
    torch.testing.assert_close(fast, both, rtol=1e-5, atol=1e-5)
    v_audio, v_null = (pipe.guided_velocity(x, t, w, ones, text, audio, src) for w in (1.0, 0.0))
    torch.testing.assert_close(ds_cfg(v_audio, v_null, ones, 1.0), fast)
    passes = []
    forward = pipe.transformer.forward
    monkeypatch.setattr(
        pipe.transformer, "forward", lambda *a, **k: passes.append(k["hidden_states"].shape[0]) or forward(*a, **k)
    )
    video, track = two_faces
    tracks = np.zeros((2, int(9 * SR / FPS)), np.float32)
    pipe(video, tracks, mouths=track, fps=FPS, num_inference_steps=2, generator=torch.Generator().manual_seed(0))
    assert passes == [1, 1, 1, 1]  # 2 faces x 2 steps, one window each, no null-audio pass
    passes.clear()
    pipe(video, tracks, mouths=track, fps=FPS, num_inference_steps=2, guidance=DSCFGConfig(), face_crop=None,
         generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert passes == [2, 2]  # DS-CFG: the audio and null-audio passes of each step, batched
