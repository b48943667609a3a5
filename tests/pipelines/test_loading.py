"""Model loading: --random-weights always means untrained weights; a model folder and the flag do not mix."""

from __future__ import annotations

import pytest

from talkgen.errors import WeightsError
from talkgen.pipelines import loading


def test_random_weights_win_over_an_installed_default_model(tmp_path, monkeypatch):
    installed = tmp_path / "talkgen-tiny"
    installed.mkdir()
    (installed / "model_index.json").write_text("{}")  # an installed (here: unloadable) default model
    monkeypatch.setenv("TALKGEN_MODEL_DIR", str(installed))
    pipe, info = loading.load_pipeline("talking", None, random_weights=True, seed=3)
    assert info == {"path": None, "random_weights": True, "init_seed": 3}
    assert type(loading.load_pipeline("lipsync", random_weights=True)[0]).__name__ == "LipSyncPipeline"
    with pytest.raises(WeightsError, match="could not load the pipeline"):
        loading.load_pipeline("talking")  # without the flag the installed model is what loads
    with pytest.raises(WeightsError, match="drop it to use the model"):
        loading.load_pipeline("talking", installed, random_weights=True)
    with pytest.raises(WeightsError, match="drop it to use the model"):
        loading.load_pipeline("lipsync", installed, random_weights=True)


def test_model_search_path_env_then_checkout_and_an_error_naming_the_places(tmp_path, monkeypatch):
    holder = tmp_path / "models"
    (holder / "talkgen-tiny").mkdir(parents=True)
    (holder / "talkgen-tiny" / "model_index.json").write_text("{}")
    monkeypatch.setenv("TALKGEN_MODEL_DIR", str(holder))  # a folder holding talkgen-tiny/ also counts
    assert loading.default_model_dir() == holder / "talkgen-tiny"
    assert loading.model_search_path()[:2] == [holder, holder / "talkgen-tiny"]
    monkeypatch.setenv("TALKGEN_MODEL_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr(loading, "model_search_path", lambda: [tmp_path / "empty"])
    with pytest.raises(WeightsError, match=r"no model found \(looked in: .*empty\).*TALKGEN_MODEL_DIR"):
        loading.load_pipeline("lipsync")
    with pytest.raises(WeightsError, match="no model at .*nowhere"):
        loading.load_pipeline("talking", tmp_path / "nowhere")
