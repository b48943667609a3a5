"""Helpers to run the app in a child process and drive it with headless chromium (tests and screenshots).

Nothing here is used by the app itself. Chromium is Debian's ``/usr/bin/chromium`` driven by pip ``playwright``
(``playwright install`` cannot download browsers here).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(
    *args: str, temp_dir: str | Path | None = None, timeout: float = 90.0, log: str | Path | None = None
) -> Iterator[str]:
    """Start ``python -m talkgen.app --port <free> *args`` on 127.0.0.1; yield its URL; stop it afterwards."""
    port = free_port()
    folder = Path(temp_dir) if temp_dir is not None else Path(tempfile.mkdtemp(prefix="talkgen-app-"))
    log_path = Path(log) if log is not None else folder / "app.log"
    cmd = [sys.executable, "-m", "talkgen.app", "--port", str(port), "--temp-dir", str(folder / "app"), *args]
    url = f"http://127.0.0.1:{port}/"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ})
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the app exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
                try:
                    with urllib.request.urlopen(url + "config", timeout=2):
                        break
                except urllib.error.HTTPError:
                    break  # the server answers (401 with a login)
                except (urllib.error.URLError, OSError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the app did not start in {timeout:.0f} s: {log_path.read_text()[-2000:]}")
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def chromium(user_data_dir: str | Path | None = None):
    """A playwright browser context on Debian chromium (headless, fresh profile); yields the context."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing; install Debian's chromium package")
    profile = Path(user_data_dir) if user_data_dir is not None else Path(tempfile.mkdtemp(prefix="chromium-"))
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def check_script(page, text: str) -> None:
    """On the Script tab, replace the editor's text with ``text`` and press Check script."""
    page.get_by_role("tab", name="Script").click()
    page.locator(".cm-content").first.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)
    page.get_by_role("button", name="Check script").click()
