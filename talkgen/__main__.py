"""``python -m talkgen ...`` runs the CLI (the same as the ``talkgen`` command)."""

from talkgen.cli import run

run()
