"""The ``talkgen`` command line: thin Typer commands that build a config and call the library.

User mistakes (:class:`talkgen.errors.TalkgenError`) become one-line errors with exit code 2; ``--verbose`` shows
the traceback. Command groups live in :mod:`talkgen.commands` and import their library code lazily so that
``talkgen --help`` stays fast.
"""

from __future__ import annotations

import logging
import sys

import typer

from talkgen import __version__
from talkgen.commands import register_all
from talkgen.errors import TalkgenError

app = typer.Typer(
    name="talkgen",
    help="Talking-character video from scripts, and lip-sync dubbing of existing footage. Offline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_state = {"verbose": False}


def _conventional_help() -> None:
    """Typer 0.29 prints a type beside every option, flags included (``--random-weights <bool>``, ``--help
    <bool>``), and a required argument as ``{script}`` in the usage line: a flag's help row shows no type (it takes
    no value) and arguments read ``SCRIPT`` / ``[SCRIPT]``, as command lines write them."""
    from typer.core import TyperArgument, TyperOption

    shown = TyperOption.display_type_rich

    def display_type_rich(self, ctx):
        return None if self.is_flag else shown(self, ctx)

    def usage_name(self) -> str:
        name = self.display_name_raw.upper()
        return (name if self.required else f"[{name}]") + ("..." if self.nargs != 1 else "")

    TyperOption.display_type_rich = display_type_rich
    TyperArgument._usage_display_name = usage_name


_conventional_help()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"talkgen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks and debug logs."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    _state["verbose"] = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


register_all(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning user errors into one line on stderr and exit code 2."""
    try:
        code = app(args=argv, standalone_mode=False)  # a command's typer.Exit(n) comes back as n here
    except TalkgenError as exc:
        if _state["verbose"]:
            raise
        typer.echo(f"error: {exc}", err=True)
        return 2
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # usage errors: unknown command, bad option value
        exc.show()
        return getattr(exc, "exit_code", 2)
    return code if isinstance(code, int) else 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
