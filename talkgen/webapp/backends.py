"""Which heavy features this build has: scene generation and dubbing come from pipelines that may be absent.

The app asks here instead of importing the pipelines at start-up (which would also load torch and diffusers), so
it starts fast and says "not available in this build" when a pipeline module is missing.
"""

from __future__ import annotations

import importlib.util

# (module, function) that each feature calls; see talkgen.webapp.jobs and docs/app.md.
GENERATE_ENTRY = ("talkgen.pipelines.generate", "generate_scene_file")
DUB_ENTRY = ("talkgen.pipelines.dub", "dub_file")

NOT_AVAILABLE = "{feature} is not available in this build: {module}.{function} is missing."


def _present(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def generation_available() -> bool:
    """Whether this build has the scene renderer (script -> mp4 + srt + manifest)."""
    return _present(GENERATE_ENTRY[0])


def dubbing_available() -> bool:
    """Whether this build has the lip-sync pipeline."""
    return _present(DUB_ENTRY[0])


def unavailable_message(feature: str, entry: tuple[str, str]) -> str:
    return NOT_AVAILABLE.format(feature=feature, module=entry[0], function=entry[1])
