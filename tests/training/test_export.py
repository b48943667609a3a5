from __future__ import annotations

import json

import pytest
import torch
import typer
from typer.testing import CliRunner

from talkgen.commands.train import register
from talkgen.errors import ConfigError
from talkgen.pipelines.loading import load_pipeline
from talkgen.training import build_trainer
from talkgen.training.export import export_pipeline


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    register(app)
    return app


def test_export_loads_and_generates(app, tiny_config, tmp_path):
    trainer = build_trainer(tiny_config.replace(steps=1))
    trainer.train()
    trainer.export()
    model_dir = tmp_path / "model"
    result = CliRunner().invoke(app, ["export", tiny_config.output_dir, "-o", str(model_dir), "--max-shard-mb", "1"])
    assert result.exit_code == 0, result.output
    index = json.loads((model_dir / "model_index.json").read_text())
    assert {"vae", "text_encoder", "tokenizer", "audio_encoder", "transformer", "scheduler"} <= set(index)
    pipe, info = load_pipeline("talking", model_dir)
    assert all(name.endswith(".safetensors") for name in info["hashes"])
    # the frozen T5 and VAE are the ones the run trained against; the transformer carries the EMA weights
    task = trainer.task
    for a, b in zip(pipe.text_encoder.state_dict().values(), task.text_encoder.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for a, b in zip(pipe.vae.state_dict().values(), task.vae.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    trainer.ema.copy_to(trainer.params)
    module = trainer.accelerator.unwrap_model(trainer.module)
    for a, b in zip(pipe.transformer.parameters(), module.transformer.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert pipe.config.max_text_length == tiny_config.text_len
    out = pipe(
        prompt="a person talks",
        audio=torch.zeros(16000),
        num_frames=9,
        height=16,
        width=16,
        num_inference_steps=2,
        output_type="np",
        generator=torch.Generator().manual_seed(0),
    )
    assert out.frames.shape == (1, 9, 16, 16, 3)
    assert pipe.config.window_frames == tiny_config.num_frames  # long takes use the trained window

    # float16 storage halves the weights; the loaders still compute in float32, with the same weights rounded
    half = tmp_path / "half"
    result = CliRunner().invoke(app, ["export", tiny_config.output_dir, "-o", str(half), "--dtype", "float16"])
    assert result.exit_code == 0, result.output
    from safetensors import safe_open

    for path in half.rglob("*.safetensors"):
        with safe_open(str(path), "pt") as f:
            assert all(f.get_tensor(k).dtype == torch.float16 for k in f.keys())
    small, _ = load_pipeline("talking", half)
    for name in ("transformer", "vae", "text_encoder", "audio_encoder"):
        for a, b in zip(getattr(small, name).parameters(), getattr(pipe, name).parameters(), strict=True):
            assert a.dtype == torch.float32
            torch.testing.assert_close(a, b.half().float(), rtol=0, atol=0)
    bad = CliRunner().invoke(app, ["export", tiny_config.output_dir, "-o", str(tmp_path / "x"), "--dtype", "int8"])
    assert bad.exit_code != 0


def test_export_of_unfinished_run_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match="missing"):
        export_pipeline(tmp_path, tmp_path / "model")


def test_export_a_checkpoint_of_a_run(app, tiny_config, tmp_path):
    """--checkpoint exports that step's EMA weights: the last checkpoint's export equals the final/ export."""
    trainer = build_trainer(tiny_config.replace(steps=3, checkpoint_every=2))
    trainer.train()
    trainer.export()
    final_dir, last_dir, early_dir = tmp_path / "final", tmp_path / "last", tmp_path / "early"
    run = tiny_config.output_dir
    assert CliRunner().invoke(app, ["export", run, "-o", str(final_dir)]).exit_code == 0
    result = CliRunner().invoke(app, ["export", run, "-o", str(last_dir), "--checkpoint", f"{run}/checkpoint-3"])
    assert result.exit_code == 0, result.output
    assert (
        CliRunner().invoke(app, ["export", run, "-o", str(early_dir), "--checkpoint", f"{run}/checkpoint-2"]).exit_code
        == 0
    )
    final, last, early = (
        load_pipeline("talking", d)[0].transformer.state_dict() for d in (final_dir, last_dir, early_dir)
    )
    assert all(torch.equal(final[k], last[k]) for k in final)
    assert any(not torch.equal(final[k], early[k]) for k in final)
    with pytest.raises(ConfigError, match="not a checkpoint"):
        export_pipeline(run, tmp_path / "x", checkpoint=tmp_path)


def test_a_keyframe_run_is_exported_into_the_pipeline_it_draws_first_frames_for(app, tiny_config, tmp_path):
    main = build_trainer(tiny_config.replace(steps=1))
    main.train()
    main.export()
    model_dir = tmp_path / "model"
    assert CliRunner().invoke(app, ["export", tiny_config.output_dir, "-o", str(model_dir)]).exit_code == 0
    keyframe = tiny_config.replace(
        steps=1, num_frames=1, motion_share=0.0, text_only_share=1.0, reference_dropout=1.0,
        output_dir=str(tmp_path / "keyframe"), text_encoder_path=str(model_dir / "text_encoder"),
        transformer_overrides={**tiny_config.transformer_overrides, "num_layers": 1, "audio_block_indices": []},
        init_from=str(model_dir), init_blocks=[1],  # the one block starts as the video transformer's second
    )  # fmt: skip
    with pytest.raises(ConfigError, match="must name 1 of the 2 blocks"):
        build_trainer(keyframe.replace(init_blocks=[2]))
    with pytest.raises(ConfigError, match="set init_from"):
        keyframe.replace(init_from=None)
    run = build_trainer(keyframe)
    video = load_pipeline("talking", model_dir)[0].transformer.state_dict()
    started = run.accelerator.unwrap_model(run.module).transformer.state_dict()
    assert not any("audio_attn" in k for k in started)
    assert all(torch.equal(v, video[k.replace("blocks.0.", "blocks.1.")]) for k, v in started.items())
    run.train()
    run.export()
    with pytest.raises(ConfigError, match="holds no pipeline"):
        export_pipeline(keyframe.output_dir, tmp_path / "nowhere")
    result = CliRunner().invoke(app, ["export", keyframe.output_dir, "-o", str(model_dir), "--dtype", "float16"])
    assert result.exit_code == 0, result.output
    assert "keyframe_transformer" in json.loads((model_dir / "model_index.json").read_text())
    pipe, _ = load_pipeline("talking", model_dir)
    run.ema.copy_to(run.params)
    trained = run.accelerator.unwrap_model(run.module).transformer
    for a, b in zip(pipe.keyframe_transformer.parameters(), trained.parameters(), strict=True):
        torch.testing.assert_close(a, b.half().float(), rtol=0, atol=0)
    assert list(model_dir.glob(".keyframe_transformer*")) == []  # nothing staged is left behind
    out = pipe("a person talks", torch.zeros(16000), num_frames=9, height=16, width=16, num_inference_steps=1)
    assert out.frames.shape == (1, 9, 16, 16, 3)
    # a pipeline with another text encoder (another seed's run) is refused, and keeps its folder as it was
    other = build_trainer(tiny_config.replace(steps=1, seed=5, output_dir=str(tmp_path / "other")))
    other.train()
    other.export()
    other_dir = tmp_path / "other-model"
    assert CliRunner().invoke(app, ["export", str(tmp_path / "other"), "-o", str(other_dir)]).exit_code == 0
    before = (other_dir / "model_index.json").read_text()
    with pytest.raises(ConfigError, match="another text encoder"):
        export_pipeline(keyframe.output_dir, other_dir)
    assert (other_dir / "model_index.json").read_text() == before and not (other_dir / "keyframe_transformer").exists()
