"""generate and dub jobs run end to end through the API on untrained tiny weights."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from talkgen.pipelines.defaults import KEYFRAME_STEPS
from talkgen.serve.api import create_app
from talkgen.serve.settings import ServeSettings

SCRIPT = """
title: Hello
characters:
  - name: Ana
    description: a woman with curly red hair
    voice: en-us
lines:
  - Ana: Hi.
"""


def _wait(client, job_id, timeout=240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"{job_id} did not finish: {job}")


def test_generate_and_dub_jobs(tmp_path):
    from talkgen.media import probe, write_video
    from talkgen.synth.world import make_scene, render_clip

    clip = render_clip(make_scene(3, num_characters=1, num_lines=1), size=32, num_frames=13)
    footage = write_video(tmp_path / "clip.mp4", clip.frames.numpy(), clip.fps, clip.audio, clip.sample_rate)
    with TestClient(create_app(ServeSettings(tmp_path / "data", workers=1, lease_s=30))) as client:
        request = {"kind": "generate", "script": SCRIPT, "model": "untrained-tiny", "width": 32, "height": 32,
                   "num_inference_steps": 1}  # fmt: skip
        assert client.put("/v1/jobs/g1", json=request).status_code == 201
        ref = client.put("/v1/uploads", params={"name": "clip.mp4"}, content=footage.read_bytes()).json()["ref"]
        dub = {"kind": "dub", "footage": ref, "text": "Hello there.", "model": "untrained-tiny",
               "num_inference_steps": 1, "face_crop": 0.5}  # fmt: skip
        assert client.put("/v1/jobs/d1", json=dub).status_code == 201
        for job_id, names in (
            ("g1", {"scene.mp4", "scene.srt", "scene.manifest.json"}),
            ("d1", {"dub.mp4", "dub.manifest.json"}),
        ):
            job = _wait(client, job_id)
            assert job["state"] == "succeeded", job
            outputs = client.get(f"/v1/jobs/{job_id}/result").json()["outputs"]
            assert set(outputs) == names
        video = client.get("/v1/jobs/g1/result/scene.mp4").content
        (tmp_path / "scene.mp4").write_bytes(video)
        info = probe(tmp_path / "scene.mp4")
        assert info.width == 32 and info.has_audio
        manifest = json.loads(client.get("/v1/jobs/g1/result/scene.manifest.json").content)
        assert manifest["model"]["random_weights"] is True and manifest["steps"] == 1
        assert manifest["script"] == "script" and manifest["output"] == "scene.mp4"
        dub_manifest = client.get("/v1/jobs/d1/result/dub.manifest.json").content.decode()
        assert json.loads(dub_manifest)["settings"]["face_crop"] == 0.5  # the request's setting reached the dub
        for text in (json.dumps(manifest), dub_manifest):
            assert str(tmp_path) not in text  # no server path reaches the client
        (tmp_path / "dub.mp4").write_bytes(client.get("/v1/jobs/d1/result/dub.mp4").content)
        dubbed = probe(tmp_path / "dub.mp4")
        assert dubbed.has_audio and dubbed.width == 32


def test_a_job_for_a_model_the_server_lacks_is_refused_at_submission(tmp_path, monkeypatch):
    from talkgen.pipelines import loading

    monkeypatch.setattr(loading, "default_model_dir", lambda: None)  # a server without talkgen-tiny
    with TestClient(create_app(ServeSettings(tmp_path / "data", workers=0))) as client:
        r = client.put("/v1/jobs/g1", json={"kind": "generate", "script": SCRIPT})
        assert r.status_code == 422 and "untrained-tiny" in r.json()["error"]["message"]
        assert "--" not in r.json()["error"]["message"]  # API terms, not CLI flags
        assert client.get("/v1/jobs/g1").status_code == 404
        ok = client.put("/v1/jobs/g2", json={"kind": "generate", "script": SCRIPT, "model": "untrained-tiny"})
        assert ok.status_code == 201


def test_a_script_may_read_only_its_own_assets_and_errors_reveal_no_server_file(tmp_path):
    from talkgen.audio.io import save_wav

    private = tmp_path / "private"
    private.mkdir()
    save_wav(private / "line.wav", np.zeros(8000, np.float32), 16_000)  # a server file a client must not read
    relative = "../" * 12 + str(private / "line.wav").lstrip("/")
    scripts = {
        "abs": str(private / "line.wav"),
        "rel": relative,
        "missing": str(private / "nothing.wav"),
    }
    with TestClient(create_app(ServeSettings(tmp_path / "data", workers=1, lease_s=30))) as client:
        for job_id, path in scripts.items():
            script = SCRIPT.replace("  - Ana: Hi.", f"  - speaker: Ana\n    text: Hi.\n    audio: {path}")
            request = {"kind": "generate", "script": script, "model": "untrained-tiny", "width": 32, "height": 32,
                       "num_inference_steps": 1}  # fmt: skip
            assert client.put(f"/v1/jobs/{job_id}", json=request).status_code == 201
        errors = {job_id: _wait(client, job_id) for job_id in scripts}
        for job in errors.values():
            assert job["state"] == "failed", job
            assert "outside this job's assets" in job["error"] and str(tmp_path) not in job["error"], job["error"]
        # an existing and a missing server file give the same answer (up to the name the script gave)
        assert errors["abs"]["error"] == errors["missing"]["error"].replace("nothing.wav", "line.wav")


def test_a_generate_request_may_turn_the_keyframe_stage_and_the_retiming_off_and_set_the_anchor_and_steps(
    tmp_path, monkeypatch
):
    from talkgen.pipelines import generate
    from talkgen.serve.jobs import GenerateRequest, run_generate

    seen = []

    def capture(script, output, options, progress, **kwargs):
        seen.append(
            (
                options.keyframe,
                options.retime,
                options.reference_anchor,
                options.keyframe_steps,
                options.keyframe_draws,
            )
        )
        raise RuntimeError("captured")

    monkeypatch.setattr(generate, "generate_scene_file", capture)
    cases = (
        ({}, (True, True, None, KEYFRAME_STEPS, None)),
        ({"keyframe": False}, (False, True, None, KEYFRAME_STEPS, None)),
        ({"retime": False}, (True, False, None, KEYFRAME_STEPS, None)),
        ({"reference_anchor": 0.25}, (True, True, 0.25, KEYFRAME_STEPS, None)),
        ({"keyframe_steps": 2}, (True, True, None, 2, None)),
        ({"keyframe_draws": 3}, (True, True, None, KEYFRAME_STEPS, 3)),
    )
    for body, expected in cases:
        spec = GenerateRequest(kind="generate", script=SCRIPT, **body)
        with pytest.raises(RuntimeError, match="captured"):
            run_generate(spec, tmp_path, tmp_path, lambda *a: None, lambda: False)
        assert seen[-1] == expected
    bad = (
        ("keyframe", "sometimes"), ("retime", "sometimes"), ("reference_anchor", 1.5), ("keyframe_steps", 0),
        ("keyframe_draws", 0), ("keyframe_draws", 17),
    )  # fmt: skip
    for field, value in bad:
        with pytest.raises(ValueError, match=field):
            GenerateRequest(kind="generate", script=SCRIPT, **{field: value})
