"""Launching the web app: the options of ``talkgen app`` and ``python -m talkgen.app`` (one definition)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer


def app_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; other than loopback needs --auth-file."),
    port: int = typer.Option(7860, "--port", help="TCP port."),
    auth_file: Path | None = typer.Option(None, "--auth-file", help="File of `user:password` lines; enables login."),
    max_file_size_mb: float = typer.Option(50.0, "--max-file-size-mb", help="Largest upload, in MiB."),
    queue_size: int = typer.Option(8, "--queue-size", help="Most requests waiting; one runs at a time."),
    max_video_seconds: float = typer.Option(60.0, "--max-video-seconds", help="Longest accepted footage."),
    temp_dir: Path | None = typer.Option(
        None, "--temp-dir", help="Folder for uploads and results (default: a fresh one under the system temp)."
    ),
) -> None:
    """Serve the web app (script check, scene generation, dubbing, sync evaluation) in the browser."""
    from talkgen.app.settings import AppSettings, read_auth_file

    auth = tuple(read_auth_file(auth_file)) if auth_file is not None else None
    settings = AppSettings(
        host=host,
        port=port,
        auth=auth,
        max_file_size_mb=max_file_size_mb,
        queue_size=queue_size,
        max_video_seconds=max_video_seconds,
    )
    folder = Path(temp_dir) if temp_dir is not None else Path(tempfile.mkdtemp(prefix="talkgen-app-"))
    folder.mkdir(parents=True, exist_ok=True)
    # gradio reads these when it is first imported, so they are set here, in the launching process only.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["GRADIO_TEMP_DIR"] = str(folder.resolve())
    from talkgen.app.server import serve

    typer.echo(f"talkgen app on http://{host}:{port} (uploads in {folder})")
    serve(settings)
