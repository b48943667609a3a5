"""CLI command for the web app: ``talkgen app`` (its options live in :mod:`talkgen.app.launch`)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add ``talkgen app`` to ``app``."""
    from talkgen.app.launch import app_command

    app.command("app")(app_command)
