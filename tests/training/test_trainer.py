from __future__ import annotations

import json
import math

import torch

from talkgen.training import build_trainer
from talkgen.training.dit import flow_matching_pair, sample_sigmas


def test_flow_matching_matches_diffusers_convention():
    from diffusers import FlowMatchEulerDiscreteScheduler

    x0, eps = torch.randn(2, 4, 3, 2, 2), torch.randn(2, 4, 3, 2, 2)
    sigmas = torch.tensor([0.25, 0.8])
    noisy, target = flow_matching_pair(x0, eps, sigmas)
    scheduler = FlowMatchEulerDiscreteScheduler()
    expected = torch.stack(
        [
            scheduler.scale_noise(x0[i : i + 1], torch.tensor([s * 1000]), eps[i : i + 1])[0]
            for i, s in enumerate(sigmas.tolist())
        ]
    )
    torch.testing.assert_close(noisy, expected)
    torch.testing.assert_close(target, eps - x0)
    gen = torch.Generator().manual_seed(0)
    s = sample_sigmas(64, gen, "logit_normal", shift=3.0)
    assert s.shape == (64,) and bool(((s > 0) & (s < 1)).all())


def test_dit_three_steps_and_exact_resume(tiny_config):
    uninterrupted = build_trainer(tiny_config.replace(output_dir=tiny_config.output_dir + "-full"))
    full = uninterrupted.train()
    assert [r["step"] for r in full] == [1, 2, 3]
    assert all(math.isfinite(r["loss"]) and r["loss"] > 0 for r in full)
    lines = (uninterrupted.output_dir / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]
    assert (uninterrupted.output_dir / "checkpoint-3" / "model.safetensors").is_file()
    final = uninterrupted.export()
    assert (final / "transformer" / "config.json").is_file()
    assert (final / "audio_encoder" / "config.json").is_file()

    first = build_trainer(tiny_config)
    part = first.train(until=2)
    assert [r["loss"] for r in part] == [r["loss"] for r in full[:2]]
    resumed = build_trainer(tiny_config.replace(resume_from="latest"))
    assert resumed.step == 2
    rest = resumed.train()
    assert [r["step"] for r in rest] == [3]
    assert rest[0]["loss"] == full[2]["loss"]
    assert rest[0]["grad_norm"] == full[2]["grad_norm"]


def test_vae_three_steps_and_resume_from_periodic_checkpoint(tiny_config):
    config = tiny_config.replace(task="vae", kl_weight=1e-3, checkpoint_every=2)
    trainer = build_trainer(config)
    full = trainer.train()
    assert len(full) == 3 and all(math.isfinite(r["loss"]) and r["kl"] >= 0 for r in full)
    assert (trainer.output_dir / "checkpoint-2" / "state.json").is_file()
    resumed = build_trainer(
        config.replace(output_dir=config.output_dir + "-resumed", resume_from=str(trainer.output_dir / "checkpoint-2"))
    )
    rest = resumed.train()
    assert [r["step"] for r in rest] == [3]
    assert rest[0]["loss"] == full[2]["loss"]


def test_init_from_starts_a_dit_run_from_trained_weights(tiny_config):
    import pytest

    from talkgen.errors import ConfigError

    trained = build_trainer(tiny_config.replace(output_dir=tiny_config.output_dir + "-first"))
    trained.train()
    final = trained.export()
    weights = trained.accelerator.unwrap_model(trained.module).transformer.state_dict()

    fresh = build_trainer(tiny_config.replace(output_dir=tiny_config.output_dir + "-fresh"))
    tuned = build_trainer(tiny_config.replace(init_from=str(final)))  # the folder holding transformer/
    assert tuned.step == 0  # a new run: fresh optimizer and schedule
    started = tuned.accelerator.unwrap_model(tuned.module).transformer.state_dict()
    untouched = fresh.accelerator.unwrap_model(fresh.module).transformer.state_dict()
    from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel

    on_disk = TalkingCharacterTransformer3DModel.from_pretrained(str(final / "transformer")).state_dict()
    assert all(torch.equal(started[k], on_disk[k]) for k in on_disk)
    assert any(not torch.equal(started[k], untouched[k]) for k in on_disk)
    assert weights.keys() == on_disk.keys()
    tuned.train()  # and it trains

    with pytest.raises(ConfigError, match="no talkgen transformer"):
        build_trainer(tiny_config.replace(init_from=str(final / "audio_encoder")))
    other = tiny_config.replace(transformer_overrides={**tiny_config.transformer_overrides, "num_layers": 1})
    with pytest.raises(ConfigError, match="another shape.*num_layers"):
        build_trainer(other.replace(init_from=str(final)))
    # a zero-initialised switch may be turned on from weights saved without it: they compute the same at first
    grown = tiny_config.replace(
        transformer_overrides={
            **tiny_config.transformer_overrides,
            "audio_window_positions": True,
            "audio_gate": True,
        },
        init_from=str(final),
        output_dir=tiny_config.output_dir + "-grown",
    )
    model = build_trainer(grown).accelerator.unwrap_model(build_trainer(grown).module).transformer
    assert all(torch.equal(model.state_dict()[k], on_disk[k]) for k in on_disk)
    assert model.audio_window_embedding is not None and not model.audio_window_embedding.any()
    assert all(not block.audio_attn.to_gate.weight.any() for block in model.blocks)
    # init_speech_gain starts the speech attention louder: its output projection scaled, every other weight as saved
    loud = tiny_config.replace(
        init_from=str(final), init_speech_gain=10.0, output_dir=tiny_config.output_dir + "-loud"
    )
    trainer = build_trainer(loud)
    louder = trainer.accelerator.unwrap_model(trainer.module).transformer.state_dict()
    speech_out = [k for k in on_disk if "audio_attn.to_out.0" in k]
    assert speech_out and any(on_disk[k].any() for k in speech_out)
    for k in on_disk:
        torch.testing.assert_close(louder[k], on_disk[k] * (10.0 if k in speech_out else 1.0))
    for bad in ({"init_speech_gain": 0.0}, {"init_speech_gain": 2.0, "init_from": None}):
        with pytest.raises(ConfigError, match="init_speech_gain"):
            loud.replace(**bad)


def test_bf16_autocast_falls_back_to_float32_on_a_cpu_without_bfloat16(tiny_config, monkeypatch, caplog):
    import dataclasses

    import talkgen.training.loop as loop

    config = dataclasses.replace(tiny_config, mixed_precision="bf16", cpu=True)
    monkeypatch.setattr(loop, "cpu_has_bf16", lambda: False)
    assert loop.mixed_precision(config) == "no" and "no bfloat16 instructions" in caplog.text
    monkeypatch.setattr(loop, "cpu_has_bf16", lambda: True)
    assert loop.mixed_precision(config) == "bf16"
    assert loop.mixed_precision(dataclasses.replace(config, mixed_precision="no")) == "no"
