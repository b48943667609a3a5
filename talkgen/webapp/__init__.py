"""The Gradio web app (wiring only): ``talkgen app`` or ``python -m talkgen.webapp``.

- :mod:`talkgen.webapp.settings`: :class:`AppSettings` (host, port, auth, upload and queue limits).
- :mod:`talkgen.webapp.handlers`: gradio-free adapters from widget values to library calls.
- :mod:`talkgen.webapp.ui`: ``build_app(settings) -> gradio.Blocks``; every event has an ``api_name``.
- :mod:`talkgen.webapp.server`: ``serve(settings)`` with the safe launch arguments.
- :mod:`talkgen.webapp.screenshots`: ``python -m talkgen.webapp.screenshots`` writes ``samples/app/*.png``.

Importing this package imports nothing heavy and changes no environment variable; see ``docs/app.md``.
"""
