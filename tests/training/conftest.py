"""Tiny training runs: 16x16 pixels, 9 frames, 2 layers, 2 heads, batch 1."""

from __future__ import annotations

import pytest
import typer

from talkgen.training import TrainConfig

TINY_VAE = {
    "base_dim": 4,
    "z_dim": 4,
    "dim_mult": [1, 1, 1, 1],
    "num_res_blocks": 1,
    "attn_scales": [],
    "temperal_downsample": [False, True, True],
    "latents_mean": [0.0] * 4,
    "latents_std": [1.0] * 4,
}
TINY = {
    "transformer_overrides": {
        "num_attention_heads": 2,
        "attention_head_dim": 12,
        "in_channels": 4,
        "out_channels": 4,
        "text_dim": 32,
        "freq_dim": 16,
        "ffn_dim": 32,
        "num_layers": 2,
        "rope_max_seq_len": 64,
        "audio_dim": 16,
    },
    "vae_overrides": {"kind": "wan", **TINY_VAE},
    "text_encoder_overrides": {"d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 1, "num_heads": 2},
    "audio_encoder_overrides": {"hidden_dim": 16, "num_layers": 1, "num_heads": 2, "out_dim": 16},
    "size": 16,
    "num_frames": 9,
    "max_characters": 2,
    "text_len": 16,
    "steps": 3,
    "batch_size": 1,
    "warmup_steps": 1,
    "checkpoint_every": 0,
    "text_only_share": 0.5,
    "sigma_sampling": "uniform",
    "cpu": True,
}


@pytest.fixture
def tiny_settings() -> dict:
    """The tiny config as plain data (for YAML files)."""
    return dict(TINY)


@pytest.fixture
def tiny_config(tmp_path) -> TrainConfig:
    return TrainConfig(**TINY, output_dir=str(tmp_path / "run"))


@pytest.fixture
def app() -> typer.Typer:
    """A Typer app with only the training commands (train, export, prepare) registered."""
    from talkgen.commands.train import register

    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    register(app)
    return app
