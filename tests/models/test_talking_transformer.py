"""The talking-character transformer: Wan equivalence, conditions, streams, training, save/load, shape errors."""

from __future__ import annotations

import pytest
import torch
from diffusers.models.transformers.transformer_wan import WanTransformer3DModel

from talkgen.errors import WeightsError
from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel

AUDIO_DIM = 6  # conftest's tiny model


def run(model, inputs, **extra) -> torch.Tensor:
    with torch.no_grad():
        return model(**{**inputs, **extra}).sample


def test_from_wan_round_trip_matches_plain_wan(tmp_path, tiny_inputs, tiny_wan_config):
    torch.manual_seed(3)
    wan = WanTransformer3DModel(**tiny_wan_config).eval()
    wan.save_pretrained(tmp_path / "wan")
    model = TalkingCharacterTransformer3DModel.from_wan(tmp_path / "wan", audio_dim=AUDIO_DIM).eval()
    for name, value in wan.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name
    args = {k: tiny_inputs[k] for k in ("hidden_states", "timestep", "encoder_hidden_states")}
    with torch.no_grad():
        expected = wan(**args).sample
    with_audio = run(model, tiny_inputs)  # audio output projections are zero: audio changes nothing
    assert (with_audio - expected).abs().max().item() < 1e-6
    assert (run(model, args) - expected).abs().max().item() < 1e-6


def test_from_wan_names_the_expected_layout(tmp_path, tiny_wan_config):
    with pytest.raises(WeightsError, match="config.json"):
        TalkingCharacterTransformer3DModel.from_wan(tmp_path / "missing")
    WanTransformer3DModel(**tiny_wan_config).save_config(tmp_path / "cfg_only")
    with pytest.raises(WeightsError, match="safetensors"):
        TalkingCharacterTransformer3DModel.from_wan(tmp_path / "cfg_only")


def test_output_shape_and_audio_matters(tiny_model, tiny_inputs):
    out = run(tiny_model, tiny_inputs)
    assert out.shape == tiny_inputs["hidden_states"].shape
    other = run(tiny_model, tiny_inputs, audio_embeds=tiny_inputs["audio_embeds"] + 1.0)
    assert not torch.allclose(out, other)


def test_save_pretrained_round_trip_is_exact(tmp_path, tiny_model, tiny_inputs):
    tiny_model.save_pretrained(tmp_path / "m")
    loaded = TalkingCharacterTransformer3DModel.from_pretrained(tmp_path / "m").eval()
    assert loaded.config.audio_dim == AUDIO_DIM
    assert torch.equal(run(tiny_model, tiny_inputs), run(loaded, tiny_inputs))


def test_one_optimisation_step_reaches_the_audio_layers(tiny_inputs, tiny_wan_config):
    torch.manual_seed(0)
    model = TalkingCharacterTransformer3DModel(**tiny_wan_config, audio_dim=AUDIO_DIM).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    audio_params = {n: p for n, p in model.named_parameters() if "audio" in n}
    assert audio_params and all(torch.count_nonzero(p) == 0 for n, p in audio_params.items() if "to_out" in n)
    for _ in range(2):
        optimizer.zero_grad()
        loss = model(**tiny_inputs).sample.pow(2).mean()
        loss.backward()
        optimizer.step()
    # After one step the zero output projections have moved, so every audio parameter now gets a gradient.
    no_grad = [n for n, p in audio_params.items() if n != "audio_null" and (p.grad is None or p.grad.abs().sum() == 0)]
    assert no_grad == []


def test_audio_blocks_follow_config(tiny_wan_config):
    model = TalkingCharacterTransformer3DModel(**tiny_wan_config, audio_dim=AUDIO_DIM, audio_block_indices=[1])
    assert model.blocks[0].audio_attn is None and model.blocks[1].audio_attn is not None
    with pytest.raises(ValueError, match="audio_block_indices"):
        TalkingCharacterTransformer3DModel(**tiny_wan_config, audio_dim=AUDIO_DIM, audio_block_indices=[5])


CONDITIONS = {
    "reference_latents": lambda b: torch.randn(b, 4, 1, 4, 4),
    "source_latents": lambda b: torch.randn(b, 4, 3, 4, 4),
    "motion_latents": lambda b: torch.randn(b, 4, 2, 4, 4),
}


