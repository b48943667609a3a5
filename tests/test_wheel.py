"""A wheel install works away from the checkout: package data travels, nothing is looked up beside the sources.

Builds the wheel, installs it (no dependencies: they are this environment's) into a bare folder, and runs
``script check``, ``generate`` and ``dub`` from an unrelated working directory with only that folder importable.
``generate`` finds a saved pipeline through ``$TALKGEN_MODEL_DIR`` and ``dub`` is given it with ``--model``: new
interpreters, where diffusers imports no component library itself, must load talkgen's own component classes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "talkgen", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_wheel_install_runs_script_check_generate_and_dub_from_elsewhere(tmp_path):
    from talkgen.audio.io import save_wav
    from talkgen.media import write_video
    from talkgen.pipelines.pipeline_talking import build_tiny_pipeline
    from talkgen.synth.world import make_scene, render_clip

    source = tmp_path / "source"  # a clean copy: the build must not depend on (or write into) the checkout
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "models", "benchmarks", "*.egg-info", "build", "__pycache__", "samples", "tests"
        ),
    )
    dist, site, work = tmp_path / "dist", tmp_path / "site", tmp_path / "work"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)], check=True)
    (wheel,) = dist.glob("talkgen-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)
    work.mkdir()
    scene = work / "scene.yaml"
    shutil.copy(REPO / "samples" / "scenes" / "monologue.yaml", scene)
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("TALKGEN_MODEL_DIR", None)

    where = subprocess.run(
        [sys.executable, "-c", "import talkgen; print(talkgen.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout  # the wheel's copy, not the checkout's

    check = _run(["script", "check", str(scene)], work, env)
    assert check.returncode == 0, check.stderr
    no_model = _run(["generate", str(scene), "-o", "x.mp4"], work, env)  # a wheel has no default model
    assert no_model.returncode != 0 and "TALKGEN_MODEL_DIR" in no_model.stderr
    assert not (work / "x.mp4").exists()
    model = tmp_path / "saved-model"  # a saved pipeline (one layer: the loading, not the weights, is under test)
    build_tiny_pipeline(seed=0, num_layers=1).save_pretrained(model)
    gen = _run(
        ["generate", str(scene), "-o", "scene.mp4", "--steps", "1", "--size", "32"],
        work,
        {**env, "TALKGEN_MODEL_DIR": str(model)},
    )
    assert gen.returncode == 0, gen.stderr
    assert json.loads((work / "scene.manifest.json").read_text())["model"]["path"] == str(model)
    assert (work / "scene.mp4").stat().st_size > 0

    clip = render_clip(make_scene(3, num_characters=1, num_lines=1), size=32, num_frames=13)
    write_video(work / "clip.mp4", clip.frames.numpy(), clip.fps, clip.audio, clip.sample_rate)
    save_wav(work / "new.wav", (np.random.default_rng(0).standard_normal(8_000) * 0.1).astype(np.float32), 16_000)
    dub = _run(
        [
            "dub",
            "clip.mp4",
            "--audio",
            "new.wav",
            "-o",
            "dubbed.mp4",
            "--model",
            str(model),
            "--steps",
            "1",
            "--mouth-box",
            "10,18,22,24",
        ],
        work,
        env,
    )
    assert dub.returncode == 0, dub.stderr
    assert (work / "dubbed.mp4").stat().st_size > 0
