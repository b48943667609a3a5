"""Memory/speed levers of scene generation: dtype, VAE tiling, CPU offload validation."""

from __future__ import annotations

import json

import pytest

from talkgen.errors import ConfigError
from talkgen.pipelines.generate import GenerateOptions, generate_scene_file

SCRIPT = """
characters:
  - name: Ana
    description: a woman with curly red hair
    voice: en-us
lines:
  - Ana: Hi.
"""


def test_bfloat16_with_vae_tiling_renders(tmp_path):
    script = tmp_path / "s.yaml"
    script.write_text(SCRIPT)
    options = GenerateOptions(random_weights=True, steps=1, size=16, dtype="bfloat16", vae_tiling=True)
    manifest = generate_scene_file(script, tmp_path / "out.mp4", options)
    assert manifest["dtype"] == "bfloat16" and manifest["frames"] > 0
    assert json.loads((tmp_path / "out.manifest.json").read_text())["frames"] == manifest["frames"]
    assert (tmp_path / "out.srt").read_text().strip().endswith("Hi.")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dtype": "int8"}, "dtype"),
        ({"cpu_offload": True}, "needs --device cuda"),
        ({"size": 20}, "multiple of 16"),
        ({"steps": 0}, "steps"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        GenerateOptions(**kwargs)


def test_progress_reports_every_step_and_can_cancel(tmp_path):
    script = tmp_path / "s.yaml"
    script.write_text(SCRIPT)
    options = GenerateOptions(random_weights=True, steps=2, size=16)
    seen: list[tuple[float, str]] = []
    manifest = generate_scene_file(script, tmp_path / "a.mp4", options, lambda f, m: seen.append((f, m)))
    steps = [m for _, m in seen if ", step " in m]
    assert len(steps) == manifest["clips"] * 2
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0

    class Stop(Exception):
        pass

    def cancel(fraction: float, message: str) -> None:
        if ", step " in message:
            raise Stop

    with pytest.raises(Stop):
        generate_scene_file(script, tmp_path / "b.mp4", options, cancel)
    assert not (tmp_path / "b.mp4").exists() and not (tmp_path / "b.manifest.json").exists()