@pytest.mark.parametrize("name", sorted(CONDITIONS))
def test_each_condition_can_be_present_or_absent(tiny_model, tiny_inputs, name):
    torch.manual_seed(5)
    absent = run(tiny_model, tiny_inputs)
    value = CONDITIONS[name](2)
    present = run(tiny_model, tiny_inputs, **{name: value})
    assert present.shape == absent.shape and not torch.allclose(present, absent)
    # Dropping it for sample 0 by null_conditions equals leaving it out for that sample.
    short = name.removesuffix("_latents")
    dropped = run(tiny_model, tiny_inputs, **{name: value}, null_conditions={short: torch.tensor([True, False])})
    assert torch.allclose(dropped[0], absent[0], atol=1e-6)
    assert torch.allclose(dropped[1], present[1], atol=1e-6)


def test_all_conditions_together(tiny_model, tiny_inputs):
    extra = {name: make(2) for name, make in CONDITIONS.items()}
    out = run(tiny_model, tiny_inputs, **extra)
    assert torch.isfinite(out).all()


def test_null_audio_per_sample_equals_absent_audio(tiny_model, tiny_inputs):
    no_audio = run(tiny_model, {k: v for k, v in tiny_inputs.items() if k != "audio_embeds"})
    mixed = run(tiny_model, tiny_inputs, null_conditions={"audio": torch.tensor([False, True])})
    full = run(tiny_model, tiny_inputs)
    assert torch.allclose(mixed[1], no_audio[1], atol=1e-6)
    assert torch.allclose(mixed[0], full[0], atol=1e-6)


def test_stream_k_changes_only_its_own_tokens(tiny_model, tiny_inputs):
    audio = tiny_inputs["audio_embeds"]
    null = torch.zeros(2, dtype=torch.bool)
    with torch.no_grad():
        base = tiny_model.embed_audio(audio, 3, 2, null)  # (B, T, S, D)
        changed_audio = audio.clone()
        changed_audio[:, 1] += 1.0
        changed = tiny_model.embed_audio(changed_audio, 3, 2, null)
    assert torch.equal(base[:, :, 0], changed[:, :, 0])
    assert not torch.allclose(base[:, :, 1], changed[:, :, 1])
    assert not torch.allclose(run(tiny_model, tiny_inputs), run(tiny_model, tiny_inputs, audio_embeds=changed_audio))


def test_streams_are_told_apart_only_by_their_slot(tiny_model, tiny_inputs):
    swapped = tiny_inputs["audio_embeds"].flip(1)
    out, out_swapped = run(tiny_model, tiny_inputs), run(tiny_model, tiny_inputs, audio_embeds=swapped)
    assert not torch.allclose(out, out_swapped, atol=1e-4)  # distinct slots: which stream is which matters
    with torch.no_grad():
        tiny_model.audio_slot_embedding.copy_(
            tiny_model.audio_slot_embedding[:1].expand_as(tiny_model.audio_slot_embedding)
        )
    out, out_swapped = run(tiny_model, tiny_inputs), run(tiny_model, tiny_inputs, audio_embeds=swapped)
    assert torch.allclose(out, out_swapped, atol=1e-5)  # same slot: streams are interchangeable


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"audio_embeds": torch.randn(2, 2, 8, AUDIO_DIM)}, "need 9 frames"),
        ({"audio_embeds": torch.randn(2, 5, 9, AUDIO_DIM)}, "expected 1..4"),
        ({"audio_embeds": torch.randn(2, 2, 9, AUDIO_DIM + 1)}, "expected audio_dim=6"),
        ({"audio_embeds": torch.randn(2, 9, AUDIO_DIM)}, "must be \\(batch, streams, frames, channels\\)"),
        ({"audio_embeds": torch.randn(1, 2, 9, AUDIO_DIM)}, "expected 2"),
        ({"reference_latents": torch.randn(2, 4, 2, 4, 4)}, "reference_latents must be"),
        ({"source_latents": torch.randn(2, 4, 2, 4, 4)}, "source_latents must be"),
        ({"motion_latents": torch.randn(2, 4, 4, 4, 4)}, "motion_latents must be"),
        ({"null_conditions": {"text": torch.tensor([True, False])}}, "unknown null_conditions"),
    ],
)
def test_bad_shapes_say_what_was_expected(tiny_model, tiny_inputs, extra, message):
    with pytest.raises(ValueError, match=message):
        run(tiny_model, tiny_inputs, **extra)


