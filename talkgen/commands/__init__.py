"""Command groups of the ``talkgen`` CLI, one module per area; each exposes ``register(app)``.

Each module keeps its library imports inside the command bodies so that ``talkgen --help`` stays fast.
"""

from __future__ import annotations

import importlib

import typer

# Modules under talkgen.commands that define ``register(app: typer.Typer) -> None``.
COMMAND_MODULES = ("speech", "media", "synth", "script", "generate", "dub", "evaluate", "train", "serve", "webapp")


def register_all(app: typer.Typer) -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"talkgen.commands.{name}").register(app)
