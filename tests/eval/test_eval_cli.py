"""`talkgen eval sync|world` and `talkgen bench` end to end through the CLI entry point."""

from __future__ import annotations

import json

import numpy as np
import pytest

from talkgen.cli import main
from talkgen.eval.bench import BenchCase, markdown_table, run_bench
from talkgen.eval.signals import rms_envelope, shift_audio

FPS = 25.0
SR = 16000


def test_eval_sync_cli_recovers_offset(tmp_path, astronaut_face, make_jaw_clip, make_speech, capsys):
    from talkgen.media import write_video

    img, mouth = astronaut_face
    wav, _ = make_speech(5.0, 21)
    env = rms_envelope(wav, SR, FPS)
    frames = make_jaw_clip(img, mouth, 12.0 * env / env.max())
    video = write_video(tmp_path / "astro.mp4", frames, FPS, shift_audio(wav, 5 / FPS, SR), SR)
    rc = main(["eval", "sync", str(video), "--plot", str(tmp_path / "s.png"), "--json", str(tmp_path / "s.json")])
    assert rc == 0
    data = json.loads((tmp_path / "s.json").read_text())
    assert abs(data["offset_frames"] - 5) <= 1
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "positive = audio lags video" in capsys.readouterr().out


def test_eval_sync_cli_user_errors(tmp_path, capsys):
    assert main(["eval", "sync", str(tmp_path / "missing.mp4")]) == 2
    assert main(["eval", "sync", str(tmp_path / "x.mp4"), "--plot", str(tmp_path / "p.jpg")]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 2 and ".png" in err


def test_eval_world_cli(tmp_path, world_clips, capsys):
    from talkgen.media import write_video
    from talkgen.synth.truth import truth_path_for

    clip = world_clips["one"]  # tiny three-shot mouths lose too much to H.264 chroma subsampling (see report)
    video = write_video(tmp_path / "w.mp4", clip.frames.numpy(), clip.fps, clip.audio, clip.sample_rate)
    clip.truth.save(truth_path_for(video))
    rc = main(["eval", "world", str(video), "--reference", str(video), "--json", str(tmp_path / "w.json")])
    assert rc == 0
    rep = json.loads((tmp_path / "w.json").read_text())
    # through H.264 (yuv420p) the pixel reader loses accuracy on small mouths: ~0.7 here vs >= 0.95 lossless
    assert rep["offset"] == 0 and rep["correlation"] >= 0.6
    assert rep["face_match"] == 1.0  # the video is its own reference
    out = capsys.readouterr().out
    assert "Person1: corr" in out and "face match 1.000" in out
    assert main(["eval", "world", str(video), "--truth", str(tmp_path / "none.json")]) == 2


def test_bench_rows_and_table():
    rows = run_bench((BenchCase("tiny close-up", 9001, 1, "cut", size=64, num_lines=1),), model=_noisy_model)
    ceiling, floor, model = rows
    assert ceiling.correlation >= 0.9 and ceiling.abs_offset == 0
    assert floor.confidence < ceiling.confidence and floor.correlation < 0.5
    assert ceiling.flicker_ratio == pytest.approx(1.0) and model.flicker_ratio > 1.5
    table = markdown_table(rows)
    assert table.count("\n") == 4 and "ceiling" in table and "floor" in table and "noisy" not in table


@pytest.mark.parametrize("dub", [False, True])
def test_bench_cases_render_still_heads_of_the_same_scene(dub):
    from dataclasses import replace

    from talkgen.eval.bench import render_case

    case = BenchCase("two-shot", 9003, 2, "continuous", size=64, num_lines=1, dub=dub)
    moving, still = render_case(case), render_case(replace(case, head_motion=0.0))
    for c, (m, s) in enumerate(zip(moving.truth.characters, still.truth.characters, strict=True)):
        np.testing.assert_array_equal(s.mouth_params, m.mouth_params, err_msg=f"character {c}")
        travel = {name: float(np.abs(ch.face_box - ch.face_box[:1]).max()) for name, ch in (("m", m), ("s", s))}
        assert travel["s"] == 0 < travel["m"], travel
    np.testing.assert_array_equal(still.audio, moving.audio)


def _noisy_model(case, rc):
    rng = np.random.default_rng(0)
    noise = rng.integers(-40, 41, size=rc.frames.shape)
    return np.clip(rc.frames.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def test_bench_cli_ci_suite_with_untrained_model_row(tmp_path, capsys):
    sheet = tmp_path / "sheet.png"
    args = ["bench", "--suite", "ci", "-o", str(tmp_path / "b.json"), "--random-weights", "--steps", "1"]
    rc = main([*args, "--sheet", str(sheet)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "| ceiling (ground-truth renders) |" in out and "| floor (shuffled audio) |" in out
    assert "| model (untrained tiny weights, 1 steps) |" in out
    data = json.loads((tmp_path / "b.json").read_text())
    names = [r["name"] for r in data["rows"]]
    assert names[:2] == ["ceiling (ground-truth renders)", "floor (shuffled audio)"] and len(names) == 3
    # an untrained model is not in sync with its audio: well below the ceiling
    ceiling, _, model = data["rows"]
    assert model["correlation"] is None or model["correlation"] < ceiling["correlation"] - 0.3
    # prompt attributes of the 12 held-out characters: ground truth reads back exactly, noise does not
    ceiling_attr, floor_attr, model_attr = data["attributes"]
    assert ceiling_attr["agreement"] == 1.0 and floor_attr["agreement"] < 0.3 and model_attr["count"] > 0
    assert model_attr["agreement"] < 0.5
    from PIL import Image

    assert Image.open(sheet).size[0] == 4 * (2 * 128 + 8)
    assert main(["bench", "--suite", "ci", "--random-weights", "--sheet", str(tmp_path / "s.jpg")]) == 2
    assert main(["bench", "--suite", "ci", "--model", str(tmp_path)]) == 2  # no model_index.json there
    assert main(["bench", "--suite", "nope"]) == 2


def test_eval_world_scores_a_padded_dub_on_the_frames_it_shares_and_plots(tmp_path, world_clips, capsys):
    from talkgen.media import write_video
    from talkgen.synth.truth import truth_path_for

    clip = world_clips["one"]
    frames = clip.frames.numpy()
    padded = np.concatenate([frames, np.repeat(frames[-1:], 7, axis=0)])  # as `dub --length-policy pad` leaves it
    video = write_video(tmp_path / "dub.mp4", padded, clip.fps, clip.audio, clip.sample_rate)
    clip.truth.save(truth_path_for(video))
    assert main(["eval", "world", str(video)]) == 2
    assert "--frames overlap" in capsys.readouterr().err
    plot, out = tmp_path / "w.png", tmp_path / "w.json"
    assert main(["eval", "world", str(video), "--frames", "overlap", "--plot", str(plot), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"scoring the {len(frames)} frames" in printed and str(plot) in printed
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rep = json.loads(out.read_text())
    assert rep["offset"] == 0 and rep["correlation"] >= 0.6  # as the exact-length clip scores
    assert main(["eval", "world", str(video), "--frames", "loose"]) == 2
    assert main(["eval", "world", str(video), "--frames", "overlap", "--plot", str(tmp_path / "w.jpg")]) == 2


def test_ground_truth_head_cuts_every_track():
    from talkgen.synth.world import make_scene, render_clip

    truth = render_clip(make_scene(4, num_characters=2, num_lines=2), size=32, num_frames=21).truth
    head = truth.head(10)
    assert head.num_frames == 10 and all(ch.num_frames == 10 for ch in head.characters)
    assert all(s.end_frame <= 10 for s in head.shots) and head.shots[0].start_frame == 0
    np.testing.assert_array_equal(head.characters[1].mouth_box, truth.characters[1].mouth_box[:10])
    assert truth.head(99).num_frames == 21


@pytest.mark.parametrize("name", ["close-up", "three"])
def test_eval_sync_reads_world_clips_in_their_mouth_boxes(tmp_path, world_clips, capsys, name):
    """A ground-truth world clip (128 px; at 64 px H.264 leaves the mouths too few pixels) with its .truth.json
    beside it: |offset| <= 1 frame and a clear correlation, where MediaPipe's landmarks on cartoons are not lips."""
    from talkgen.media import write_video
    from talkgen.synth.truth import truth_path_for
    from talkgen.synth.world import make_scene, render_clip

    clip = world_clips["three"] if name == "three" else render_clip(make_scene(101, 1, "cut", num_lines=1), size=128)
    video = write_video(tmp_path / "w.mp4", clip.frames.numpy(), clip.fps, clip.audio, clip.sample_rate)
    clip.truth.save(truth_path_for(video))
    assert main(["eval", "sync", str(video), "--json", str(tmp_path / "s.json")]) == 0
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["reader"] == "world" and abs(data["offset_frames"]) <= 1 and data["correlation"] >= 0.3
    assert "ground truth's boxes" in capsys.readouterr().out
    moved = tmp_path / "elsewhere.truth.json"
    truth_path_for(video).rename(moved)  # --truth names it explicitly
    assert main(["eval", "sync", str(video), "--truth", str(moved), "--json", str(tmp_path / "t.json")]) == 0
    assert json.loads((tmp_path / "t.json").read_text())["offset_frames"] == data["offset_frames"]
    other = tmp_path / "other.truth.json"
    world_clips["one" if name == "three" else "three"].truth.save(other)
    assert main(["eval", "sync", str(video), "--truth", str(other)]) == 2
    assert "not this clip's .truth.json" in capsys.readouterr().err
