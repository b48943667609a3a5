"""``talkgen dub`` end to end on a tiny synthetic clip with --random-weights, and its one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import talkgen.cli as cli


@pytest.fixture(scope="module")
def synthetic_clip(tmp_path_factory) -> tuple[Path, Path]:
    """13 frames of a one-character synthetic clip at 32x32 with its ground truth beside it."""
    from talkgen.media import write_video
    from talkgen.synth.truth import truth_path_for
    from talkgen.synth.world import make_scene, render_clip

    folder = tmp_path_factory.mktemp("dub")
    clip = render_clip(make_scene(3, num_characters=1, num_lines=1), size=32, num_frames=13)
    video = write_video(folder / "clip.mp4", clip.frames.numpy(), clip.fps, clip.audio, clip.sample_rate)
    truth = clip.truth.save(truth_path_for(video))
    return video, truth


def test_dub_end_to_end_random_weights(synthetic_clip, tmp_path, capsys):
    from talkgen.audio.io import load_audio, save_wav
    from talkgen.media import probe, read_video

    video, truth = synthetic_clip
    speech = tmp_path / "new.wav"
    save_wav(speech, (np.random.default_rng(0).standard_normal(16_000) * 0.1).astype(np.float32), 16_000)
    out = tmp_path / "dubbed.mp4"
    args = ["dub", str(video), "--audio", str(speech), "-o", str(out), "--random-weights", "--steps", "2"]
    assert cli.main([*args, "--truth", str(truth), "--seed", "1"]) == 0
    assert "wrote" in capsys.readouterr().out
    info = probe(out)
    assert info.has_audio and info.width == 32 and info.height == 32
    frames, fps = read_video(out)
    assert fps == 25.0 and len(frames) == 25  # pad: 1 s of speech is longer than the 13-frame clip
    assert abs(len(load_audio(out)) / 16_000 - 1.0) < 0.1


def test_dub_text_trim_policy(synthetic_clip, tmp_path):
    from talkgen.media import read_video

    video, truth = synthetic_clip
    out = tmp_path / "trim.mp4"
    args = ["dub", str(video), "--text", "Hi there.", "-o", str(out), "--random-weights", "--steps", "1"]
    assert cli.main([*args, "--truth", str(truth), "--length-policy", "trim", "--extent", "face"]) == 0
    assert len(read_video(out)[0]) == 13


def test_dub_fixed_mouth_box(synthetic_clip, tmp_path, capsys):
    video, _ = synthetic_clip
    out = tmp_path / "box.mp4"
    args = ["dub", str(video), "--text", "Hi.", "-o", str(out), "--random-weights", "--steps", "1"]
    assert cli.main([*args, "--mouth-box", "10,18,22,24"]) == 0
    assert "mouth edited on 13" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "{tmp}/no-such-model"], "no model at"),
        (["--random-weights", "--length-policy", "stretch"], "length policy"),
        (["--random-weights", "--strength", "2"], "strength"),
        (["--random-weights", "--face", "left"], "face"),
        (["--random-weights", "--mouth-box", "1,2"], "--mouth-box"),
        (["--random-weights", "--mouth-box", "3"], "--mouth-box"),
    ],
)
def test_dub_user_errors_are_one_line(synthetic_clip, tmp_path, capsys, extra, message):
    video, _ = synthetic_clip
    extra = [e.format(tmp=tmp_path) for e in extra]
    assert cli.main(["dub", str(video), "--text", "Hi.", "-o", str(tmp_path / "x.mp4"), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_dub_refuses_non_media_and_two_speech_sources(tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not media at all")
    assert cli.main(["dub", str(bad), "--text", "Hi.", "-o", str(tmp_path / "o.mp4"), "--random-weights"]) == 2
    assert str(bad) in capsys.readouterr().err
    both = ["dub", str(bad), "--text", "Hi.", "--audio", str(bad), "-o", str(tmp_path / "o.mp4")]
    assert cli.main(both) == 2
    assert "exactly one" in capsys.readouterr().err


def test_dub_one_track_per_face(tmp_path, capsys):
    """Two characters, two tracks: `--audio-for 1=a.wav --audio-for 2=b.wav`; the manifest records them."""
    import json

    from talkgen.audio.io import save_wav
    from talkgen.media import probe, write_video
    from talkgen.synth.truth import truth_path_for
    from talkgen.synth.world import make_scene, render_clip

    clip = render_clip(make_scene(9006, num_characters=2, mode="continuous", num_lines=2), size=32, num_frames=13)
    video = write_video(tmp_path / "two.mp4", clip.frames.numpy(), clip.fps, clip.audio, clip.sample_rate)
    truth = clip.truth.save(truth_path_for(video))
    rng = np.random.default_rng(0)
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    save_wav(a, (rng.standard_normal(8000) * 0.1).astype(np.float32), 16_000)
    save_wav(b, (rng.standard_normal(12000) * 0.1).astype(np.float32), 16_000)
    out = tmp_path / "dubbed.mp4"
    args = ["dub", str(video), "--audio-for", f"1={a}", "--audio-for", f"2={b}", "-o", str(out), "--truth", str(truth)]
    assert cli.main([*args, "--random-weights", "--steps", "1", "--length-policy", "trim"]) == 0
    assert probe(out).has_audio
    manifest = json.loads(out.with_suffix(".manifest.json").read_text())
    assert manifest["face_tracks"] == {"tracks": 2, "edited": [0, 1]}

    one = ["dub", str(video), "--audio-for", f"2={b}", "-o", str(tmp_path / "one.mp4"), "--truth", str(truth)]
    assert cli.main([*one, "--random-weights", "--steps", "1"]) == 0
    manifest = json.loads((tmp_path / "one.manifest.json").read_text())
    assert manifest["face_tracks"] == {"tracks": 2, "edited": [1]}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--audio-for", "1{a}"], "write FACE=FILE"),
        (["--audio-for", "0={a}"], "face 0 is not in 1..4"),
        (["--audio-for", "1={a}", "--audio-for", "1={a}"], "face 1 is given two tracks"),
        (["--audio-for", "1={a}", "--text", "Hi."], "leave out --audio, --text"),
        (["--audio-for", "1={a}", "--face", "0"], "leave out --audio, --text"),
        (["--audio-for", "1={tmp}/missing.wav"], "missing.wav"),
    ],
)
def test_dub_audio_for_errors_are_one_line(synthetic_clip, tmp_path, capsys, extra, message):
    from talkgen.audio.io import save_wav

    video, _ = synthetic_clip
    a = tmp_path / "a.wav"
    save_wav(a, np.zeros(8000, np.float32), 16_000)
    extra = [e.format(a=a, tmp=tmp_path) for e in extra]
    out = tmp_path / "x.mp4"
    assert cli.main(["dub", str(video), "-o", str(out), "--random-weights", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not out.exists()


def test_dub_to_mkv_is_lossless_outside_the_edit(synthetic_clip, tmp_path):
    """An .mkv dub is FFV1: outside the edit region the decoded frames are the source decode's, bit for bit."""
    import json

    from talkgen.media import probe, read_video
    from talkgen.pipelines.mouth import TruthMouthLocator, edit_mask
    from talkgen.synth.truth import GroundTruth

    video, truth = synthetic_clip
    out = tmp_path / "dubbed.mkv"
    args = ["dub", str(video), "--text", "Hi there.", "-o", str(out), "--truth", str(truth), "--length-policy", "trim"]
    assert cli.main([*args, "--random-weights", "--steps", "2"]) == 0
    info = probe(out)
    assert info.video.codec == "ffv1" and info.has_audio
    source, _ = read_video(video)
    dubbed, _ = read_video(out)
    mask = edit_mask(TruthMouthLocator(GroundTruth.load(truth)).locate(source), "mouth")
    outside = mask == 0
    assert outside.mean() > 0.8
    np.testing.assert_array_equal(dubbed[outside], source[outside])
    assert (dubbed[~outside] != source[~outside]).any()
    manifest = json.loads(out.with_suffix(".manifest.json").read_text())
    assert manifest["encode"] == {"codec": "ffv1", "pix_fmt": "bgr0", "crf": None}


