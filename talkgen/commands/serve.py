"""CLI for the batch API: ``talkgen serve`` and the client ``talkgen jobs submit|status|wait|cancel|fetch``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from talkgen.errors import ConfigError, TalkgenError

jobs_app = typer.Typer(
    help="Client for a running `talkgen serve`: submit, follow and fetch jobs.", no_args_is_help=True
)

_SERVER = typer.Option(None, "--server", help="API base URL (default $TALKGEN_SERVER or http://127.0.0.1:8765).")
_TOKEN_FILE = typer.Option(None, "--token-file", help="File holding the bearer token (default $TALKGEN_TOKEN).")


def _client(server: str | None, token_file: Path | None):
    from talkgen.serve.client import Client

    token = None
    if token_file is not None:
        if not token_file.is_file():
            raise ConfigError(f"token file {token_file} does not exist")
        lines = [line.strip() for line in token_file.read_text(encoding="utf-8").splitlines()]
        tokens = [line for line in lines if line and not line.startswith("#")]
        if not tokens:
            raise ConfigError(f"token file {token_file} holds no token")
        token = tokens[0].split()[-1]  # a server's token file may say `client TOKEN`
    return Client(server, token)


def _substitute(value, refs: dict[str, str]):
    """Replace '@NAME' strings anywhere in a JSON value by upload references."""
    if isinstance(value, dict):
        return {k: _substitute(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, refs) for v in value]
    return refs.get(value, value) if isinstance(value, str) else value


def _echo(data: dict) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True))


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Bind address (a non-loopback host needs tokens)."),
    port: int = typer.Option(8765, "--port"),
    workers: int = typer.Option(1, "--workers", help="Worker processes / Ray actors (0 = API only)."),
    executor: str = typer.Option("local", "--executor", help="local | ray | none."),
    data: Path = typer.Option(Path("talkgen-data"), "--data", help="Ledger, store and scratch directory."),
    token_file: Path | None = typer.Option(
        None, "--token-file", help="Tokens, one per line: TOKEN (admin) or `client TOKEN` (own jobs only)."
    ),
    webhook_secret_file: Path | None = typer.Option(None, "--webhook-secret-file", help="HMAC key for webhooks."),
    webhook_allow: list[str] = typer.Option(  # noqa: B006 - typer reads the default
        [], "--webhook-allow", help="Address or network webhooks may reach besides public ones (repeatable)."
    ),
    lease: float = typer.Option(30.0, "--lease", help="Job lease in seconds."),
    max_queue: int = typer.Option(1000, "--max-queue", help="Unfinished jobs before submissions get 429."),
    max_upload_mb: int = typer.Option(2048, "--max-upload-mb", help="Largest accepted upload."),
) -> None:
    """Run the batch HTTP API with its job ledger and workers."""
    from talkgen.serve.api import serve as run_server
    from talkgen.serve.settings import ServeSettings, load_token_scopes, load_webhook_secret

    tokens, client_tokens = load_token_scopes(token_file)
    settings = ServeSettings(
        data_dir=data,
        host=host,
        port=port,
        executor=executor,
        workers=workers,
        tokens=tokens,
        client_tokens=client_tokens,
        lease_s=lease,
        max_queue=max_queue,
        max_upload_bytes=max_upload_mb << 20,
        webhook_secret=load_webhook_secret(webhook_secret_file),
        webhook_allow=tuple(webhook_allow),
    )
    typer.echo(
        f"talkgen serve: http://{host}:{port} (OpenAPI at /openapi.json), data in {settings.data_dir}", err=True
    )
    run_server(settings)


@jobs_app.command("submit")
def submit(
    job_id: str = typer.Argument(..., help="Your id for the job (resubmitting the same id and body is safe)."),
    request: Path | None = typer.Option(None, "--request", help="JSON request file ('-' for stdin)."),
    say: str | None = typer.Option(None, "--say", help="Shortcut: a 'say' job speaking this text."),
    upload: list[str] = typer.Option([], "--upload", help="NAME=PATH: upload PATH; '@NAME' in the request -> ref."),
    server: str | None = _SERVER,
    token_file: Path | None = _TOKEN_FILE,
) -> None:
    """Submit a job from a JSON request (or --say TEXT); prints the job."""
    if (request is None) == (say is None):
        raise TalkgenError("give exactly one of --request FILE or --say TEXT")
    if say is not None:
        body: dict = {"kind": "say", "text": say}
    else:
        text = typer.get_text_stream("stdin").read() if str(request) == "-" else Path(request).read_text()
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TalkgenError(f"{request}: not valid JSON ({exc})") from None
    client = _client(server, token_file)
    refs = {}
    for item in upload:
        name, sep, path = item.partition("=")
        if not sep:
            raise TalkgenError(f"--upload {item!r}: use NAME=PATH")
        refs[f"@{name}"] = client.upload(path, Path(path).name)
    body = _substitute(body, refs)
    _echo(client.submit(job_id, body))


@jobs_app.command("status")
def status(job_id: str, server: str | None = _SERVER, token_file: Path | None = _TOKEN_FILE) -> None:
    """Print a job's state, progress, timings and error."""
    _echo(_client(server, token_file).status(job_id))


@jobs_app.command("wait")
def wait(
    job_id: str,
    timeout: float | None = typer.Option(None, "--timeout", help="Give up after this many seconds."),
    server: str | None = _SERVER,
    token_file: Path | None = _TOKEN_FILE,
) -> None:
    """Wait until a job ends; exit code 1 if it failed or was cancelled."""
    job = _client(server, token_file).wait(job_id, timeout=timeout)
    _echo(job)
    if job["state"] != "succeeded":
        raise typer.Exit(1)


@jobs_app.command("cancel")
def cancel(job_id: str, server: str | None = _SERVER, token_file: Path | None = _TOKEN_FILE) -> None:
    """Cancel a job (queued: at once; running: at its next safe point, hard kill after the grace period)."""
    _echo(_client(server, token_file).cancel(job_id))


@jobs_app.command("fetch")
def fetch(
    job_id: str,
    out: Path = typer.Option(Path("."), "--out", help="Directory for the outputs."),
    server: str | None = _SERVER,
    token_file: Path | None = _TOKEN_FILE,
) -> None:
    """Download a succeeded job's outputs."""
    for name, path in _client(server, token_file).fetch(job_id, out).items():
        typer.echo(f"{name}\t{path}")


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``jobs`` group to ``app``."""
    app.command("serve")(serve)
    app.add_typer(jobs_app, name="jobs")
