"""The one dub entry point: settings validated once, refusals before any model work, a manifest beside the mp4."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from talkgen.errors import ConfigError
from talkgen.pipelines.dub import MAX_FACES, DubConfig, load_speech, mouth_locator


def test_dub_config_derives_tracked_faces_and_refuses_bad_values():
    assert DubConfig().max_faces == 1
    assert DubConfig(face="1").max_faces == MAX_FACES
    assert DubConfig(face="1", max_faces=2).max_faces == 2
    for bad in ({"strength": 1.5}, {"extent": "lips"}, {"length_policy": "stretch"}, {"steps": 0}, {"face": "x"}):
        with pytest.raises(ConfigError):
            DubConfig(**bad)


def test_speech_needs_exactly_one_source_and_mouths_at_most_one(tmp_path):
    with pytest.raises(ConfigError, match="exactly one"):
        load_speech(None, "  ")
    with pytest.raises(ConfigError, match="exactly one"):
        load_speech(tmp_path / "a.wav", "hello")
    with pytest.raises(ConfigError, match="at most one"):
        mouth_locator(DubConfig(), truth=tmp_path / "t.json", mouth_box="1,2,3,4")
    with pytest.raises(ConfigError, match="x0,y0,x1,y1"):
        mouth_locator(DubConfig(), mouth_box="1,2,3")


def _cli(args, cwd):
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "talkgen", *args], cwd=cwd, capture_output=True, text=True)
    return proc, time.perf_counter() - start


@pytest.fixture(scope="module")
def warm_interpreter(tmp_path_factory):
    """One untimed refusal first: a fresh checkout's first run also compiles every module it imports to bytecode,
    once per install; the second a user waits for a refusal is every run after that."""
    _cli(["dub", "nope.mp4", "--text", "Hello.", "-o", "out.mp4"], tmp_path_factory.mktemp("warm"))


@pytest.mark.parametrize("case", ["missing", "not-media", "audio-only", "no-model"])
def test_refusals_are_one_line_exit_2_under_a_second_and_write_nothing(case, tmp_path, warm_interpreter):
    from talkgen.audio.io import save_wav
    from talkgen.media import write_video

    wave = (np.random.default_rng(0).standard_normal(8_000) * 0.1).astype(np.float32)
    if case == "missing":
        video, expect = "nope.mp4", "no such file"
    elif case == "not-media":
        (tmp_path / "notes.mp4").write_text("not a video")
        video, expect = "notes.mp4", "not a recognised media file"
    elif case == "audio-only":
        save_wav(tmp_path / "speech.wav", wave, 16_000)
        video, expect = "speech.wav", "no video stream"
    else:
        write_video(tmp_path / "clip.mp4", np.zeros((5, 32, 32, 3), np.uint8), 25.0, wave, 16_000)
        video, expect = "clip.mp4", "no model at"
    args = ["dub", video, "--text", "Hello.", "-o", "out.mp4", "--mouth-box", "8,16,24,24"]
    # The second is the refusal on a machine at rest (0.7 s alone here); the tests beside it share the two cores,
    # so it counts the best of up to four tries (1.07 s was the best of two in one full parallel run).
    seconds = float("inf")
    for _ in range(4):
        proc, took = _cli([*args, "--model", str(tmp_path / "no-model")], tmp_path)
        seconds = min(seconds, took)
        if seconds < 1.0:
            break
    assert proc.returncode == 2, proc.stderr
    assert expect in proc.stderr and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert not (tmp_path / "out.mp4").exists() and not (tmp_path / "out.manifest.json").exists()
    # the interpreter's own start-up is part of the second a user waits (subprocess, not in-process)
    assert seconds < 1.0, f"{case}: refusal took {seconds:.2f} s"


def test_dub_file_writes_a_manifest_beside_the_mp4(tmp_path):
    from talkgen.media import write_video
    from talkgen.pipelines.dub import dub_file

    frames = np.full((9, 32, 32, 3), 120, np.uint8)
    wave = (np.random.default_rng(1).standard_normal(5_760) * 0.1).astype(np.float32)  # 0.36 s: 9 frames
    write_video(tmp_path / "clip.mp4", frames, 25.0, wave, 16_000)
    seen = []
    config = DubConfig(steps=1, seed=3)
    manifest = dub_file(
        tmp_path / "clip.mp4",
        tmp_path / "out.mp4",
        wave,
        config,
        random_weights=True,
        mouths=mouth_locator(config, mouth_box="8,16,24,24"),
        progress=lambda f, m: seen.append(f),
    )
    on_disk = json.loads((tmp_path / "out.manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["settings"]["seed"] == 3 and manifest["model"]["random_weights"] is True
    assert manifest["frames"] == manifest["source_frames"] == 9 and manifest["mouth_frames"] == 9
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)


def test_default_dub_encode_keeps_unedited_pixels_within_45_db(tmp_path):
    from talkgen.media import read_video, write_video
    from talkgen.pipelines.dub import dub_video
    from talkgen.pipelines.mouth import TruthMouthLocator
    from talkgen.pipelines.pipeline_lipsync import build_tiny_lipsync_pipeline
    from talkgen.synth.world import make_scene, render_clip

    clip = render_clip(make_scene(21, num_characters=2, num_lines=1), size=128, num_frames=13)
    footage = write_video(tmp_path / "clip.mp4", clip.frames.numpy(), clip.fps, clip.audio, clip.sample_rate)
    source, _ = read_video(footage)
    speech = (np.random.default_rng(0).standard_normal(13 * 640) * 0.05).astype(np.float32)
    pipe = build_tiny_lipsync_pipeline(seed=0)
    config = DubConfig(steps=1, max_side=None)
    report = dub_video(
        pipe, footage, tmp_path / "out.mp4", speech, config, mouths=TruthMouthLocator(clip.truth), keep_mask=True
    )
    dubbed, _ = read_video(report.output)
    keep = np.broadcast_to((report.edit_mask == 0)[..., None], source.shape)
    assert 0.0 < (report.edit_mask > 0).mean() < 0.5
    mse = np.mean((dubbed[keep].astype(np.float64) - source[keep]) ** 2)
    assert 10 * np.log10(255.0**2 / mse) >= 45.0


@pytest.mark.parametrize("extent", ["mouth", "face", "frame"])
def test_each_extent_changes_only_its_documented_region(extent):
    """On a synthetic clip (truth mouth boxes hold every mouth shape, grow 1.0): pixels change only inside the box
    interpolated towards the frame by the extent (0, 0.5, 1) plus a feather of a quarter of the mouth width."""
    from talkgen.pipelines.mouth import TruthMouthLocator
    from talkgen.pipelines.pipeline_lipsync import build_tiny_lipsync_pipeline
    from talkgen.synth.world import make_scene, render_clip

    clip = render_clip(make_scene(31, num_characters=1, num_lines=1), size=64, num_frames=9)
    frames = clip.frames.numpy()
    speech = (np.random.default_rng(0).standard_normal(9 * 640) * 0.1).astype(np.float32)
    pipe = build_tiny_lipsync_pipeline(seed=0)
    out = pipe(frames, speech, mouths=TruthMouthLocator(clip.truth), extent=extent, strength=1.0,
               num_inference_steps=1, length_policy="trim", colour_correction=False)  # fmt: skip
    changed = (out.frames != frames).any(axis=-1)  # (T, H, W)
    e = {"mouth": 0.0, "face": 0.5, "frame": 1.0}[extent]
    ys, xs = np.mgrid[0:64, 0:64] + 0.5
    for t in range(9):
        x0, y0, x1, y1 = clip.truth.characters[0].mouth_box[t]
        rx0, ry0, rx1, ry1 = (1 - e) * np.array([x0, y0, x1, y1]) + e * np.array([0, 0, 64, 64])
        if extent == "face":  # the face box (the world's head box), with the mouth box should it reach beyond
            f = clip.truth.characters[0].face_box[t]
            rx0, ry0, rx1, ry1 = min(x0, f[0]), min(y0, f[1]), max(x1, f[2]), max(y1, f[3])
        ramp = max(0.25 * (x1 - x0), 1.0)
        inside = (xs > rx0 - ramp) & (xs < rx1 + ramp) & (ys > ry0 - ramp) & (ys < ry1 + ramp)
        assert not (changed[t] & ~inside).any(), f"frame {t}: a pixel changed outside the {extent} region"
        core = (xs > rx0 + 1) & (xs < rx1 - 1) & (ys > ry0 + 1) & (ys < ry1 - 1)
        assert changed[t][core].mean() > 0.5  # and the region itself is edited
    if extent == "face":
        assert changed.mean() < 0.6  # a face of a 64 px two-shot, not the frame
    if extent == "mouth":
        face = clip.truth.characters[0].face_box[0]
        face_area = (face[2] - face[0]) * (face[3] - face[1])
        assert changed.mean(axis=0).sum() < 0.45 * face_area  # the mouth, not the face


def test_long_footage_is_dubbed_in_chunks_of_windows_streamed_from_and_to_ffmpeg(tmp_path, monkeypatch):
    """A dub never decodes the footage whole: each pipeline call gets one chunk of whole windows, the output is
    the fitted length (pad: the last frame held), and outside the edit region it is the source, bit for bit."""
    import talkgen.media
    import talkgen.media.video
    from talkgen.media import read_video, write_video
    from talkgen.pipelines.dub import chunk_frames, dub_video
    from talkgen.pipelines.mouth import TruthMouthLocator
    from talkgen.pipelines.pipeline_lipsync import build_tiny_lipsync_pipeline
    from talkgen.synth.world import make_scene, render_clip

    clip = render_clip(make_scene(23, num_characters=1, num_lines=2), size=64, num_frames=40)
    footage = write_video(tmp_path / "clip.mkv", clip.frames.numpy(), clip.fps, clip.audio, clip.sample_rate,
                          codec="ffv1")  # fmt: skip
    source, _ = read_video(footage)
    pipe = build_tiny_lipsync_pipeline(seed=0)
    pipe.register_to_config(window_frames=9)
    frame_bytes = 64 * 64 * 3
    assert chunk_frames(pipe, frame_bytes, budget=frame_bytes * 12) == 9  # one window: 3 latents
    assert chunk_frames(pipe, frame_bytes, budget=frame_bytes * 24) == 21  # two windows
    assert chunk_frames(pipe, frame_bytes, budget=1) == 9  # never less than a window
    calls: list[int] = []
    real_call = type(pipe).__call__
    monkeypatch.setattr(type(pipe), "__call__", lambda self, frames, *a, **k: calls.append(len(frames))
                        or real_call(self, frames, *a, **k))  # fmt: skip

    def whole(*args, **kwargs):
        raise AssertionError("the footage was decoded whole")

    monkeypatch.setattr(talkgen.media, "read_video", whole)
    monkeypatch.setattr(talkgen.media.video, "read_video", whole)
    speech = (np.random.default_rng(1).standard_normal(50 * 640) * 0.1).astype(np.float32)
    seen: list[float] = []
    report = dub_video(
        pipe, footage, tmp_path / "out.mkv", speech, DubConfig(steps=1, max_side=None, strength=1.0),
        mouths=TruthMouthLocator(clip.truth), keep_mask=True, chunk_bytes=frame_bytes * 12,
        progress=lambda fraction, message: seen.append(fraction),
    )  # fmt: skip
    assert calls == [9, 9, 9, 9, 9, 5] and report.chunks == 6
    assert len(seen) == 12 and seen == sorted(seen) and seen[-1] == 1.0  # after each step (1) and each chunk
    assert (report.num_frames, report.source_frames, report.face_frames) == (50, 40, 50)
    monkeypatch.undo()
    dubbed, _ = read_video(report.output)
    expected = source[np.minimum(np.arange(50), 39)]
    keep = np.broadcast_to((report.edit_mask == 0)[..., None], expected.shape)
    assert dubbed.shape == expected.shape and 0.0 < (report.edit_mask > 0).mean() < 0.5
    np.testing.assert_array_equal(dubbed[keep], expected[keep])
    assert (dubbed[~keep] != expected[~keep]).mean() > 0.3  # the mouths were re-drawn in every chunk


def test_frames_are_read_in_plan_order_and_a_loop_decodes_from_the_start_again(tmp_path):
    from talkgen.media import write_video
    from talkgen.pipelines.dub import _frames_at
    from talkgen.pipelines.mouth import fit_length

    frames = np.random.default_rng(2).integers(0, 256, (7, 8, 8, 3), dtype=np.uint8)
    footage = write_video(tmp_path / "clip.mkv", frames, 25.0, codec="ffv1")
    for policy, audio in (("loop", 17), ("pad", 10), ("trim", 4)):
        index = fit_length(7, audio, policy).frame_index
        np.testing.assert_array_equal(np.stack(list(_frames_at(footage, index))), frames[index])


def test_footage_and_model_are_refused_before_any_speech_is_made(tmp_path, monkeypatch, capsys):
    import talkgen.audio.tts
    from talkgen.cli import main
    from talkgen.media import write_video

    def no_speech(*args, **kwargs):
        raise AssertionError("speech was made before the footage and the model were checked")

    monkeypatch.setattr(talkgen.audio.tts, "synthesize", no_speech)
    monkeypatch.chdir(tmp_path)
    args = ["dub", "--text", "Hello.", "-o", "out.mp4", "--model", str(tmp_path / "no-model")]
    assert main([*args[:1], "nope.mp4", *args[1:]]) == 2
    assert "no such file" in capsys.readouterr().err
    frames = np.zeros((5, 32, 32, 3), np.uint8)
    write_video(tmp_path / "clip.mp4", frames, 25.0, np.zeros(3_200, np.float32), 16_000)
    assert main([*args[:1], "clip.mp4", *args[1:]]) == 2
    assert "no model at" in capsys.readouterr().err
