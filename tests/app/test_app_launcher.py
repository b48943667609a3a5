"""The deployable launcher ``app/app.py``: hosting variables become ``talkgen app`` options; a public address without
a login is refused before anything is served."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

LAUNCHER = Path(__file__).resolve().parents[2] / "app" / "app.py"


def _launcher():
    spec = importlib.util.spec_from_file_location("talkgen_app_launcher", LAUNCHER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hosting_variables_become_app_options():
    options = _launcher().options_from_env
    assert options({}) == ["--host", "127.0.0.1", "--port", "7860"]  # loopback unless told otherwise
    env = {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "8080", "TALKGEN_AUTH_FILE": "/run/auth"}
    assert options(env) == ["--host", "0.0.0.0", "--port", "8080", "--auth-file", "/run/auth"]


def test_a_public_address_without_a_login_is_one_line_and_exit_2(tmp_path):
    env = {**os.environ, "GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7999"}
    env.pop("TALKGEN_AUTH_FILE", None)
    proc = subprocess.run([sys.executable, str(LAUNCHER)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: --host 0.0.0.0 accepts connections from other machines; give --auth-file with user:password lines"
        " (or bind 127.0.0.1)"
    ]
