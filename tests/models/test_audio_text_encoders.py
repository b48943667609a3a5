"""Audio encoders (built-in, Wav2Vec2 and Whisper from local dirs) and the text encoder helpers."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import (
    ByT5Tokenizer,
    UMT5Config,
    UMT5EncoderModel,
    Wav2Vec2Config,
    Wav2Vec2Model,
    WhisperConfig,
    WhisperModel,
)

from talkgen.audio.features import align_to_fps
from talkgen.errors import WeightsError
from talkgen.models.audio_encoder import BuiltinAudioEncoder, Wav2Vec2AudioEncoder, WhisperAudioEncoder
from talkgen.models.text_encoder import build_tiny_text_encoder, encode_prompts, load_umt5


def speech(batch: int, seconds: float, seed: int = 0) -> torch.Tensor:
    """(batch, N) 16 kHz test signal: noise-modulated tones, different per row."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(int(16000 * seconds)) / 16000
    freqs = 150 + 100 * torch.rand(batch, 1, generator=gen)
    return (0.3 * torch.sin(2 * math.pi * freqs * t) + 0.05 * torch.randn(batch, t.numel(), generator=gen)).float()


@pytest.fixture(scope="module")
def wav2vec2_dir(tmp_path_factory):
    config = Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8, 8), conv_stride=(5, 64), conv_kernel=(10, 64), num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2, vocab_size=10,
    )  # fmt: skip
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("w2v")
    Wav2Vec2Model(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory):
    config = WhisperConfig(
        vocab_size=64, num_mel_bins=80, d_model=16, encoder_layers=2, encoder_attention_heads=2,
        decoder_layers=1, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        max_source_positions=50, max_target_positions=16,
        pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
    )  # fmt: skip
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("whisper")
    WhisperModel(config).save_pretrained(folder)
    return folder


def test_builtin_encoder_shapes_streams_and_round_trip(tmp_path):
    torch.manual_seed(0)
    encoder = BuiltinAudioEncoder(hidden_dim=32, num_layers=1, num_heads=2, out_dim=24).eval()
    audio = speech(2, 1.0)
    with torch.no_grad():
        single = encoder(audio, fps=25.0, num_frames=25)
        streams = encoder(torch.stack([audio, audio.flip(0)], dim=1), fps=25.0, num_frames=25)
    assert single.shape == (2, 25, 24) and streams.shape == (2, 2, 25, 24)
    assert torch.allclose(streams[:, 0], single, atol=1e-5) and torch.allclose(streams[1, 1], single[0], atol=1e-5)
    assert not torch.allclose(single[0], single[1])
    encoder.save_pretrained(tmp_path / "enc")
    loaded = BuiltinAudioEncoder.from_pretrained(tmp_path / "enc").eval()
    with torch.no_grad():
        assert torch.equal(loaded(audio, fps=25.0, num_frames=25), single)


def test_builtin_encoder_trains_and_follows_fps():
    torch.manual_seed(0)
    encoder = BuiltinAudioEncoder(hidden_dim=32, num_layers=1, num_heads=2, out_dim=8)
    out = encoder(speech(1, 0.5), fps=30.0, num_frames=15)
    assert out.shape == (1, 15, 8)
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters())
    with pytest.raises(ValueError, match="waveform must be"):
        encoder(torch.zeros(16000), fps=25.0, num_frames=25)


def test_wav2vec2_from_dir_averages_layers(wav2vec2_dir):
    encoder = Wav2Vec2AudioEncoder.from_dir(wav2vec2_dir, layers=[1, 2])
    assert encoder.feature_dim == 16 and encoder.feature_rate == 50.0
    audio = speech(2, 1.0)
    with torch.no_grad():
        out = encoder(audio, fps=25.0, num_frames=25)
        normed = (audio - audio.mean(-1, keepdim=True)) / torch.sqrt(audio.var(-1, keepdim=True) + 1e-7)
        hidden = Wav2Vec2Model.from_pretrained(wav2vec2_dir)(normed, output_hidden_states=True).hidden_states
    expected = align_to_fps((hidden[1] + hidden[2]) / 2, 50.0, 25.0, 25)
    assert out.shape == (2, 25, 16)
    assert torch.allclose(out, expected, atol=1e-5)


def test_whisper_from_dir_windows_long_audio(whisper_dir):
    encoder = WhisperAudioEncoder.from_dir(whisper_dir)  # 1 s windows (max_source_positions=50)
    with torch.no_grad():
        out = encoder(speech(2, 1.5), fps=25.0, num_frames=37)
        per_stream = encoder(speech(2, 1.5)[:, None].expand(2, 3, -1), fps=25.0, num_frames=37)
    assert out.shape == (2, 37, 16) and torch.isfinite(out).all()
    assert torch.allclose(per_stream[:, 2], out, atol=1e-5)


