from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def edit_pair():
    from talkgen.synth.world import make_scene, render_edit_pair

    scene = make_scene(5, num_characters=2, mode="continuous")
    return scene, render_edit_pair(scene, size=96)


@pytest.fixture(scope="session")
def small_clip():
    from talkgen.synth.world import make_scene, render_clip

    return render_clip(make_scene(7, num_characters=1), size=64)


def viseme_track(n: int) -> np.ndarray:
    """(n, 5): alternate REST and OPEN every frame."""
    from talkgen.audio.visemes import VISEME_PARAMS

    return VISEME_PARAMS[np.where(np.arange(n) % 2 == 0, 0, 2)]
