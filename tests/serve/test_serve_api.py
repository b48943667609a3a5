"""HTTP API: submit/status/result, auth, bad input (4xx naming the problem), cancel, webhooks, load."""

from __future__ import annotations

import gc
import http.server
import json
import threading
import time

import psutil
import pytest
from fastapi.testclient import TestClient

from talkgen.serve.api import create_app
from talkgen.serve.ledger import Ledger
from talkgen.serve.settings import ServeSettings
from talkgen.serve.webhooks import WebhookDispatcher, verify_signature
from talkgen.serve.worker import ledger_path

TOKEN = "s3cret-token-for-tests-0123456789"


def _client(data, **kwargs) -> TestClient:
    kwargs.setdefault("workers", 0)
    return TestClient(create_app(ServeSettings(data, **kwargs)))


def _wait(client, job_id, timeout=60.0, headers=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"{job_id} did not finish: {job}")


def test_submit_run_fetch_with_auth(tmp_path, say_request):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with _client(tmp_path / "d", workers=1, tokens=(TOKEN,), lease_s=5) as client:
        assert client.put("/v1/jobs/a", json=say_request("hello")).status_code == 401
        bad = client.put("/v1/jobs/a", json=say_request("hello"), headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
        assert client.get("/healthz").status_code == 200
        created = client.put("/v1/jobs/a", json=say_request("hello"), headers=auth)
        assert created.status_code == 201 and created.json()["state"] in ("queued", "running")
        job = _wait(client, "a", headers=auth)
        assert job["state"] == "succeeded" and job["attempts"] == 1 and job["timings"]["run_seconds"] > 0
        manifest = client.get("/v1/jobs/a/result", headers=auth).json()
        assert set(manifest["outputs"]) == {"speech.wav", "words.json"}
        wav = client.get(manifest["outputs"]["speech.wav"]["url"], headers=auth)
        assert wav.status_code == 200 and wav.content[:4] == b"RIFF"
        import hashlib

        assert hashlib.sha256(wav.content).hexdigest() == manifest["outputs"]["speech.wav"]["sha256"]
        words = json.loads(client.get("/v1/jobs/a/result/words.json", headers=auth).content)
        assert [w["text"].lower() for w in words["words"]] == ["hello"]
        assert client.get("/v1/jobs/a/result/nope.mp4", headers=auth).status_code == 404
        listing = client.get("/v1/jobs", params={"state": "succeeded"}, headers=auth).json()
        assert [j["id"] for j in listing["jobs"]] == ["a"]
        types = [e["type"] for e in client.get("/v1/jobs/a/events", headers=auth).json()["events"]]
        assert types == ["submitted", "claimed", "succeeded"]
        assert client.get("/readyz").json()["workers"] == 1


def test_user_error_fails_job_with_message(tmp_path, say_request):
    with _client(tmp_path / "d", workers=1, lease_s=5) as client:
        client.put("/v1/jobs/v", json=say_request("hi", voice="no-such-voice"))
        job = _wait(client, "v")
        assert job["state"] == "failed" and "no-such-voice" in job["error"] and job["attempts"] == 1


def test_bad_input_is_refused_and_nothing_escapes_data_dir(tmp_path, say_request):
    data = tmp_path / "d"
    outside_before = {p.name for p in tmp_path.iterdir()}
    with _client(data, max_body_bytes=4096, max_upload_bytes=1 << 16) as client:
        r = client.put("/v1/jobs/x", json=say_request("hi") | {"unknown_field": 1})
        assert r.status_code == 422 and "unknown_field" in r.text
        r = client.put("/v1/jobs/x", json={"kind": "render-everything"})
        assert r.status_code == 422 and "kind" in r.text
        r = client.put("/v1/jobs/x", json=say_request("x" * 5000))
        assert r.status_code == 413 and "limit of 4096" in r.json()["error"]["message"]
        r = client.put("/v1/jobs/..%2F..%2Fescape", json=say_request("hi"))
        assert r.status_code in (404, 422)
        r = client.put("/v1/jobs/.hidden", json=say_request("hi"))
        assert r.status_code == 422 and "pattern" in r.text
        for name in ("../../escape.mp4", "/etc/passwd", "a/b.mp4", "..mp4"):
            r = client.put("/v1/uploads", params={"name": name}, content=b"data")
            assert r.status_code == 400 and "not allowed" in r.json()["error"]["message"], name
        r = client.put("/v1/uploads", params={"name": "clip.mp4"}, content=b"hello, I am not a video\n" * 20)
        assert r.status_code == 415 and "clip.mp4" in r.json()["error"]["message"]
        playlist = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://example.com/seg.ts\n"
        r = client.put("/v1/uploads", params={"name": "movie.mp4"}, content=playlist)
        assert r.status_code == 415 and "playlist" in r.json()["error"]["message"]
        r = client.put("/v1/uploads", params={"name": "big.mp4"}, content=b"\0" * (1 << 17))
        assert r.status_code == 413
        r = client.put("/v1/uploads", params={"name": "notes.txt"}, content=b"line one\n")
        assert r.status_code == 201 and r.json()["ref"].startswith("sha256:")
        ref = r.json()["ref"]
        r = client.put(
            "/v1/jobs/g",
            json={"kind": "generate", "script": "A: hi", "assets": {"notes.txt": ref}, "model": "../../weights"},
        )
        assert r.status_code == 422 and "untrained-tiny" in r.text
        r = client.put("/v1/jobs/d", json={"kind": "dub", "footage": "sha256:" + "0" * 64, "bogus": 1})
        assert r.status_code == 422
    assert {p.name for p in tmp_path.iterdir()} == outside_before | {"d"}
    leftovers = list((data / "store" / "tmp").iterdir())
    assert leftovers == [], "refused uploads leave no temporaries"
    objects = [p for p in (data / "store" / "objects").rglob("*") if p.is_file()]
    assert len(objects) == 1, "only the accepted upload was stored"


def test_cancel_queued_and_running(tmp_path, say_request):
    with _client(tmp_path / "d") as client:
        client.put("/v1/jobs/q", json=say_request("never runs"))
        assert client.post("/v1/jobs/q/cancel").json()["state"] == "cancelled"
        assert client.post("/v1/jobs/missing/cancel").status_code == 404
        assert client.get("/v1/jobs/q/result").status_code == 409
    ledger = Ledger(ledger_path(tmp_path / "d"))
    ledger.submit("r", "say", {"kind": "say"})
    ledger.claim("w", 30)
    assert ledger.request_cancel("r").state == "running"
    assert ledger.heartbeat("r", "w", 30).cancel
    ledger.close()


def test_load_bursts_get_429_never_5xx_and_memory_stays_flat(tmp_path, say_request):
    process = psutil.Process()
    statuses: dict[int, int] = {}
    rss = []
    with _client(tmp_path / "d", max_queue=300) as client:
        for burst in range(10):
            for i in range(100):
                r = client.put(f"/v1/jobs/b{burst}-{i}", json=say_request(f"burst {burst} job {i}"))
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                if r.status_code == 429:
                    assert r.headers["retry-after"] and "queue is full" in r.json()["error"]["message"]
            gc.collect()
            rss.append(process.memory_info().rss)
    assert sum(statuses.values()) == 1000
    assert statuses.get(201) == 300 and statuses.get(429) == 700, statuses
    assert not any(code >= 500 for code in statuses)
    assert rss[-1] - rss[2] < 20 * 2**20, f"memory grew {(rss[-1] - rss[2]) / 2**20:.1f} MiB"


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict, bytes]] = []
    fail_first = 1

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Receiver.fail_first > 0:
            _Receiver.fail_first -= 1
            self.send_response(500)
        else:
            _Receiver.received.append((dict(self.headers), body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_signed_webhook_delivered_with_retry(tmp_path, say_request):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    secret = b"webhook-secret"
    try:
        with _client(tmp_path / "d", webhook_secret=secret, webhook_allow=("127.0.0.1",)) as client:
            r = client.put("/v1/jobs/w", json=say_request("hi", webhook_url=url))
            assert r.status_code == 201
            client.post("/v1/jobs/w/cancel")
        ledger = Ledger(ledger_path(tmp_path / "d"))
        dispatcher = WebhookDispatcher(ledger, secret, backoff_s=0.01, allow=("127.0.0.1",))
        assert dispatcher.run_due() == 0  # receiver answers 500 the first time
        time.sleep(0.05)
        assert dispatcher.run_due() == 1
        (row,) = ledger.outbox()
        assert row["state"] == "delivered" and row["attempts"] == 2
        headers, body = _Receiver.received[0]
        assert verify_signature(secret, headers["X-Talkgen-Timestamp"], body, headers["X-Talkgen-Signature"])
        assert not verify_signature(b"wrong", headers["X-Talkgen-Timestamp"], body, headers["X-Talkgen-Signature"])
        payload = json.loads(body)
        assert payload["event"] == "job.cancelled" and payload["job"]["id"] == "w"
        ledger.close()
    finally:
        server.shutdown()


def test_settings_refuse_public_bind_without_tokens(tmp_path):
    from talkgen.errors import ConfigError

    with pytest.raises(ConfigError, match="without auth"):
        ServeSettings(tmp_path, host="0.0.0.0")
    assert ServeSettings(tmp_path, host="0.0.0.0", tokens=(TOKEN,)).host == "0.0.0.0"


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (no pixel data): what a decompression bomb looks like."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_huge_images_and_out_of_range_cursors_are_4xx(tmp_path):
    with _client(tmp_path / "d") as client:
        r = client.put("/v1/uploads", params={"name": "bomb.png"}, content=_png_header(60000, 60000))
        assert r.status_code == 415 and "over the limit" in r.json()["error"]["message"]
        r = client.put("/v1/uploads", params={"name": "big.png"}, content=_png_header(5000, 5000))
        assert r.status_code == 415 and "over" in r.json()["error"]["message"]
        r = client.get("/v1/jobs", params={"cursor": 2**63})
        assert r.status_code == 422
        assert client.get("/v1/jobs", params={"cursor": 2**63 - 1}).status_code == 200


def test_auth_runs_before_the_body_is_parsed_and_docs_are_offline(tmp_path):
    with _client(tmp_path / "d", tokens=(TOKEN,)) as client:
        r = client.put("/v1/jobs/a", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 401 and r.json()["error"]["type"] == "Unauthorized"
        r = client.put("/v1/uploads", params={"name": "a.wav"}, content=b"x" * 10)
        assert r.status_code == 401
        r = client.put("/v1/jobs/a", content=b"{not json", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 422  # with the token, the malformed body is what is refused
        assert client.get("/docs").status_code == 404 and client.get("/openapi.json").status_code == 200


def test_chunked_body_over_the_limit_is_413(tmp_path, say_request):
    body = json.dumps(say_request("x" * 6000)).encode()

    def chunks():  # no Content-Length: the limit must hold while streaming
        for i in range(0, len(body), 1000):
            yield body[i : i + 1000]

    with _client(tmp_path / "d", max_body_bytes=4096) as client:
        r = client.put("/v1/jobs/big", content=chunks(), headers={"content-type": "application/json"})
        assert "content-length" not in {k.lower() for k in r.request.headers}
        assert r.status_code == 413 and "limit of 4096" in r.json()["error"]["message"]
        assert client.get("/v1/jobs/big").status_code == 404  # nothing was queued


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://169.254.169.254/latest/meta-data", "not a public address"),
        ("http://10.1.2.3/hook", "not a public address"),
        ("http://localhost:9/hook", "not a public address"),
        ("http://[::1]:9/hook", "not a public address"),
        ("http://user:pass@127.0.0.1:9/hook", "credentials"),
    ],
)
def test_webhook_urls_that_reach_inside_are_refused_at_submission(tmp_path, say_request, url, message):
    with _client(tmp_path / "d", webhook_secret=b"s") as client:
        r = client.put("/v1/jobs/w", json=say_request("hi", webhook_url=url))
        assert r.status_code == 422 and message in r.json()["error"]["message"], r.text
        assert client.get("/v1/jobs/w").status_code == 404


def test_webhook_policy_pins_the_checked_address_and_allowlists_networks():
    from talkgen.errors import ConfigError
    from talkgen.serve.webhooks import check_webhook_url

    def resolver(*addresses):
        return lambda host, port, type=None: [(2, 1, 6, "", (a, port)) for a in addresses]

    target = check_webhook_url("https://hooks.example.com/t?a=1", resolve=resolver("93.184.216.34"))
    assert (target.address, target.port, target.path, target.host) == (
        "93.184.216.34",
        443,
        "/t?a=1",
        "hooks.example.com",
    )
    with pytest.raises(ConfigError, match="10.0.0.5"):  # one private answer among public ones is enough to refuse
        check_webhook_url("http://hooks.example.com/", resolve=resolver("93.184.216.34", "10.0.0.5"))
    allowed = check_webhook_url("http://hooks.example.com/", ("10.0.0.0/8",), resolve=resolver("10.0.0.5"))
    assert allowed.address == "10.0.0.5"


class _Redirector(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_POST(self):  # noqa: N802 - http.server API
        self.hits.append(self.path)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(302)
        self.send_header("Location", "/elsewhere")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_redirects_are_not_followed(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ledger = Ledger(ledger_path(tmp_path / "d"))
        ledger.submit("r", "say", {}, webhook_url=f"http://127.0.0.1:{server.server_address[1]}/hook")
        job = ledger.claim("me", 30)
        ledger.fail(job.id, "me", "boom", retryable=False)
        dispatcher = WebhookDispatcher(ledger, b"s", max_attempts=1, allow=("127.0.0.1",))
        assert dispatcher.run_due() == 0
        (row,) = ledger.outbox()
        assert row["state"] == "dead" and "redirects are not followed" in row["last_error"], row
        assert _Redirector.hits == ["/hook"]
        ledger.close()
    finally:
        server.shutdown()


def test_client_tokens_see_only_their_own_jobs_and_admin_tokens_see_all(tmp_path, say_request):
    from talkgen.serve.settings import load_token_scopes

    alice, bob = "alice-token-0123456789abcdef", "bob-token-0123456789abcdefgh"
    token_file = tmp_path / "tokens"
    token_file.write_text(f"# studio tokens\n{TOKEN}\nclient {alice}\nclient {bob}\n")
    tokens, clients = load_token_scopes(token_file)
    assert set(tokens) == {TOKEN, alice, bob} and set(clients) == {alice, bob}
    h = {name: {"Authorization": f"Bearer {tok}"} for name, tok in (("admin", TOKEN), ("alice", alice), ("bob", bob))}
    with _client(tmp_path / "d", tokens=tokens, client_tokens=clients) as client:
        assert client.put("/v1/jobs/a1", json=say_request("hi"), headers=h["alice"]).status_code == 201
        assert client.put("/v1/jobs/b1", json=say_request("yo"), headers=h["bob"]).status_code == 201
        assert client.get("/v1/jobs/a1", headers=h["alice"]).status_code == 200
        for path in ("/v1/jobs/a1", "/v1/jobs/a1/events", "/v1/jobs/a1/result"):
            assert client.get(path, headers=h["bob"]).status_code == 404, path
        assert client.post("/v1/jobs/a1/cancel", headers=h["bob"]).status_code == 404
        assert client.put("/v1/jobs/a1", json=say_request("hi"), headers=h["bob"]).status_code == 409
        mine = client.get("/v1/jobs", headers=h["bob"]).json()["jobs"]
        assert [j["id"] for j in mine] == ["b1"]
        every = client.get("/v1/jobs", headers=h["admin"]).json()["jobs"]
        assert [j["id"] for j in every] == ["a1", "b1"]
        assert client.get("/v1/jobs/a1", headers=h["admin"]).status_code == 200