def test_dub_keeps_a_444_source_in_444(synthetic_clip, tmp_path):
    from talkgen.media import probe, read_video, write_video

    video, truth = synthetic_clip
    frames, fps = read_video(video)
    source = write_video(tmp_path / "full.mp4", frames, fps, pix_fmt="yuv444p")
    (tmp_path / "full.truth.json").write_bytes(truth.read_bytes())
    out = tmp_path / "out.mp4"
    args = ["dub", str(source), "--text", "Hi.", "-o", str(out), "--random-weights", "--steps", "1"]
    assert cli.main([*args, "--truth", str(tmp_path / "full.truth.json")]) == 0
    assert probe(source).video.pix_fmt == "yuv444p" and probe(out).video.pix_fmt == "yuv444p"
    assert probe(video).video.pix_fmt == "yuv420p"  # and 4:2:0 footage stays 4:2:0 (the tests above)


def test_dub_output_suffix_is_checked_first(synthetic_clip, tmp_path, capsys):
    video, _ = synthetic_clip
    assert cli.main(["dub", str(video), "--text", "Hi.", "-o", str(tmp_path / "x.mov"), "--random-weights"]) == 2
    assert ".mp4 (H.264) or .mkv (lossless FFV1" in capsys.readouterr().err


def test_dub_keeps_the_footage_audio_under_the_new_speech(tmp_path):
    """--keep-background -6: the output audio is the new speech plus the footage's track at half amplitude."""
    from talkgen.audio.io import load_audio, save_wav
    from talkgen.media import write_video
    from talkgen.pipelines.dub import mix_background, source_bed

    fps, sr = 25.0, 16_000
    frames = np.full((25, 32, 32, 3), 128, np.uint8)
    t = np.arange(sr) / sr
    bed = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)  # the footage's 1 s "music"
    video = write_video(tmp_path / "f.mp4", frames, fps, bed, sr)
    speech = (0.2 * np.sin(2 * np.pi * 880 * np.arange(2 * sr) / sr)).astype(np.float32)  # 2 s: pad holds 1 s
    save_wav(tmp_path / "s.wav", speech, sr)
    out = tmp_path / "o.mp4"
    args = ["dub", str(video), "--audio", str(tmp_path / "s.wav"), "-o", str(out), "--mouth-box", "10,18,22,24"]
    assert cli.main([*args, "--random-weights", "--steps", "1", "--keep-background", "-6"]) == 0
    mixed = load_audio(out)[: 2 * sr]

    def level(x, hz):  # amplitude of one sine in x
        n = np.arange(len(x)) / sr
        return 2 * abs(np.mean(x * np.exp(-2j * np.pi * hz * n)))

    first, second = mixed[: sr - 800], mixed[sr + 800 :]
    assert level(first, 220) == pytest.approx(0.2 * 10 ** (-6 / 20), rel=0.15)  # the bed, 6 dB down
    assert level(first, 880) == pytest.approx(0.2, rel=0.15) and level(second, 880) == pytest.approx(0.2, rel=0.15)
    assert level(second, 220) < 0.01  # the held last frame (pad) carries no bed
    # loop replays the bed with the picture; the mix clips at full scale
    lay = source_bed(video, None, np.array([0, 1, 0, 1]), fps)
    assert not lay.any()  # no probe info: no audio to lay
    assert mix_background(np.ones(4, np.float32), np.ones(4, np.float32), 0.0).max() == 1.0
    assert cli.main([*args, "--random-weights", "--keep-background", "6"]) == 2
