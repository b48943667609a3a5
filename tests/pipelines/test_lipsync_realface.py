"""Real-face dub: scikit-image's astronaut photo moved with small affine motion, through ``talkgen dub``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import talkgen.cli as cli

pytestmark = pytest.mark.slow
FPS = 25.0


def astronaut_clip(num_frames: int = 25) -> np.ndarray:
    """uint8 (T, 256, 256, 3): the astronaut's face crop, shifted by up to 4 px and rotated by up to 2 degrees."""
    cv2 = pytest.importorskip("cv2")
    skdata = pytest.importorskip("skimage.data")
    image = np.ascontiguousarray(skdata.astronaut()[0:256, 96:352])
    frames = np.empty((num_frames, 256, 256, 3), np.uint8)
    for i in range(num_frames):
        phase = 2 * np.pi * i / num_frames
        matrix = cv2.getRotationMatrix2D((128.0, 128.0), 2.0 * np.sin(phase), 1.0 + 0.02 * np.sin(2 * phase))
        matrix[:, 2] += (4.0 * np.cos(phase), 3.0 * np.sin(phase))
        frames[i] = cv2.warpAffine(image, matrix, (256, 256), borderMode=cv2.BORDER_REFLECT)
    return frames


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> tuple[Path, np.ndarray]:
    from talkgen.media import write_video

    frames = astronaut_clip()
    path = tmp_path_factory.mktemp("astronaut") / "astronaut.mp4"
    hum = (0.05 * np.sin(2 * np.pi * 220 * np.arange(16_000) / 16_000)).astype(np.float32)
    return write_video(path, frames, FPS, hum, 16_000), frames


def test_mediapipe_finds_the_mouth_on_95_percent_of_frames(footage):
    pytest.importorskip("mediapipe")
    from talkgen.media import read_video
    from talkgen.pipelines.mouth import MediaPipeMouthLocator

    path, _ = footage
    frames, _ = read_video(path)
    track = MediaPipeMouthLocator().locate(frames)
    assert track.has_face.mean() >= 0.95
    widths = track.widths()[track.present]
    assert np.all((widths > 10) & (widths < 120))  # a mouth-sized box on a 256-pixel face crop


@pytest.mark.parametrize(("policy", "speech_s", "expected"), [("pad", 1.6, 40), ("trim", 1.6, 25)])
def test_talkgen_dub_real_face(footage, tmp_path, capsys, policy, speech_s, expected):
    pytest.importorskip("mediapipe")
    from talkgen.audio.io import load_audio, save_wav
    from talkgen.media import probe, read_video

    path, _ = footage
    rng = np.random.default_rng(0)
    speech = tmp_path / "speech.wav"
    save_wav(speech, (rng.standard_normal(int(speech_s * 16_000)) * 0.1).astype(np.float32), 16_000)
    out = tmp_path / "dubbed.mp4"
    args = ["dub", str(path), "--audio", str(speech), "-o", str(out), "--random-weights", "--steps", "1"]
    assert cli.main([*args, "--max-side", "64", "--length-policy", policy]) == 0
    report = capsys.readouterr().out
    frames, fps = read_video(out)
    assert len(frames) == expected and fps == FPS
    assert probe(out).has_audio
    audio = load_audio(out)
    assert abs(len(audio) / 16_000 - expected / FPS) < 0.1
    edited = int(report.split("mouth edited on ")[1].split(",")[0])
    assert edited >= 0.95 * expected
