"""Fixtures of the eval tests: speech-like audio and a real photo animated with a jaw warp driven by it."""

from __future__ import annotations

import numpy as np
import pytest

SR = 16000
FPS = 25.0


def speech_like(seconds: float, seed: int, sample_rate: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """Syllable-rate amplitude-modulated voiced noise. Returns (waveform float32 (N,), syllable gain (N,))."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    gain = np.zeros(n)
    pos = int(0.2 * sample_rate)
    while pos < n:
        dur = int(rng.uniform(0.09, 0.26) * sample_rate)
        amp = rng.uniform(0.3, 1.0)
        seg = amp * np.sin(np.linspace(0, np.pi, dur)) ** 2
        end = min(n, pos + dur)
        gain[pos:end] = seg[: end - pos]
        pos = end + int(rng.uniform(0.03, 0.25) * sample_rate) * (1 + int(rng.random() < 0.1) * 4)
    t = np.arange(n) / sample_rate
    carrier = 0.6 * np.sin(2 * np.pi * 140 * t) + 0.3 * np.sin(2 * np.pi * 280 * t) + 0.3 * rng.standard_normal(n)
    return (0.3 * gain * carrier).astype(np.float32), gain


def jaw_warp_clip(image: np.ndarray, mouth: dict, opening: np.ndarray) -> np.ndarray:
    """Animate a still face: drag the lower lip and chin down by ``opening`` (T,) pixels, stretching the mouth.

    ``mouth`` holds ``cx, cy`` (inner-lip centre), ``width`` (inner mouth width) and ``chin`` (chin y), in pixels.
    Rows between the lip line and the moved lower lip repeat the lip-line row (a taller mouth opening).
    Returns uint8 (T, H, W, 3).
    """
    import cv2

    h, w, _ = image.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    wx = np.exp(-0.5 * ((xx - mouth["cx"]) / (0.45 * mouth["width"])) ** 2)
    below = yy - mouth["cy"]
    chin_span = mouth["chin"] - mouth["cy"]
    wy = np.where(below < 0, 0.0, np.where(below <= chin_span, 1.0, np.clip(1 - (below - chin_span) / 30.0, 0, 1)))
    frames = np.empty((len(opening), h, w, 3), dtype=np.uint8)
    for i, a in enumerate(opening):
        src_y = yy - a * wx * wy
        src_y = np.where(below >= 0, np.maximum(src_y, mouth["cy"]), src_y).astype(np.float32)
        frames[i] = cv2.remap(image, xx, src_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return frames


@pytest.fixture(scope="session")
def astronaut_face():
    """A 256x256 crop of scikit-image's astronaut photo and its mouth geometry (measured by the face mesh)."""
    skdata = pytest.importorskip("skimage.data")
    from talkgen.media.faces import INNER_LIP, FaceMeshTracker

    img = np.ascontiguousarray(skdata.astronaut()[0:256, 96:352])
    det, _, _ = FaceMeshTracker().detect(img[None])
    pts = det[0][0]
    inner = pts[list(INNER_LIP)]
    mouth = {
        "cx": float(inner[:, 0].mean()),
        "cy": float(inner[:, 1].mean()),
        "width": float(np.ptp(inner[:, 0])),
        "chin": float(pts[152, 1]),
    }
    return img, mouth


@pytest.fixture(scope="session")
def make_speech():
    return speech_like


@pytest.fixture(scope="session")
def make_jaw_clip():
    return jaw_warp_clip


@pytest.fixture(scope="session")
def world_clips():
    """Ground-truth renders: a one-character close-up (64 px) and a three-character shot (128 px)."""
    from talkgen.synth.world import make_scene, render_clip

    one = render_clip(make_scene(101, 1, "cut", num_lines=1), size=64)
    three = render_clip(make_scene(103, 3, "continuous", num_lines=3), size=128)
    return {"one": one, "three": three}
