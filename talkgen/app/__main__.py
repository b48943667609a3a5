"""``python -m talkgen.app [options]``: the same as ``talkgen app [options]``."""

from __future__ import annotations

import sys

import typer

from talkgen.app.launch import app_command
from talkgen.errors import TalkgenError


def main() -> None:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(app_command)
    try:
        app()
    except TalkgenError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
