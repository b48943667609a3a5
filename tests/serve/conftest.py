"""Fixtures for the batch API tests: data dirs, in-process apps, and a real `talkgen serve` subprocess."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def say(text: str, **extra) -> dict:
    """A quick 'say' request; 22.05 kHz is espeak-ng's native rate (no resampling: fast worker start)."""
    return {"kind": "say", "text": text, "sample_rate": 22050, **extra}


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


class ServerProcess:
    """`talkgen serve` in a subprocess on a free loopback port."""

    def __init__(self, data: Path, *args: str):
        self.data, self.args, self.port = data, args, free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        cmd = [sys.executable, "-c", "from talkgen.cli import run; run()", "serve", "--port", str(self.port)]
        cmd += ["--data", str(self.data), *self.args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("talkgen serve did not come up")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def server_factory(tmp_path):
    servers: list[ServerProcess] = []

    def make(*args: str, data: Path | None = None) -> ServerProcess:
        server = ServerProcess(data or tmp_path / "data", *args)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.kill()


@pytest.fixture
def say_request():
    return say
