"""Fixtures of the web app tests: one app launched on 127.0.0.1 for the session, and small media files."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE_CLIP = REPO / "samples" / "synth" / "clip_seed7.mp4"
MAX_FILE_SIZE_MB = 1
BAD_SPEAKER_LINE = "  - Ben: It makes a sound like a jet engine."
# A one-line scene: the shortest render on tiny random weights.
SHORT_SCRIPT = """title: Hello
description: a plain grey room
characters:
  - name: Mara
    description: an old woman with short grey hair
lines:
  - Mara: Hello there.
"""


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """URL of ``python -m talkgen.app`` on a free port with a 1 MiB upload limit."""
    pytest.importorskip("gradio")
    from app_browser import running_app

    folder = tmp_path_factory.mktemp("app")
    with running_app("--max-file-size-mb", str(MAX_FILE_SIZE_MB), temp_dir=folder) as url:
        yield url


@pytest.fixture(scope="session")
def client(app_url):
    gradio_client = pytest.importorskip("gradio_client")
    return gradio_client.Client(app_url, verbose=False)


@pytest.fixture(scope="session")
def bad_script() -> tuple[str, int]:
    """The dialogue sample with an undeclared speaker 'Bob', and the 1-based line of the mistake."""
    text = (REPO / "samples" / "scenes" / "dialogue.yaml").read_text(encoding="utf-8")
    assert BAD_SPEAKER_LINE in text
    line = text.splitlines().index(BAD_SPEAKER_LINE) + 1
    return text.replace(BAD_SPEAKER_LINE, BAD_SPEAKER_LINE.replace("Ben:", "Bob:")), line


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory) -> Path:
    """Frames 20-32 of the synthetic sample clip (a cartoon face the face mesh finds), without audio."""
    from talkgen.media import read_video, write_video

    frames, fps = read_video(SAMPLE_CLIP, max_frames=33)
    return write_video(tmp_path_factory.mktemp("clip") / "short.mp4", frames[20:33], fps)


@pytest.fixture(scope="session")
def oversized_file(tmp_path_factory) -> Path:
    """A 2 MiB file named .mp4: over the app's 1 MiB upload limit."""
    path = tmp_path_factory.mktemp("big") / "big.mp4"
    path.write_bytes(b"\0" * (2 * MAX_FILE_SIZE_MB * 1024 * 1024))
    return path


@pytest.fixture(scope="session")
def short_script() -> str:
    return SHORT_SCRIPT


@pytest.fixture(scope="session")
def sample_clip() -> Path:
    return SAMPLE_CLIP


@pytest.fixture(scope="session")
def max_file_size_mb() -> int:
    return MAX_FILE_SIZE_MB
