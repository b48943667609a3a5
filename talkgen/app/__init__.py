"""The Gradio web app (wiring only): ``talkgen app`` or ``python -m talkgen.app``.

- :mod:`talkgen.app.settings`: :class:`AppSettings` (host, port, auth, upload and queue limits).
- :mod:`talkgen.app.handlers`: gradio-free adapters from widget values to library calls.
- :mod:`talkgen.app.ui`: ``build_app(settings) -> gradio.Blocks``; every event has an ``api_name``.
- :mod:`talkgen.app.server`: ``serve(settings)`` with the safe launch arguments.

Development tools live outside the package: ``scripts/app_browser.py`` (the app in a child process, driven by
headless chromium, for tests) and ``scripts/app_screenshots.py`` (writes ``samples/app/*.png``).

Importing this package imports nothing heavy and changes no environment variable; see ``docs/app.md``.
"""
