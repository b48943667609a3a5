"""Fixtures for talkgen.media tests: every media file is generated here with the bundled ffmpeg or numpy."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def _run_ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=60)


@pytest.fixture(scope="session")
def ffmpeg() -> Callable[..., None]:
    """Run the bundled ffmpeg with the given arguments (test-side generator of media files)."""
    return _run_ffmpeg


@pytest.fixture(scope="session")
def make_clip(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Build a test clip: ``make_clip(name, size="128x96", rate=25, seconds=2, audio=True, extra=())``."""
    folder = tmp_path_factory.mktemp("clips")

    def make(
        name: str,
        size: str = "128x96",
        rate: str | int = 25,
        seconds: float = 2.0,
        audio: bool = True,
        extra: tuple[str, ...] = ("-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"),
    ) -> Path:
        out = folder / name
        args = ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}"]
        if audio:
            args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
        args += ["-t", str(seconds), *extra, str(out)]
        _run_ffmpeg(*args)
        return out

    return make


@pytest.fixture(scope="session")
def clip(make_clip: Callable[..., Path]) -> Path:
    """2 s, 128x96, 25 fps H.264 + 44.1 kHz AAC mono, moov atom at the end (no faststart)."""
    return make_clip("clip.mp4")


def smooth_frames(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """Compressible test frames ``uint8 (T, H, W, 3)``: moving colour gradients (H.264 keeps them close)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, 3)
    out = np.empty((t, h, w, 3), np.uint8)
    for i in range(t):
        for c in range(3):
            v = 0.5 + 0.4 * np.sin(xx / w * 2 * np.pi + yy / h * np.pi * (c + 1) + phase[c] + 0.2 * i)
            out[i, :, :, c] = np.round(v * 255)
    return out


@pytest.fixture(scope="session")
def frames_factory() -> Callable[..., np.ndarray]:
    return smooth_frames