def test_longer_audio_is_cut_to_the_video(tiny_model, tiny_inputs):
    longer = torch.cat([tiny_inputs["audio_embeds"], torch.randn(2, 2, 3, AUDIO_DIM)], dim=2)
    assert torch.equal(run(tiny_model, tiny_inputs), run(tiny_model, tiny_inputs, audio_embeds=longer))


def test_gradient_checkpointing_gives_the_same_gradients(tiny_model, tiny_inputs):
    tiny_model.train()
    tiny_model(**tiny_inputs).sample.square().mean().backward()
    expected = {n: p.grad.clone() for n, p in tiny_model.named_parameters() if p.grad is not None}
    tiny_model.zero_grad()
    tiny_model.enable_gradient_checkpointing()
    tiny_model(**tiny_inputs).sample.square().mean().backward()
    for name, grad in expected.items():
        assert torch.allclose(tiny_model.get_parameter(name).grad, grad, atol=1e-6), name


def test_sample_prediction_returns_the_velocity_of_the_predicted_clean_latents():
    import torch

    from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel

    shapes = dict(
        num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=4, text_dim=16, freq_dim=8,
        ffn_dim=16, num_layers=1, audio_dim=8, rope_max_seq_len=32,
    )  # fmt: skip
    torch.manual_seed(0)
    velocity = TalkingCharacterTransformer3DModel(**shapes).eval()
    sample = TalkingCharacterTransformer3DModel(**shapes, prediction_type="sample", min_sigma=0.05).eval()
    sample.load_state_dict(velocity.state_dict())
    x = torch.randn(2, 4, 3, 4, 4)
    t = torch.tensor([500.0, 10.0])  # sigma 0.5 and 0.01 (clamped to 0.05)
    text = torch.randn(2, 5, 16)
    with torch.no_grad():
        raw = velocity(x, t, text, return_dict=False)[0]  # the network's output: here read as x0
        v = sample(x, t, text, return_dict=False)[0]
    torch.testing.assert_close(v[0], (x[0] - raw[0]) / 0.5)
    torch.testing.assert_close(v[1], (x[1] - raw[1]) / 0.05)
    with pytest.raises(ValueError, match="prediction_type"):
        TalkingCharacterTransformer3DModel(**shapes, prediction_type="epsilon")


def test_window_positions_let_a_latent_frame_tell_its_video_frames_apart(tiny_wan_config, tiny_inputs):
    """Frames 2 and 3 are both in latent frame 1's window only: without positions a window is a set of tokens and
    swapping them changes nothing; with positions it changes the prediction. Zero-initialised positions compute
    exactly what the model saved without them computes."""
    from dummies import randomize_new_layers

    torch.manual_seed(0)
    plain = TalkingCharacterTransformer3DModel(**tiny_wan_config, audio_dim=AUDIO_DIM).eval()
    randomize_new_layers(plain)
    placed = TalkingCharacterTransformer3DModel(**tiny_wan_config, audio_dim=AUDIO_DIM, audio_window_positions=True)
    missing, unexpected = placed.eval().load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["audio_window_embedding"] and not unexpected
    inputs = dict(tiny_inputs)
    audio = inputs["audio_embeds"].clone()
    audio[:, :, [2, 3]] = inputs["audio_embeds"][:, :, [3, 2]]
    swapped = {**inputs, "audio_embeds": audio}
    with torch.no_grad():
        torch.testing.assert_close(placed(**inputs).sample, plain(**inputs).sample, rtol=0, atol=0)
        torch.testing.assert_close(plain(**swapped).sample, plain(**inputs).sample)  # order lost
        placed.audio_window_embedding.normal_(generator=torch.Generator().manual_seed(0))
        moved = (placed(**swapped).sample - placed(**inputs).sample).abs()
    assert moved[:, :, 1].amax() > 1e-3  # latent frame 1 now hears the order of its frames


