"""Serve the web app with safe defaults: loopback, no analytics, auth off loopback, bounded uploads and queue."""

from __future__ import annotations

import logging

from talkgen.app.settings import AppSettings

logger = logging.getLogger(__name__)


def launch_kwargs(settings: AppSettings) -> dict:
    """The ``Blocks.launch`` arguments for ``settings`` (kept separate so tests can check them)."""
    from talkgen.app.ui import CSS

    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "auth": list(settings.auth) if settings.auth else None,
        "max_file_size": settings.max_file_bytes,
        "allowed_paths": list(settings.allowed_paths),
        "share": False,
        "ssr_mode": False,
        "mcp_server": False,
        "pwa": False,
        "enable_monitoring": False,
        "show_error": False,
        "inbrowser": False,
        "quiet": True,
        "css": CSS,
    }


def serve(settings: AppSettings, *, block: bool = True):
    """Build and launch the app; with ``block=False`` return the launched Blocks (call ``.close()`` to stop).

    The caller sets ``GRADIO_ANALYTICS_ENABLED=False`` and ``GRADIO_TEMP_DIR`` (the app's own temp dir) in its
    process environment before gradio is first imported; ``talkgen app`` does.
    """
    from talkgen.app.ui import build_app

    demo = build_app(settings)
    logger.info("serving talkgen on http://%s:%d", settings.host, settings.port)
    demo.launch(prevent_thread_lock=not block, **launch_kwargs(settings))
    return demo
