from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

pytest.importorskip("mediapipe")
skimage_data = pytest.importorskip("skimage.data")

from talkgen.media import write_video  # noqa: E402
from talkgen.training.prepare import parse_srt, scene_cuts, segments, speech_flags  # noqa: E402

FPS = 12.0
SR = 16000


def _face_frames(n: int = 12) -> np.ndarray:
    """(n, 192, 192, 3) uint8: the astronaut's face, drifting one pixel per frame."""
    img = skimage_data.astronaut()
    return np.stack([img[i : 192 + i, 96 + i : 288 + i] for i in range(n)])


def _tone(seconds: float, hz: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_prepare_writes_good_clips_and_reports_bad_files(app, tmp_path, tiny_settings):
    footage = tmp_path / "footage"
    footage.mkdir()
    frames = _face_frames()
    write_video(footage / "a.mp4", frames, FPS, _tone(len(frames) / FPS), SR)
    (footage / "a.txt").write_text("the astronaut says hello\n")
    write_video(footage / "b.mp4", frames[::-1], FPS, _tone(len(frames) / FPS, 330.0), SR)
    (footage / "b.srt").write_text(
        "1\n00:00:00,000 --> 00:00:00,500\nfirst line\n\n2\n00:00:05,000 --> 00:00:06,000\nlater\n"
    )
    (footage / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x17" * 2000)
    rng = np.random.default_rng(0)
    noface = np.repeat(rng.integers(0, 255, (1, 64, 64, 3), dtype=np.uint8), 12, axis=0)
    write_video(footage / "noface.mp4", noface, FPS, _tone(1.0), SR)

    out = tmp_path / "shards"
    result = CliRunner().invoke(app, ["prepare", str(footage), "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert sorted(report["files"]) == ["a.mp4", "b.mp4"]
    assert sorted(item["file"] for item in report["skipped"]) == ["corrupt.mp4", "noface.mp4"]
    rows = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert [r["source"] for r in rows] == ["a.mp4", "b.mp4"]
    assert rows[0]["caption"] == "the astronaut says hello"
    assert rows[1]["caption"] == "first line"
    for row in rows:
        stem = out / f"shard-{row['shard']:05d}" / f"{row['id']:06d}"
        assert stem.with_suffix(".mp4").is_file()
        meta = json.loads(stem.with_suffix(".json").read_text())
        assert meta["faces"]["face_fraction"] >= 0.5 and meta["num_frames"] == 12
        assert all(meta["speaking"])
        streams = np.load(stem.with_suffix(".audio.npz"))["streams"]
        assert streams.shape == (1, SR) and streams.dtype == np.float32

    # the shards train the DiT as they are (footage has no edit pairs, so edit_share stays 0)
    config = tmp_path / "dit.yaml"
    config.write_text(yaml.safe_dump({**tiny_settings, "task": "dit", "output_dir": str(tmp_path / "run")}))
    result = CliRunner().invoke(app, ["train", "dit", "-c", str(config), "--steps", "1", "--data-dir", str(out)])
    assert result.exit_code == 0, result.output
    assert "step 1 loss" in result.output


def test_scene_cuts_segments_speech_and_srt():
    frames = np.zeros((20, 8, 8, 3), np.uint8)
    frames[10:] = 200
    cuts = scene_cuts(frames, 30.0)
    assert cuts == [10]
    assert segments(20, cuts, 5, 8) == [(0, 8), (10, 18)]
    audio = np.concatenate([np.zeros(SR // 2, np.float32), _tone(0.5)])
    flags = speech_flags(audio, 10.0, 10, -40.0)
    assert flags.tolist() == [False] * 5 + [True] * 5
    assert parse_srt("1\n00:00:01,500 --> 00:00:02,000\nhi\nthere\n") == [(1.5, 2.0, "hi there")]