def test_audio_gate_starts_as_identity_and_lets_tokens_shut_out_the_speech(tiny_wan_config, tiny_inputs):
    """Zero-initialised gates compute what the model saved without them computes; a gate driven shut makes the
    speech change nothing, and a gate that differs by token scales the speech's effect token by token."""
    from dummies import randomize_new_layers

    torch.manual_seed(0)
    plain = TalkingCharacterTransformer3DModel(**tiny_wan_config, audio_dim=AUDIO_DIM).eval()
    randomize_new_layers(plain)
    gated = TalkingCharacterTransformer3DModel(**tiny_wan_config, audio_dim=AUDIO_DIM, audio_gate=True).eval()
    missing, unexpected = gated.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(missing) == sorted(f"blocks.{i}.audio_attn.to_gate.{w}" for i in (0, 1) for w in ("weight", "bias"))
    assert not unexpected
    inputs = dict(tiny_inputs)
    other = {**inputs, "audio_embeds": torch.randn_like(inputs["audio_embeds"])}
    with torch.no_grad():
        torch.testing.assert_close(gated(**inputs).sample, plain(**inputs).sample, rtol=0, atol=0)
        assert (plain(**other).sample - plain(**inputs).sample).abs().amax() > 1e-3  # the speech matters
        for block in gated.blocks:
            block.audio_attn.to_gate.bias.fill_(-40.0)  # every gate shut
        torch.testing.assert_close(gated(**other).sample, gated(**inputs).sample)
        for block in gated.blocks:  # open for some tokens only: the speech's effect now differs from the plain one
            block.audio_attn.to_gate.bias.zero_()
            block.audio_attn.to_gate.weight.normal_(generator=torch.Generator().manual_seed(1))
        gated_effect = gated(**other).sample - gated(**inputs).sample
        plain_effect = plain(**other).sample - plain(**inputs).sample
    assert (gated_effect - plain_effect).abs().amax() > 1e-3


def test_text_pooling_starts_as_identity_ignores_padding_and_carries_the_prompt(tiny_wan_config, tiny_inputs):
    """The pooled prompt read starts at zero (a model saved without it computes the same), reads a prompt the same
    at any zero-padded length, and once trained moves the output with the prompt even where cross-attention has
    been silenced."""
    from dummies import randomize_new_layers

    torch.manual_seed(0)
    plain = TalkingCharacterTransformer3DModel(**tiny_wan_config, audio_dim=AUDIO_DIM).eval()
    randomize_new_layers(plain)
    pooled = TalkingCharacterTransformer3DModel(**tiny_wan_config, audio_dim=AUDIO_DIM, text_pooling=True).eval()
    missing, unexpected = pooled.load_state_dict(plain.state_dict(), strict=False)
    assert missing and all(name.startswith("text_pool") for name in missing) and not unexpected
    inputs = dict(tiny_inputs)
    with torch.no_grad():
        torch.testing.assert_close(pooled(**inputs).sample, plain(**inputs).sample, rtol=0, atol=0)
        pooled.text_pool_proj.weight.normal_(generator=torch.Generator().manual_seed(2))
        text = inputs["encoder_hidden_states"]
        padded = torch.cat([text, torch.zeros(text.shape[0], 7, text.shape[2])], dim=1)
        projected = pooled.condition_embedder.text_embedder
        read = pooled.pool_text(projected(text), text)
        torch.testing.assert_close(pooled.pool_text(projected(padded), padded), read, rtol=1e-5, atol=1e-6)
        for block in pooled.blocks:  # silence the text cross-attention: only the pooled read carries the prompt
            block.attn2.to_out[0].weight.zero_()
            block.attn2.to_out[0].bias.zero_()
        other = {**inputs, "encoder_hidden_states": torch.randn_like(text)}
        assert (pooled(**other).sample - pooled(**inputs).sample).abs().amax() > 1e-3
        pooled.text_pool_proj.weight.zero_()
        torch.testing.assert_close(pooled(**other).sample, pooled(**inputs).sample)
