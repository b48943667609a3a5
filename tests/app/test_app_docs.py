"""The gradio_client examples of README.md and docs/app.md, run as written against a live app (the shipped model;
only the address is the test app's), from the repository root: every call succeeds.

The two examples share calls (the README's are a subset of docs/app.md's, argument for argument): a call already
answered by the live app in this session is answered again from that record instead of rendering the same scene
twice; a call that differs in anything goes to the app.
"""

from __future__ import annotations

import json

import pytest
from docs_blocks import REPO, code_blocks

pytestmark = pytest.mark.timeout(300)

_ANSWERED: dict[str, object] = {}  # (api name, arguments) -> the live app's answer, this session


@pytest.mark.parametrize("markdown", ["README.md", "docs/app.md"])
def test_gradio_client_example_runs(markdown, app_url, monkeypatch):
    gradio_client = pytest.importorskip("gradio_client")
    (code,) = code_blocks(markdown, "python")
    assert 'Client("http://127.0.0.1:7860/")' in code
    code = code.replace('Client("http://127.0.0.1:7860/")', f"Client({app_url!r}, verbose=False)")
    calls: list[tuple[str, tuple]] = []
    predict = gradio_client.Client.predict

    def recording(self, *args, api_name=None, **kwargs):
        key = json.dumps([api_name, args, kwargs], sort_keys=True, default=repr)
        if key not in _ANSWERED:
            _ANSWERED[key] = predict(self, *args, api_name=api_name, **kwargs)
        result = _ANSWERED[key]
        calls.append((api_name, result))
        return result

    monkeypatch.setattr(gradio_client.Client, "predict", recording)
    monkeypatch.chdir(REPO)
    exec(compile(code, markdown, "exec"), {"print": lambda *a, **k: None})  # noqa: S102
    assert [name for name, _ in calls] == [
        line.split('api_name="')[1].split('"')[0] for line in code.splitlines() if 'api_name="' in line
    ]
    for name, result in calls:
        status = str(result[0]).lower()
        assert "error" not in status and "refused" not in status and "not " not in status, (name, result[0])
    outputs = dict(calls)
    assert outputs["/check_script"][1].startswith("scene 1/1: Coffee break")
    manifest = outputs["/generate"][3]
    assert manifest["frames"] > 0 and manifest["model"]["name"] == "talkgen-tiny"  # the shipped model
    assert str(REPO) not in json.dumps(manifest)  # no server path reaches the browser
    assert {"offset_frames", "confidence"} <= set(outputs["/evaluate_sync"][1])