@pytest.mark.parametrize("loader", [Wav2Vec2AudioEncoder.from_dir, WhisperAudioEncoder.from_dir])
def test_missing_audio_weights_name_the_layout(tmp_path, loader):
    with pytest.raises(WeightsError, match="config.json and model.safetensors"):
        loader(tmp_path / "nope")
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.json").write_text("{}")
    with pytest.raises(WeightsError, match="safetensors"):
        loader(tmp_path / "cfg")


def test_tiny_text_encoder_pads_with_zeros():
    torch.manual_seed(0)
    model, tokenizer = build_tiny_text_encoder({"vocab_size": 384, "d_model": 32, "d_kv": 8, "d_ff": 64,
                                                "num_layers": 1, "num_heads": 4})  # fmt: skip
    states, mask = encode_prompts(model, tokenizer, ["hi", "a longer prompt"], max_length=12)
    assert states.shape == (2, 12, 32) and mask.sum(1).tolist() == [3, 12]  # "hi" + </s>; the other truncated
    assert torch.count_nonzero(states[0, 3:]) == 0 and torch.count_nonzero(states[0, :3]) > 0
    again, _ = encode_prompts(model, tokenizer, ["hi"], max_length=12)
    assert torch.allclose(again[0], states[0], atol=1e-6)


def test_umt5_loads_from_a_local_dir_only(tmp_path):
    with pytest.raises(WeightsError, match="config.json"):
        load_umt5(tmp_path / "missing")
    torch.manual_seed(0)
    config = UMT5Config(vocab_size=384, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2)
    UMT5EncoderModel(config).save_pretrained(tmp_path / "umt5" / "text_encoder")
    ByT5Tokenizer().save_pretrained(tmp_path / "umt5" / "tokenizer")
    model, tokenizer = load_umt5(tmp_path / "umt5")
    states, mask = encode_prompts(model, tokenizer, ["hello"], max_length=8)
    assert states.shape == (1, 8, 16) and mask[0].sum() == 6


def test_builtin_encoder_windows_long_speech_into_its_trained_context():
    """Long input is encoded in overlapping windows whose middles equal a direct encoding of that window."""
    import torch

    from talkgen.models.audio_encoder import BuiltinAudioEncoder

    torch.manual_seed(0)
    encoder = BuiltinAudioEncoder(hidden_dim=16, num_layers=1, num_heads=2, out_dim=8, context_seconds=1.0).eval()
    x = torch.randn(2, 120, 16)  # 2.4 s at the encoder's 50 Hz; context 50, margin 12, kept middles of 26
    full = encoder._contextual(x)
    torch.testing.assert_close(full[:, :26], encoder._transformer(x[:, :50])[:, :26])
    torch.testing.assert_close(full[:, 26:52], encoder._transformer(x[:, 14:64])[:, 12:38])
    torch.testing.assert_close(full[:, 104:], encoder._transformer(x[:, 70:])[:, 34:])
    whole = BuiltinAudioEncoder.from_config({**encoder.config, "context_seconds": 0.0}).eval()
    whole.load_state_dict(encoder.state_dict())
    torch.testing.assert_close(whole._contextual(x), whole._transformer(x))
    assert not torch.allclose(whole._contextual(x), full)
    wave = torch.randn(1, 16_000 * 2) * 0.1
    assert encoder(wave, 25.0, 50).shape == (1, 50, 8)


def test_local_attention_init_makes_a_byte_depend_on_its_neighbours():
    """With local heads, changing the byte next door moves a byte's state far more than changing one 40 bytes away;
    at T5's default init both are about the same."""
    import torch

    from talkgen.models.text_encoder import build_tiny_text_encoder, init_local_attention

    def sensitivity(encoder, tokenizer) -> tuple[float, float]:
        base = "Person1: a character with yellow skin and a blue shirt, wearing a red cap. Person2 listens."
        near = base.replace("yellow", "yellaw")  # two bytes after the probe byte 'l'
        far = base.replace("listens", "lestens")
        probe = base.index("yellow") + 2
        with torch.no_grad():
            states = [
                encoder(**tokenizer([t], return_tensors="pt")).last_hidden_state[0, probe] for t in (base, near, far)
            ]
        return float((states[1] - states[0]).norm()), float((states[2] - states[0]).norm())

    torch.manual_seed(0)
    encoder, tokenizer = build_tiny_text_encoder()
    default_near, default_far = sensitivity(encoder, tokenizer)
    init_local_attention(encoder)
    near, far = sensitivity(encoder, tokenizer)
    assert near > 5 * far
    assert default_near < 3 * default_far
