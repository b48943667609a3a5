"""Command groups of the ``talkgen`` CLI, one module per area; each exposes ``register(app)``.

Each module keeps its library imports inside the command bodies so that ``talkgen --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator

import typer

# Modules under talkgen.commands that define ``register(app: typer.Typer) -> None``.
COMMAND_MODULES = ("speech", "media", "synth", "script", "generate", "dub", "evaluate", "train", "serve", "app")


def register_all(app: typer.Typer) -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"talkgen.commands.{name}").register(app)


@contextlib.contextmanager
def progress_bar(name: str) -> Iterator[Callable[[float, str], None]]:
    """A ``progress(fraction, message)`` callback drawing one bar on stderr, opened at the first report (so that a
    refused input prints only its error), closed on leaving."""
    from tqdm.auto import tqdm

    bars: list = []

    def progress(fraction: float, message: str) -> None:
        if not bars:
            bars.append(tqdm(total=100, bar_format=name + " {percentage:3.0f}%|{bar}| {elapsed} {desc}"))
        bars[0].n = round(100 * fraction)
        bars[0].set_description_str(message)  # refreshes

    try:
        yield progress
    finally:
        for bar in bars:
            bar.close()
