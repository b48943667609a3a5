"""Model loading: --random-weights always means untrained weights; a model folder and the flag do not mix."""

from __future__ import annotations

import pytest

from talkgen.errors import WeightsError
from talkgen.pipelines import loading


def test_random_weights_win_over_an_installed_default_model(tmp_path, monkeypatch):
    installed = tmp_path / "talkgen-tiny"
    installed.mkdir()
    (installed / "model_index.json").write_text("{}")  # an installed (here: unloadable) default model
    monkeypatch.setattr(loading, "DEFAULT_MODEL_DIR", installed)
    pipe, info = loading.load_talking_pipeline(None, random_weights=True, seed=3)
    assert info == {"path": None, "random_weights": True, "init_seed": 3}
    assert type(loading.load_lipsync(None, random_weights=True)).__name__ == "LipSyncPipeline"
    with pytest.raises(WeightsError, match="could not load the pipeline"):
        loading.load_talking_pipeline(None)  # without the flag the installed model is what loads
    with pytest.raises(WeightsError, match="drop it to use the model"):
        loading.load_talking_pipeline(installed, random_weights=True)
    with pytest.raises(WeightsError, match="drop it to use the model"):
        loading.load_lipsync(installed, random_weights=True)
