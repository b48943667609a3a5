from __future__ import annotations

import yaml
from typer.testing import CliRunner

from talkgen.errors import ConfigError


def test_train_dit_cli_runs_and_exports(app, tmp_path, tiny_settings):
    path = tmp_path / "dit.yaml"
    path.write_text(yaml.safe_dump({**tiny_settings, "task": "dit", "output_dir": str(tmp_path / "out")}))
    result = CliRunner().invoke(app, ["train", "dit", "--config", str(path), "--steps", "1"])
    assert result.exit_code == 0, result.output
    assert "step 1 loss" in result.output
    assert (tmp_path / "out" / "final" / "transformer" / "config.json").is_file()


def test_train_cli_task_mismatch_is_config_error(app, tmp_path):
    path = tmp_path / "vae.yaml"
    path.write_text(yaml.safe_dump({"task": "vae"}))
    result = CliRunner().invoke(app, ["train", "dit", "--config", str(path)])
    assert isinstance(result.exception, ConfigError)
    assert "talkgen train vae" in str(result.exception)
