"""talkgen's web app as a deployable folder: ``app.py`` beside its ``requirements.txt``, as hosted Gradio apps expect.

    cd app && pip install -r requirements.txt && python app.py

Settings come from the environment (command-line options of ``talkgen app`` after them win):
``GRADIO_SERVER_NAME`` (default 127.0.0.1), ``GRADIO_SERVER_PORT`` (7860), ``TALKGEN_AUTH_FILE`` (``user:password``
lines; required for any address but loopback) and ``TALKGEN_MODEL_DIR`` (the model; default the shipped one).
The app itself is ``talkgen.app`` (wiring only); this file only launches it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping


def options_from_env(environ: Mapping[str, str]) -> list[str]:
    """``talkgen app`` options for the hosting environment's variables."""
    options = ["--host", environ.get("GRADIO_SERVER_NAME", "127.0.0.1")]
    options += ["--port", environ.get("GRADIO_SERVER_PORT", "7860")]
    if environ.get("TALKGEN_AUTH_FILE"):
        options += ["--auth-file", environ["TALKGEN_AUTH_FILE"]]
    return options


if __name__ == "__main__":
    from talkgen.app.__main__ import main

    sys.argv = [sys.argv[0], *options_from_env(os.environ), *sys.argv[1:]]
    main()
