"""CLI commands for media probing (``talkgen probe FILE``)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def probe(
    file: Path = typer.Argument(..., help="Media file to inspect (mp4, mov, mkv, webm, avi, wav, flac, ogg, mp3)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
) -> None:
    """Show a media file's container, streams, duration, resolution and fps, after the safety checks."""
    from talkgen.media import probe as probe_media

    info = probe_media(file)
    if as_json:
        typer.echo(json.dumps(info.to_dict(), indent=1))
        return
    duration = f"{info.duration:.3f} s" if info.duration is not None else "unknown"
    typer.echo(f"file:       {info.path}")
    typer.echo(f"container:  {info.format} ({info.container}), {info.size_bytes} bytes")
    typer.echo(f"duration:   {duration}")
    if info.video is not None:
        typer.echo(f"resolution: {info.width}x{info.height}")
        typer.echo(f"fps:        {info.fps:.3f}")
    for s in info.streams:
        if s.kind == "video":
            detail = f"{s.width}x{s.height}, {s.fps:.3f} fps" if s.fps else f"{s.width}x{s.height}"
            detail += f", {s.pix_fmt}" if s.pix_fmt else ""
            detail += f", rotated {s.rotation} deg" if s.rotation else ""
            detail += ", cover image" if s.attached_pic else ""
        elif s.kind == "audio":
            detail = f"{s.sample_rate} Hz, {s.channels} ch"
        else:
            detail = ""
        typer.echo(f"stream {s.index}:   {s.kind} {s.codec}" + (f" ({detail})" if detail else ""))


def register(app: typer.Typer) -> None:
    """Add ``talkgen probe`` to ``app``."""
    app.command("probe")(probe)
