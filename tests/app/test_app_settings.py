"""Safe defaults of the web app: settings, auth, launch arguments, the upload limit on the server side."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

import pytest

from talkgen.app.settings import AppSettings, is_loopback, read_auth_file
from talkgen.errors import ConfigError


def test_defaults_bind_loopback_with_bounded_uploads_and_queue():
    s = AppSettings()
    assert s.host == "127.0.0.1" and s.auth is None
    assert s.max_file_bytes == 50 * 1024 * 1024 and s.queue_size == 8
    assert s.media_limits.max_bytes == s.max_file_bytes and s.media_limits.max_duration == 60.0


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "example.org", "::"])
def test_other_addresses_need_auth(host):
    with pytest.raises(ConfigError, match="--auth-file"):
        AppSettings(host=host)
    assert AppSettings(host=host, auth=(("ana", "secret"),)).host == host


def test_loopback_names():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.0.0.1", "::", "example.org"))


@pytest.mark.parametrize(
    "kwargs", [{"port": 0}, {"max_file_size_mb": 0}, {"queue_size": 0}, {"max_video_seconds": -1}, {"host": ""}]
)
def test_bad_settings_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        AppSettings(**kwargs)


def test_auth_file(tmp_path):
    f = tmp_path / "users"
    f.write_text("# who may log in\nana:s3cret:with:colons\n\n bo : pw\n")
    assert read_auth_file(f) == [("ana", "s3cret:with:colons"), ("bo", " pw")]
    f.write_text("ana\n")
    with pytest.raises(ConfigError, match=r"users:1: expected `user:password`"):
        read_auth_file(f)
    f.write_text("# nobody\n")
    with pytest.raises(ConfigError, match="no `user:password`"):
        read_auth_file(f)
    with pytest.raises(ConfigError, match="not found"):
        read_auth_file(tmp_path / "missing")


def test_launch_arguments_are_safe():
    pytest.importorskip("gradio")
    from talkgen.app.server import launch_kwargs

    kw = launch_kwargs(AppSettings(max_file_size_mb=2))
    assert kw["server_name"] == "127.0.0.1" and kw["share"] is False and kw["auth"] is None
    assert kw["max_file_size"] == 2 * 1024 * 1024 and kw["allowed_paths"] == []
    assert kw["mcp_server"] is False and kw["show_error"] is False and kw["ssr_mode"] is False


def test_importing_the_app_changes_no_environment():
    code = (
        "import os; before = dict(os.environ); import talkgen.app.ui, talkgen.app.jobs, "
        "talkgen.commands.app, talkgen.app.launch; "
        "assert dict(os.environ) == before, set(os.environ) ^ set(before)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADIO_")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


def test_cli_refuses_an_exposed_address_without_auth():
    typer_testing = pytest.importorskip("typer.testing")
    import typer

    from talkgen.commands.app import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # two commands: `app` stays a subcommand
    result = typer_testing.CliRunner().invoke(app, ["app", "--host", "0.0.0.0"])
    assert isinstance(result.exception, ConfigError) and "--auth-file" in str(result.exception)


def test_server_refuses_an_oversized_upload(app_url, max_file_size_mb):
    boundary = uuid.uuid4().hex
    payload = b"\0" * (max_file_size_mb * 1024 * 1024 + 1024)
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.mp4"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )
    req = urllib.request.Request(
        app_url + "gradio_api/upload",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code == 413


def test_auth_file_turns_on_the_login(tmp_path):
    pytest.importorskip("gradio")
    from app_browser import running_app
    from gradio_client import Client

    users = tmp_path / "users"
    users.write_text("ana:s3cret\n")
    with running_app("--auth-file", str(users), temp_dir=tmp_path) as url:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url + "config", timeout=10)
        assert err.value.code == 401
        with pytest.raises(Exception, match="(?i)login|auth|401"):
            Client(url, auth=("ana", "wrong"), verbose=False)
        client = Client(url, auth=("ana", "s3cret"), verbose=False)
        status = client.predict("title: x\n", "yaml", "(script default)", api_name="/check_script")[0]
        assert "the scene has no characters" in status
