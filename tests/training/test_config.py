from __future__ import annotations

from pathlib import Path

import pytest

from talkgen.errors import ConfigError
from talkgen.training import TrainConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize(
    "name, task",
    [
        ("tiny.yaml", "dit"),
        ("tiny-finetune.yaml", "dit"),
        ("tiny-continue.yaml", "dit"),
        ("tiny-text.yaml", "text"),
        ("tiny-audio.yaml", "audio"),
        ("tiny-codec.yaml", "codec"),
        ("tiny-vae.yaml", "vae"),
        ("wan-1.3b.yaml", "dit"),
        ("tiny-keyframe.yaml", "dit"),
        ("tiny-keyframe-stills.yaml", "dit"),
        ("tiny-speech-path.yaml", "dit"),
        ("tiny-articulation.yaml", "dit"),
        ("tiny-still-heads.yaml", "dit"),
        ("tiny-loud-speech.yaml", "dit"),
        ("tiny-mouth-crops.yaml", "dit"),
        ("tiny-mouth-crops-8.yaml", "dit"),
        ("tiny-mouth-crops-moving.yaml", "dit"),
    ],
)
def test_shipped_configs_load(name, task):
    if name == "tiny-keyframe-stills.yaml":  # first frames only, their cache apart from part 1's clip cache
        stills = TrainConfig.from_yaml(CONFIGS / name)
        assert stills.latent_cache_stills and stills.num_frames == 1
        assert stills.latent_cache != TrainConfig.from_yaml(CONFIGS / "tiny-keyframe.yaml").latent_cache
    config = TrainConfig.from_yaml(CONFIGS / name)
    assert config.task == task
    if name == "tiny-loud-speech.yaml":  # the still-heads lesson from a louder speech attention, on its cache
        assert config.init_speech_gain == 10.0 and config.head_motion == 0.0
        assert config.latent_cache == TrainConfig.from_yaml(CONFIGS / "tiny-still-heads.yaml").latent_cache
    if name == "tiny-mouth-crops.yaml":  # stage 16b's lesson on squares around the mouths
        loud = TrainConfig.from_yaml(CONFIGS / "tiny-loud-speech.yaml")
        assert config.mouth_crop == 10 and config.latent_cache == loud.latent_cache
        assert config.init_speech_gain == loud.init_speech_gain and config.mouth_weight == loud.mouth_weight
    if name == "tiny-mouth-crops-8.yaml":  # stage 17 longer, on smaller squares, in a run folder of its own
        crops = TrainConfig.from_yaml(CONFIGS / "tiny-mouth-crops.yaml")
        assert config.mouth_crop == 8 and config.steps > crops.steps and config.output_dir != crops.output_dir
        assert config.replace(mouth_crop=10, steps=crops.steps, batch_size=crops.batch_size,
                              output_dir=crops.output_dir) == crops  # fmt: skip
    if name == "tiny-mouth-crops-moving.yaml":  # stage 17b continued on the moving heads' cache, gain not re-applied
        moving = TrainConfig.from_yaml(CONFIGS / "tiny-articulation.yaml")
        assert config.latent_cache == moving.latent_cache and config.head_motion == 1.0
        assert config.init_speech_gain == 1.0 and config.mouth_crop == 8
    if name == "tiny-still-heads.yaml":  # still heads in a cache of their own, apart from the moving heads' cache
        assert config.head_motion == 0.0
        assert config.latent_cache != TrainConfig.from_yaml(CONFIGS / "tiny-articulation.yaml").latent_cache
    if name == "tiny-speech-path.yaml":  # the speech path alone, ordered windows on, from the clip cache
        assert config.trainable_parameters == ["*audio*"] and config.transformer_overrides["audio_window_positions"]
        assert config.transformer_overrides["audio_gate"] and config.loss_space == "sample"
        assert config.articulation_weight > 0 and config.edit_share > 0
    if name == "tiny-articulation.yaml":  # the same lesson with every weight training
        assert config.trainable_parameters is None and config.articulation_weight > 0
        assert config.latent_cache == TrainConfig.from_yaml(CONFIGS / "tiny-continue.yaml").latent_cache
    assert config.component_config("transformer")["num_layers"] >= 1
    if name == "tiny.yaml":  # the DiT reads the codec's latents
        codec = TrainConfig.from_yaml(CONFIGS / "tiny-codec.yaml").component_config("vae")
        assert config.component_config("transformer")["in_channels"] == codec["z_dim"]


def test_fsdp_launch_config_wraps_the_transformer_blocks():
    from accelerate.commands.config.config_args import load_config_from_file

    from talkgen.models.presets import get_preset
    from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel

    launch = load_config_from_file(str(CONFIGS / "accelerate" / "fsdp-wan-1.3b.yaml"))
    assert str(launch.distributed_type).endswith("FSDP") and launch.mixed_precision == "bf16"
    wrapped = launch.fsdp_config["fsdp_transformer_layer_cls_to_wrap"]
    shapes = {**get_preset("wan-1.3b").config("transformer"), "num_layers": 2, "ffn_dim": 32, "text_dim": 16}
    model = TalkingCharacterTransformer3DModel(**shapes)
    assert sum(type(m).__name__ == wrapped for m in model.modules()) == 2  # one FSDP unit per block
    train = TrainConfig.from_yaml(CONFIGS / "wan-1.3b.yaml")
    assert train.ema_decay == 0 and train.mixed_precision == launch.mixed_precision


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"task": "gan"}, "task"),
        ({"preset": "huge"}, "unknown model preset"),
        ({"num_frames": 10}, "num_frames must be 4 k"),
        ({"size": 40}, "multiple of 16"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"text_only_share": 1.5}, "text_only_share"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"sigma_sampling": "beta"}, "sigma_sampling"),
        ({"steps": 0}, "steps"),
        ({"mixed_precision": "fp8"}, "mixed_precision"),
        ({"edit_share": -0.1}, "edit_share"),
        ({"edit_repeat": 0}, "edit_repeat"),
        ({"validate_every": -1}, "validate_every"),
        ({"data_dir": 3}, "data_dir must be a folder path"),
        ({"task": "dit", "init_from": "m", "init_blocks": [0, "new"]}, "or null for a new block"),
        ({"task": "dit", "init_from": "m", "init_blocks": [True]}, "init_blocks must list block numbers"),
    ],
)
def test_bad_values_raise_config_error(changes, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**changes)


def test_unknown_keys_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="unknown training config keys: bogus"):
        TrainConfig.from_dict({"bogus": 1})
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [1\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        TrainConfig.from_yaml(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        TrainConfig.from_yaml(tmp_path / "missing.yaml")
    typed = tmp_path / "typed.yaml"
    typed.write_text("steps: many\n")
    with pytest.raises(ConfigError):
        TrainConfig.from_yaml(typed)


def test_config_is_frozen_and_round_trips():
    config = TrainConfig(vae_overrides={"z_dim": 4})
    with pytest.raises(AttributeError):
        config.steps = 5
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.component_config("vae")["z_dim"] == 4
