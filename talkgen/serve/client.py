"""A small HTTP client for the batch API (used by ``talkgen jobs ...``)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import httpx

from talkgen.errors import TalkgenError

SERVER_ENV = "TALKGEN_SERVER"
TOKEN_ENV = "TALKGEN_TOKEN"
DEFAULT_SERVER = "http://127.0.0.1:8765"
TERMINAL = ("succeeded", "failed", "cancelled")


class ApiError(TalkgenError):
    """The server refused a request; carries the HTTP status."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class Client:
    """Talks to ``talkgen serve``. ``server`` and ``token`` default to ``TALKGEN_SERVER`` / ``TALKGEN_TOKEN``."""

    def __init__(self, server: str | None = None, token: str | None = None, *, timeout: float = 60.0):
        self.server = (server or os.environ.get(SERVER_ENV) or DEFAULT_SERVER).rstrip("/")
        token = token or os.environ.get(TOKEN_ENV)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise TalkgenError(f"cannot reach {self.server}: {exc}; is `talkgen serve` running?") from None
        if response.status_code >= 400:
            try:
                body = response.json()
                message = body["error"]["message"] if "error" in body else str(body.get("detail", body))
            except (ValueError, KeyError, TypeError):
                message = response.text[:500]
            raise ApiError(response.status_code, message)
        return response

    def upload(self, path: str | Path, name: str | None = None) -> str:
        """Upload a file; returns its reference ``sha256:...``."""
        path = Path(path)
        if not path.is_file():
            raise TalkgenError(f"{path} does not exist")
        with open(path, "rb") as fh:
            body = self._call("PUT", "/v1/uploads", params={"name": name or path.name}, content=fh).json()
        return body["ref"]

    def submit(self, job_id: str, request: dict[str, Any]) -> dict[str, Any]:
        return self._call("PUT", f"/v1/jobs/{job_id}", json=request).json()

    def status(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/jobs/{job_id}").json()

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/jobs/{job_id}/cancel").json()

    def wait(self, job_id: str, *, timeout: float | None = None, poll_s: float = 0.5) -> dict[str, Any]:
        """Poll until the job is terminal; raises TalkgenError after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.status(job_id)
            if job["state"] in TERMINAL:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TalkgenError(f"job {job_id} still {job['state']} after {timeout:.0f}s")
            time.sleep(poll_s)

    def fetch(self, job_id: str, out_dir: str | Path) -> dict[str, Path]:
        """Download every output of a succeeded job into ``out_dir`` (written atomically); returns name -> path.

        Only URLs on this client's server are followed (the bearer token goes nowhere else), and every file must
        match the sha256 the manifest gives; a mismatch leaves nothing behind.
        """
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        manifest = self._call("GET", f"/v1/jobs/{job_id}/result").json()
        written = {}
        for name, output in manifest["outputs"].items():
            base = Path(name).name
            if base in ("", ".", "..") or base != name:
                raise TalkgenError(
                    f"job {job_id}: the server named an output {name!r}, which is not a plain file name"
                )
            url = self._same_server(str(output.get("url", "")), name)
            expected = str(output.get("sha256", ""))
            target = out_dir / base
            tmp = target.with_name(target.name + ".part")
            digest = hashlib.sha256()
            try:
                with self._http.stream("GET", url) as response, open(tmp, "wb") as fh:
                    if response.status_code >= 400:
                        raise ApiError(response.status_code, f"cannot download {name}")
                    for chunk in response.iter_bytes():
                        digest.update(chunk)
                        fh.write(chunk)
                got = digest.hexdigest()
                if got != expected:
                    raise TalkgenError(
                        f"{name}: downloaded sha256 {got} differs from the manifest's {expected or '(none)'}; "
                        "nothing was kept, fetch again"
                    )
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            written[name] = target
        return written

    def _same_server(self, url: str, name: str) -> str:
        """``url`` if it is a path or an absolute URL on this client's server; TalkgenError otherwise."""
        parsed, own = httpx.URL(url), httpx.URL(self.server)
        if not parsed.is_relative_url and (parsed.scheme, parsed.host, parsed.port) != (
            own.scheme,
            own.host,
            own.port,
        ):
            raise TalkgenError(
                f"{name}: the manifest points to {parsed.host or url!r}, not {self.server}; not followed"
            )
        return url
