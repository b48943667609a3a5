"""DiT training from foundation weights in local folders (the wan-1.3b track), on tiny random stand-ins."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLWan, WanTransformer3DModel
from transformers import ByT5Tokenizer, UMT5Config, UMT5EncoderModel, Wav2Vec2Config, Wav2Vec2Model

from talkgen.errors import ConfigError
from talkgen.training import TrainConfig, build_trainer

from .conftest import TINY, TINY_VAE

WIDTH = 16  # UMT5 d_model = Wan text_dim; Wav2Vec2 hidden = the transformer's audio_dim


@pytest.fixture(scope="module")
def foundation(tmp_path_factory):
    """A Wan2.1-layout diffusers folder and a Wav2Vec2 folder, both tiny and random."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("wan")
    WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=4, out_channels=4,
        text_dim=WIDTH, freq_dim=16, ffn_dim=32, num_layers=2, cross_attn_norm=True, rope_max_seq_len=64,
    ).save_pretrained(root / "transformer")  # fmt: skip
    AutoencoderKLWan(**TINY_VAE).save_pretrained(root / "vae")
    UMT5EncoderModel(
        UMT5Config(vocab_size=384, d_model=WIDTH, d_kv=8, d_ff=32, num_layers=1, num_heads=2)
    ).save_pretrained(root / "text_encoder")
    ByT5Tokenizer().save_pretrained(root / "tokenizer")
    w2v = tmp_path_factory.mktemp("w2v")
    Wav2Vec2Model(
        Wav2Vec2Config(
            hidden_size=WIDTH, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, conv_dim=(8, 8),
            conv_stride=(5, 64), conv_kernel=(10, 64), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
            vocab_size=10,
        )
    ).save_pretrained(w2v)  # fmt: skip
    return root, w2v


def _config(tmp_path, foundation, **changes) -> TrainConfig:
    root, w2v = foundation
    settings = {k: v for k, v in TINY.items() if not k.endswith("_overrides")}
    settings.update(
        preset="wan-1.3b",
        transformer_overrides={"audio_dim": WIDTH},
        foundation_dir=str(root),
        audio_encoder_dir=str(w2v),
        output_dir=str(tmp_path / "run"),
        steps=2,
        text_len=8,
    )
    settings.update(changes)
    return TrainConfig(**settings)


def test_dit_trains_from_foundation_folders_with_frozen_encoders(tmp_path, foundation):
    trainer = build_trainer(_config(tmp_path, foundation))
    module = trainer.accelerator.unwrap_model(trainer.module)
    wan = WanTransformer3DModel.from_pretrained(foundation[0] / "transformer")
    torch.testing.assert_close(module.transformer.patch_embedding.weight, wan.patch_embedding.weight)
    audio_before = {k: v.clone() for k, v in module.audio_encoder.state_dict().items()}
    wan_before = module.transformer.blocks[0].attn1.to_q.weight.detach().clone()
    assert not any(p.requires_grad for p in module.audio_encoder.parameters())
    records = trainer.train()
    assert len(records) == 2 and all(np.isfinite(r["loss"]) for r in records)
    assert not module.audio_encoder.training  # frozen encoder stays in eval mode while the DiT trains
    for key, value in module.audio_encoder.state_dict().items():
        torch.testing.assert_close(value, audio_before[key])
    assert not torch.equal(module.transformer.blocks[0].attn1.to_q.weight, wan_before)
    # the run points at its foundation folders instead of copying their weights
    assert (trainer.output_dir / "frozen" / "sources.json").is_file()
    assert not (trainer.output_dir / "frozen" / "vae").exists()
    final = trainer.export()
    assert (final / "transformer" / "config.json").is_file()
    from talkgen.training.export import export_pipeline

    with pytest.raises(ConfigError, match="foundation weights.*final/transformer"):
        export_pipeline(trainer.output_dir, tmp_path / "model")


def test_missing_foundation_folders_name_the_setting(tmp_path, foundation):
    with pytest.raises(ConfigError, match="no built-in text encoder: set foundation_dir"):
        build_trainer(_config(tmp_path, foundation, foundation_dir=None))
    with pytest.raises(ConfigError, match="audio_encoder_dir"):
        build_trainer(_config(tmp_path, foundation, audio_encoder_dir=None))
    with pytest.raises(ConfigError, match="audio_dim"):
        build_trainer(_config(tmp_path, foundation, transformer_overrides={"audio_dim": 8}))
