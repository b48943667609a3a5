"""`talkgen jobs fetch`: only the server's own URLs are followed, and every file must match its sha256."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from talkgen.errors import TalkgenError
from talkgen.serve.client import Client

BODY = b"RIFF....WAVEfmt "


def _client(outputs: dict, seen: list[str]) -> Client:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path == "/v1/jobs/j/result":
            return httpx.Response(200, json={"outputs": outputs})
        return httpx.Response(200, content=BODY)

    client = Client("http://127.0.0.1:8765", "secret")
    client._http = httpx.Client(base_url=client.server, headers={"Authorization": "Bearer secret"},
                                transport=httpx.MockTransport(handler))  # fmt: skip
    return client


def test_fetch_verifies_sha256_and_keeps_nothing_on_mismatch(tmp_path):
    good = hashlib.sha256(BODY).hexdigest()
    seen: list[str] = []
    ok = _client({"speech.wav": {"url": "/v1/jobs/j/result/speech.wav", "sha256": good}}, seen)
    assert ok.fetch("j", tmp_path / "a") == {"speech.wav": tmp_path / "a" / "speech.wav"}
    assert (tmp_path / "a" / "speech.wav").read_bytes() == BODY
    bad = _client({"speech.wav": {"url": "/v1/jobs/j/result/speech.wav", "sha256": "0" * 64}}, seen)
    with pytest.raises(TalkgenError, match="differs from the manifest"):
        bad.fetch("j", tmp_path / "b")
    assert list((tmp_path / "b").iterdir()) == []


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data", "http://127.0.0.1:9999/x", "https://127.0.0.1:8765/x"]
)
def test_fetch_follows_no_url_off_its_server(tmp_path, url):
    seen: list[str] = []
    client = _client({"x.mp4": {"url": url, "sha256": "0" * 64}}, seen)
    with pytest.raises(TalkgenError, match="not followed"):
        client.fetch("j", tmp_path)
    assert seen == ["http://127.0.0.1:8765/v1/jobs/j/result"]  # the token went nowhere else


def test_fetch_refuses_output_names_that_are_paths(tmp_path):
    client = _client({"../evil.sh": {"url": "/v1/jobs/j/result/x", "sha256": "0" * 64}}, [])
    with pytest.raises(TalkgenError, match="not a plain file name"):
        client.fetch("j", tmp_path / "out")
    assert not (tmp_path / "evil.sh").exists()
