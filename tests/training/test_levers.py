"""The CPU recipe's levers: mouth-weighted losses, VAE crops and latent statistics, audio pretraining, latent cache."""

from __future__ import annotations

import json
import math

import pytest
import torch

from talkgen.errors import ConfigError
from talkgen.models.latents import latent_mouth_mask, mouth_mask
from talkgen.training import build_trainer
from talkgen.training.weighting import weighted_mse


def test_mouth_mask_marks_widened_boxes_and_skips_offscreen_rows():
    boxes = torch.full((1, 2, 3, 4), float("nan"))
    boxes[0, 0, :] = torch.tensor([4.0, 6.0, 8.0, 8.0])  # 4 x 2 px mouth, all three frames
    mask = mouth_mask(boxes, 16, 16, margin=0.5)
    assert mask.shape == (1, 1, 3, 16, 16)
    # widened by half its size: x in [2, 10], y in [5, 9] (pixel centres inside)
    assert mask[0, 0, 0, 5:9, 2:10].all() and mask[0, 0, 0].sum() == 8 * 4
    assert mask[0, 0, 0, 0, 0] == 0 and mask[0, 0, 0, 12, 12] == 0


def test_mouth_mask_is_made_on_the_boxes_device():
    # training on a GPU passes its boxes on the GPU (meta stands in for it on any machine)
    mask = mouth_mask(torch.zeros(1, 1, 3, 4, device="meta"), 16, 16)
    assert mask.device.type == "meta" and mask.shape == (1, 1, 3, 16, 16)


def test_latent_mouth_mask_follows_the_causal_frame_grouping():
    mask = torch.zeros(1, 1, 9, 16, 16)
    mask[0, 0, 3, 0, 0] = 1  # frame 3 belongs to latent frame 1 (frames 1-4)
    latent = latent_mouth_mask(mask, temporal=4, spatial=8)
    assert latent.shape == (1, 1, 3, 2, 2)
    assert latent[0, 0, :, 0, 0].tolist() == [0.0, 1.0, 0.0]
    assert latent.sum() == 1


def test_weighted_mse_weighs_and_reduces_to_plain_mse():
    prediction, target = torch.zeros(1, 1, 1, 2, 2), torch.tensor([[[[[1.0, 0.0], [0.0, 0.0]]]]])
    assert weighted_mse(prediction, target, None) == pytest.approx(0.25)
    weight = torch.tensor([[[[[3.0, 1.0], [1.0, 1.0]]]]])
    assert weighted_mse(prediction, target, weight) == pytest.approx(3.0 / 6.0)
    assert weighted_mse(prediction, target, torch.ones_like(weight)) == pytest.approx(0.25)


def test_vae_trains_on_mouth_crops_and_fits_latent_statistics(tiny_config):
    from talkgen.training.vae import fit_latent_statistics

    config = tiny_config.replace(task="vae", size=32, crop_size=16, mouth_weight=4.0, mouth_margin=0.25)
    trainer = build_trainer(config)
    records = trainer.train()
    assert len(records) == 3 and all(math.isfinite(r["reconstruction"]) for r in records)
    video = torch.rand(2, 3, 9, 32, 32) * 2 - 1
    vae = trainer.task.module.vae
    mean, std = fit_latent_statistics(vae, video)
    from talkgen.models.latents import normalize_latents

    z = normalize_latents(vae, torch.cat([vae.encode(v[None]).latent_dist.mean for v in video]))
    assert len(mean) == len(std) == vae.config.z_dim
    torch.testing.assert_close(z.mean(dim=(0, 2, 3, 4)), torch.zeros(vae.config.z_dim), atol=1e-4, rtol=0)
    torch.testing.assert_close(z.std(dim=(0, 2, 3, 4)), torch.ones(vae.config.z_dim), atol=1e-3, rtol=0)
    final = trainer.export()
    from diffusers import AutoencoderKLWan

    saved = AutoencoderKLWan.from_pretrained(final)
    assert saved.config.latents_std != [1.0] * saved.config.z_dim


def test_crop_size_is_validated(tiny_config):
    with pytest.raises(ConfigError, match="crop_size"):
        tiny_config.replace(task="vae", crop_size=20)


def test_audio_pretraining_learns_mouth_parameters_and_exports_the_encoder(tiny_config):
    from talkgen.models.audio_encoder import BuiltinAudioEncoder
    from talkgen.training.audio import speech_sample

    config = tiny_config.replace(task="audio", num_frames=25, batch_size=2, validate_every=3, validation_samples=2)
    sample = speech_sample(config, 0)
    assert sample["audio_streams"].shape[0] == sample["mouth_params"].shape[0] == config.max_characters
    assert sample["mouth_params"].shape[1:] == (25, 5)
    torch.testing.assert_close(speech_sample(config, 0)["audio_streams"], sample["audio_streams"])
    trainer = build_trainer(config)
    assert len(trainer.train()) == 3
    log = [json.loads(line) for line in (trainer.output_dir / "log.jsonl").read_text().splitlines()]
    assert any(-1 <= r.get("val_jaw_corr", 2) <= 1 for r in log)
    final = trainer.export()
    encoder = BuiltinAudioEncoder.from_pretrained(final)
    assert encoder(sample["audio_streams"][None], 25.0, 25).shape == (1, config.max_characters, 25, 16)


def test_dit_trains_on_the_latent_cache_and_refuses_a_cache_of_other_encoders(tiny_config, tmp_path):
    from talkgen.training.dit import DiTTask
    from talkgen.training.latent_cache import LatentCache, collate_latents

    config = tiny_config.replace(
        latent_cache=str(tmp_path / "cache"),
        latent_cache_clips=3,
        latent_cache_max_frames=17,
        train_audio_encoder=False,
        edit_share=0.5,
        motion_share=0.5,
        mouth_weight=4.0,
        batch_size=2,
        source_mouth_dropout=1.0,
        edit_mouth_weight=10.0,
    )
    trainer = build_trainer(config)
    records = trainer.train()
    assert len(records) == 3 and all(math.isfinite(r["loss"]) for r in records)
    edited = [r for r in records if r["edit"]]
    assert edited and all(math.isfinite(r["edit_mouth_mse"]) for r in edited)  # the edits' mouth error, logged
    assert [r["source_mouth_hidden"] for r in records] == [r["edit"] for r in records]  # every edit's source mouths
    cache = LatentCache(config)
    assert len(cache) == 3
    sample = cache.sample(5)
    assert sample["latents"].shape == (4, 3, 2, 2)  # 3 latent frames of 16 px at 8x
    assert sample["audio_features"].shape == (config.max_characters, 9, 16)  # frames 4 s .. 4 (s + 2)
    assert sample["reference_latents"].shape == (4, 1, 2, 2)
    torch.testing.assert_close(cache.sample(5)["latents"], sample["latents"])
    edits = sum(clip["source"] is not None for clip in cache.clips)
    assert 0 < edits < 3
    repeated = LatentCache(config.replace(edit_repeat=3))  # dubbing trained more, the same cache
    assert len(repeated) == 3 + 2 * edits and sum(c["source"] is not None for c in repeated.clips) == 3 * edits
    # a keyframe run (num_frames 1) trains a transformer without speech attention on each clip's first frame alone
    keyframe = config.replace(
        num_frames=1, motion_share=0.0, text_only_share=1.0, reference_dropout=1.0, steps=2,
        output_dir=str(tmp_path / "keyframe"),
        transformer_overrides={**config.transformer_overrides, "num_layers": 1, "audio_block_indices": []},
    )  # fmt: skip
    still = LatentCache(keyframe).sample(5)
    assert still["latents"].shape == (4, 1, 2, 2) and still["source_latents"] is None
    torch.testing.assert_close(still["latents"], still["reference_latents"])
    assert still["audio_features"].shape == (config.max_characters, 1, 16)
    task = DiTTask(keyframe)
    assert task.module.transformer.config.audio_block_indices == []
    cache_batch = collate_latents([LatentCache(keyframe).sample(i) for i in range(2)])
    loss, extras = task.loss(task.module, cache_batch, torch.Generator().manual_seed(0))
    assert math.isfinite(float(loss.detach())) and extras["text_only"] == 2 and extras["motion"] == 0
    # the same run resumes on the same cache; another audio encoder (seed) is refused
    resumed = build_trainer(config.replace(resume_from="latest", steps=4))
    assert [r["step"] for r in resumed.train()] == [4]
    other = build_trainer(config.replace(seed=7, output_dir=str(tmp_path / "other")))
    with pytest.raises(ConfigError, match="other settings or encoders"):
        other.train()


def test_source_mouths_are_hidden_on_the_mouth_cells_of_edit_samples_only(tiny_config):
    task = build_trainer(tiny_config.replace(source_mouth_dropout=1.0)).task
    cells = torch.zeros(3, 1, 2, 4, 4)
    cells[:, :, :, 1:3, 2] = 1.0
    batch = {"mouth_mask": cells}
    source = torch.randn(3, 4, 2, 4, 4) + 5.0
    edit = torch.tensor([True, False, True])
    hidden, count = task.hide_source_mouths(batch, source, edit, torch.Generator().manual_seed(0))
    assert count == 2
    on = cells.expand_as(source).bool()
    assert (hidden[0][on[0]] == 0).all() and (hidden[2][on[2]] == 0).all()
    torch.testing.assert_close(hidden[~on], source[~on])  # off the mouths, and the non-edit sample, untouched
    torch.testing.assert_close(hidden[1], source[1])
    off = build_trainer(tiny_config).task  # share 0: nothing hidden and no random draw (old runs resume exactly)
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    same, count = off.hide_source_mouths(batch, source, edit, generator)
    assert count == 0 and same is source and torch.equal(generator.get_state(), state)


def test_edit_mouth_weight_weighs_only_the_mouth_cells_of_edit_samples(tiny_config):
    cells = torch.zeros(3, 1, 2, 4, 4)
    cells[:, :, :, 1:3, 2] = 1.0
    batch = {"mouth_mask": cells}
    latents = torch.zeros(3, 4, 2, 4, 4)
    edit = torch.tensor([True, False, True])
    task = build_trainer(tiny_config.replace(mouth_weight=4.0, edit_share=0.5, edit_mouth_weight=20.0)).task
    weight, edit_cells = task.loss_weight(batch, latents, edit)
    assert weight[0][cells[0].bool()].unique().tolist() == [25.0]  # 1 + 4 + 20 on an edit's mouth
    assert weight[1][cells[1].bool()].unique().tolist() == [5.0]  # a generated sample's mouth: 1 + 4
    assert weight[~cells.bool()].unique().tolist() == [1.0]
    torch.testing.assert_close(edit_cells, cells * edit.float().view(-1, 1, 1, 1, 1))
    plain, _ = build_trainer(tiny_config.replace(mouth_weight=4.0, edit_share=0.5)).task.loss_weight(
        batch, latents, edit
    )
    assert plain.max() == 5.0
    with pytest.raises(ConfigError, match="edit_share > 0"):
        tiny_config.replace(edit_mouth_weight=5.0)
    with pytest.raises(ConfigError, match="edit_mouth_weight"):
        tiny_config.replace(edit_share=0.5, edit_mouth_weight=-1.0)


def test_latent_cache_needs_a_frozen_audio_encoder(tiny_config, tmp_path):
    trainer = build_trainer(tiny_config.replace(latent_cache=str(tmp_path / "cache"), latent_cache_clips=1))
    with pytest.raises(ConfigError, match="train_audio_encoder: false"):
        trainer.train()


def test_dit_text_states_are_cached_and_equal_fresh_encodings(tiny_config):
    from talkgen.models.text_encoder import encode_prompts

    task = build_trainer(tiny_config).task
    captions = ["Close-up. Person1 speaks.", "", "Two-shot. Person1, then Person2 speak in turn."]
    first = task.encode_text(captions)
    fresh = encode_prompts(task.text_encoder, task.tokenizer, captions, tiny_config.text_len)[0]
    torch.testing.assert_close(first, fresh, rtol=0, atol=0)
    assert len(task._text_cache) == 3
    again = task.encode_text(captions[::-1])
    torch.testing.assert_close(again, fresh.flip(0), rtol=0, atol=0)
    assert len(task._text_cache) == 3


def test_codec_stage_fits_and_writes_a_loadable_codec(tiny_config, tmp_path):
    import json

    from talkgen.models.patch_codec import PatchPCAAutoencoder, load_autoencoder
    from talkgen.training.codec import fit_codec

    config = tiny_config.replace(
        task="codec", vae_overrides={}, size=32, codec_clips=3, validation_samples=1, latent_cache_max_frames=17
    )
    final = fit_codec(config)
    codec = load_autoencoder(final)
    assert isinstance(codec, PatchPCAAutoencoder) and codec.config.z_dim == 96
    report = json.loads((tmp_path / "run" / "codec.json").read_text())
    assert report["held_out_psnr_db"] > 20 and report["clips"] == 3  # 3 clips at 32 px; 34 dB for the real fit
    with pytest.raises(ConfigError, match="talkgen train vae"):
        fit_codec(tiny_config.replace(task="codec"))  # the test preset's autoencoder is a Wan VAE
    with pytest.raises(ConfigError, match="talkgen train codec"):
        build_trainer(tiny_config.replace(task="vae", vae_overrides={}))


def test_dit_text_cache_overflow_keeps_the_batch_encodable(tiny_config, monkeypatch):
    """A full cache is cleared before a batch mixing cached and new captions (a run once died here at an epoch end)."""
    from talkgen.models.text_encoder import encode_prompts
    from talkgen.training import dit

    monkeypatch.setattr(dit, "TEXT_CACHE_SIZE", 2)
    task = build_trainer(tiny_config).task
    task.encode_text(["a", "b"])
    out = task.encode_text(["b", "c"])  # "b" cached, "c" new: 3 > 2 clears the cache
    fresh = encode_prompts(task.text_encoder, task.tokenizer, ["b", "c"], tiny_config.text_len)[0]
    torch.testing.assert_close(out, fresh, rtol=0, atol=0)
    assert set(task._text_cache) == {"b", "c"}


def test_silent_edits_close_one_speakers_mouth_and_leave_the_other_clips_as_they_were(tiny_config, tmp_path):
    from talkgen.training.latent_cache import cache_meta, render_full_clip

    base = tiny_config.replace(latent_cache=str(tmp_path / "cache"), edit_share=1.0, size=32)
    silent = base.replace(silent_edit_share=1.0)
    for index in range(4):
        plain, quiet = render_full_clip(base, index), render_full_clip(silent, index)
        torch.testing.assert_close(quiet["source_video"], plain["source_video"])  # the footage is the same
        loud = plain["audio_streams"].abs().sum(-1) > 0
        hushed = loud & (quiet["audio_streams"].abs().sum(-1) == 0)
        assert hushed.sum() == 1, (index, loud, quiet["audio_streams"].abs().sum(-1))  # one speaker silenced
        # the other characters keep the new lines they had (the silence draw has its own random stream)
        torch.testing.assert_close(quiet["audio_streams"][~hushed], plain["audio_streams"][~hushed])
    # caches built before the setting keep their identity; one built with it is another cache
    assert "silent_edit_share" not in cache_meta(base, "e") and cache_meta(silent, "e")["silent_edit_share"] == 1.0
    with pytest.raises(ConfigError, match="silent_edit_share"):
        tiny_config.replace(silent_edit_share=0.5)  # no latent cache to shape


def test_head_motion_stills_the_cache_clips_and_is_part_of_the_cache_identity(tiny_config, tmp_path):
    from talkgen.training.latent_cache import cache_meta, render_full_clip

    base = tiny_config.replace(latent_cache=str(tmp_path / "cache"), size=32, latent_cache_max_frames=9)
    still = base.replace(head_motion=0.0)
    moving_clip, still_clip = render_full_clip(base, 1), render_full_clip(still, 1)
    assert moving_clip["caption"] == still_clip["caption"]
    torch.testing.assert_close(still_clip["audio_streams"], moving_clip["audio_streams"])

    def places(clip):  # distinct mouth boxes of each visible character over the clip's 9 frames (one shot)
        boxes = torch.as_tensor(clip["mouth_box"])
        return [len(torch.unique(b[~b.isnan().any(-1)], dim=0)) for b in boxes if not b.isnan().all()]

    assert places(still_clip) == [1] and places(moving_clip)[0] > 1  # a still head's mouth stays where it is
    assert "head_motion" not in cache_meta(base, "e") and cache_meta(still, "e")["head_motion"] == 0.0
    with pytest.raises(ConfigError, match="head_motion"):
        tiny_config.replace(head_motion=-0.1)
    with pytest.raises(ConfigError, match="head_motion"):
        tiny_config.replace(head_motion=0.5, data_dir=str(tmp_path))


def test_an_extra_cache_supplies_its_share_of_samples(tiny_config, tmp_path):
    from talkgen.training.latent_cache import MixedLatentCache

    common = dict(latent_cache_max_frames=17, train_audio_encoder=False, batch_size=2, steps=1)
    extra = tiny_config.replace(
        latent_cache=str(tmp_path / "silent"),
        latent_cache_clips=2,
        data_seed=900,
        edit_share=1.0,
        silent_edit_share=1.0,
        output_dir=str(tmp_path / "build"),
        **common,
    )
    build_trainer(extra).train()  # builds the extra cache
    config = tiny_config.replace(
        latent_cache=str(tmp_path / "cache"),
        latent_cache_clips=3,
        latent_cache_extra=str(tmp_path / "silent"),
        latent_cache_extra_share=0.3,
        **common,
    ).replace(steps=2)
    records = build_trainer(config).train()  # builds the main cache, trains on both
    assert len(records) == 2 and all(math.isfinite(r["loss"]) for r in records)
    mixed = MixedLatentCache(config)
    assert len(mixed.extra) == 2 and all(c["source"] is not None for c in mixed.extra.clips)
    seen = []
    for name in ("main", "extra"):
        part = getattr(mixed, name)
        part.sample = lambda i, part=part, name=name, draw=part.sample: seen.append(name) or draw(i)
    drawn = [mixed.sample(i) for i in range(200)]
    assert 0.2 < seen.count("extra") / 200 < 0.4, seen.count("extra")
    torch.testing.assert_close(mixed.sample(17)["latents"], drawn[17]["latents"])  # a pure function of the index
    with pytest.raises(ConfigError, match="built at size"):
        MixedLatentCache(config.replace(size=48))
    with pytest.raises(ConfigError, match="not a built latent cache"):
        MixedLatentCache(config.replace(latent_cache_extra=str(tmp_path / "nothing")))
    with pytest.raises(ConfigError, match="go together"):
        config.replace(latent_cache_extra_share=0.0)


def test_a_stills_cache_holds_each_clips_first_frame_captioned_as_its_clip(tiny_config, tmp_path):
    from safetensors.torch import load_file

    from talkgen.training.latent_cache import LatentCache, cache_meta

    common = dict(latent_cache_clips=3, latent_cache_max_frames=17, train_audio_encoder=False, batch_size=2, steps=1)
    clips = tiny_config.replace(latent_cache=str(tmp_path / "clips"), output_dir=str(tmp_path / "a"), **common)
    build_trainer(clips).train()
    stills = clips.replace(
        latent_cache=str(tmp_path / "stills"),
        latent_cache_stills=True,
        num_frames=1,
        text_only_share=1.0,
        reference_dropout=1.0,
        output_dir=str(tmp_path / "b"),
    )  # the same networks as the clip run, so the same frozen encoders
    records = build_trainer(stills).train()  # builds the stills cache, trains a first-frame step on it
    assert len(records) == 1 and math.isfinite(records[0]["loss"])
    stored = load_file(str(tmp_path / "stills" / "chunk-00000.safetensors"))
    assert not any(k.endswith(".latents") for k in stored)  # a still is stored once, as its reference
    assert stored["000.mouth"].shape[1] == 1 and stored["000.audio"].shape[1] == 1
    whole, first = LatentCache(clips.replace(num_frames=1)), LatentCache(stills)
    for a, b in zip(whole.clips, first.clips, strict=True):
        torch.testing.assert_close(b["reference"], a["reference"])  # the same first frame ...
        assert b["captions"] == a["captions"]  # ... described as the whole clip is
        torch.testing.assert_close(b["audio"], a["audio"][:, :1])  # speech encoded over the clip, as there
    assert cache_meta(stills, "e")["stills"] is True and "stills" not in cache_meta(clips, "e")
    with pytest.raises(ConfigError, match="num_frames: 1"):
        stills.replace(num_frames=9)
    with pytest.raises(ConfigError, match="set latent_cache"):
        tiny_config.replace(num_frames=1, latent_cache_stills=True)


def test_trainable_parameters_train_the_speech_path_alone(tiny_config):
    config = tiny_config.replace(
        trainable_parameters=["*audio*"], train_audio_encoder=False, text_only_share=0.0, audio_dropout=0.0, steps=2
    )
    trainer = build_trainer(config)
    transformer = trainer.task.module.transformer
    before = {name: p.detach().clone() for name, p in transformer.named_parameters()}
    trained = {name for name, p in transformer.named_parameters() if p.requires_grad}
    assert trained and all("audio" in name for name in trained)
    assert "blocks.0.audio_attn.to_out.0.weight" in trained and "audio_proj.linear_1.weight" in trained
    assert sum(p.numel() for p in trainer.params) == sum(transformer.get_parameter(n).numel() for n in trained)
    trainer.train()
    changed = {name for name, p in transformer.named_parameters() if not torch.equal(p, before[name])}
    assert changed and changed <= trained  # the speech path moved; nothing else did
    with pytest.raises(ConfigError, match="match no transformer parameter"):
        build_trainer(tiny_config.replace(trainable_parameters=["*audio*", "speech_*"]))
    with pytest.raises(ConfigError, match="trainable_parameters"):
        tiny_config.replace(trainable_parameters=[])
    with pytest.raises(ConfigError, match="trainable_parameters"):
        tiny_config.replace(task="vae", trainable_parameters=["*audio*"])


def test_lr_scales_give_matched_parameters_their_own_rate(tiny_config):
    config = tiny_config.replace(
        transformer_overrides={**tiny_config.transformer_overrides, "text_pooling": True},
        lr_scales={"*text_pool*": 10.0, "transformer.patch_embedding.*": 0.5},
        learning_rate=1e-3,
        warmup_steps=0,
        steps=2,
    )
    trainer = build_trainer(config)
    names = {id(p): n for n, p in trainer.task.module.named_parameters()}
    groups = trainer.optimizer.param_groups
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-2, 5e-4])  # the plain rate first, as logged
    assert all("text_pool" in names[id(p)] for p in groups[1]["params"]) and len(groups[1]["params"]) == 7
    assert {names[id(p)] for p in groups[2]["params"]} == {
        "transformer.patch_embedding.weight",
        "transformer.patch_embedding.bias",
    }
    assert sum(len(g["params"]) for g in groups) == len(trainer.params)
    trainer.train()
    assert trainer.scheduler.get_last_lr()[1] == pytest.approx(10 * trainer.scheduler.get_last_lr()[0])
    with pytest.raises(ConfigError, match="'speech_\\*' match no trained parameter"):
        build_trainer(config.replace(lr_scales={"speech_*": 2.0}))
    for bad in ({}, {"*": 0}, {"*": True}, {"": 2.0}, ["*"]):
        with pytest.raises(ConfigError, match="lr_scales"):
            tiny_config.replace(lr_scales=bad)


def test_the_clean_latents_a_velocity_stands_for_are_recovered_exactly():
    from talkgen.training.dit import flow_matching_pair, implied_clean_latents

    gen = torch.Generator().manual_seed(0)
    shape = (4, 3, 2, 4, 4)
    x0, noise = torch.randn(shape, generator=gen, dtype=torch.float64), torch.randn(shape, generator=gen).double()
    sigmas = torch.tensor([0.01, 0.2, 0.6, 0.97], dtype=torch.float64)
    guess = x0 + 0.3 * torch.randn(shape, generator=gen, dtype=torch.float64)  # a model's clean-latent prediction
    noisy, target = flow_matching_pair(x0, noise, sigmas)
    s = sigmas.view(-1, 1, 1, 1, 1)
    for kind, floor in (("velocity", 0.0), ("sample", 0.05)):  # how each parameterisation returns a velocity
        velocity = (noisy - guess) / (s.clamp(min=floor) if kind == "sample" else s)
        torch.testing.assert_close(implied_clean_latents(noisy, velocity, sigmas, floor, kind), guess)
    plain = ((velocity - target) ** 2).flatten(1).mean(1)
    assert plain[0] > 100 * plain[3]  # the velocity loss: the nearly clean sample dominates


def test_loss_space_is_validated_and_reaches_the_loss(tiny_config):
    with pytest.raises(ConfigError, match="loss_space"):
        tiny_config.replace(loss_space="x0")
    batch = next(build_trainer(tiny_config).task.batches(0, 0, 1))
    losses = {}
    for space in ("velocity", "sample"):
        task = build_trainer(tiny_config.replace(loss_space=space)).task
        losses[space] = float(task.loss(task.module, batch, torch.Generator().manual_seed(0))[0].detach())
    assert losses["velocity"] != pytest.approx(losses["sample"], rel=1e-3)


def test_articulation_basis_spans_the_lips_movement_of_edit_pairs():
    from talkgen.training.latent_cache import articulation_basis

    gen = torch.Generator().manual_seed(0)
    lips = torch.linalg.qr(torch.randn(8, 2, generator=gen))[0]  # the two directions edits differ in
    clips = []
    for _ in range(4):
        latents = torch.randn(8, 3, 4, 4, generator=gen)
        mouth = torch.zeros(1, 3, 4, 4)
        mouth[:, :, 1:3, 1:3] = 1.0
        change = torch.einsum("ck,kfhw->cfhw", lips, torch.randn(2, 3, 4, 4, generator=gen)) * mouth
        noise_off_mouth = torch.randn(8, 3, 4, 4, generator=gen) * (1 - mouth)  # ignored: not on the mouth
        clips.append({"latents": latents, "source": latents - change - noise_off_mouth, "mouth": mouth})
    clips.append({"latents": torch.randn(8, 3, 4, 4), "source": None, "mouth": torch.ones(1, 3, 4, 4)})
    basis = articulation_basis(clips, 2)
    assert basis.shape == (8, 2)
    torch.testing.assert_close(basis.T @ basis, torch.eye(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(basis @ basis.T, lips @ lips.T, atol=1e-4, rtol=0)  # the same plane
    with pytest.raises(ConfigError, match="no edit clip"):
        articulation_basis(clips[-1:], 2)
    with pytest.raises(ConfigError, match="articulation_components"):
        articulation_basis(clips, 9)


def test_articulation_error_counts_the_lips_directions_on_the_mouth_cells_only():
    from talkgen.training.weighting import articulation_error

    basis = torch.eye(6)[:, :2]  # channels 0 and 1 are the lips' directions
    cells = torch.zeros(1, 1, 2, 3, 3)
    cells[..., 1, 1] = 1.0
    error = torch.zeros(1, 6, 2, 3, 3)
    error[:, 2:] = 5.0  # along other directions: not counted
    error[:, :, :, 0, 0] = 7.0  # off the mouth: not counted
    assert float(articulation_error(error, cells, basis)) == 0.0
    error[:, 0, :, 1, 1] = 2.0
    assert float(articulation_error(error, cells, basis)) == pytest.approx(4.0 / 2)  # mean over cells and directions
    assert float(articulation_error(error, None, basis)) == 0.0


def test_articulation_weight_needs_a_cache_with_edit_pairs(tiny_config, tmp_path):
    with pytest.raises(ConfigError, match="articulation_weight"):
        tiny_config.replace(articulation_weight=10.0)
    with pytest.raises(ConfigError, match="articulation_weight"):
        tiny_config.replace(articulation_weight=10.0, latent_cache=str(tmp_path), edit_share=0.0)
    tiny_config.replace(
        articulation_weight=10.0, latent_cache=str(tmp_path), edit_share=0.5, train_audio_encoder=False
    )


def test_crop_to_mouth_keeps_a_mouth_in_one_even_square_across_tensors():
    import numpy as np

    from talkgen.training.latent_cache import crop_to_mouth

    grid = torch.arange(16.0)[:, None] * 100 + torch.arange(16.0)[None, :]  # each cell's value names its place
    mouth = torch.zeros(1, 3, 16, 16)
    mouth[0, 1:, 11, 5] = 1  # one mouth cell at row 11, column 5
    sample = {
        "latents": grid.expand(4, 3, 16, 16).clone(),
        "reference_latents": grid.expand(4, 1, 16, 16).clone(),
        "source_latents": None,
        "mouth_mask": mouth,
        "audio_features": torch.zeros(1, 9, 8),
    }
    out = crop_to_mouth(sample, 6, np.random.default_rng(0))
    assert out["latents"].shape == (4, 3, 6, 6) and out["reference_latents"].shape == (4, 1, 6, 6)
    assert out["mouth_mask"].sum() == 2 and out["source_latents"] is None
    top, left = divmod(int(out["latents"][0, 0, 0, 0]), 100)
    assert top % 2 == 0 and left % 2 == 0 and top <= 11 < top + 6 and left <= 5 < left + 6
    torch.testing.assert_close(out["reference_latents"][:, 0], out["latents"][:, 0])  # the same square
    assert out["audio_features"] is sample["audio_features"] and sample["latents"].shape[-1] == 16
    mouth[0, 1:, 11, 5] = 0
    mouth[0, 2, 15, 15] = 1  # at the frame's corner: the square stays inside the frame
    corner = crop_to_mouth(sample, 6, np.random.default_rng(0))
    assert int(corner["latents"][0, 0, 0, 0]) == 1010 and corner["mouth_mask"][0, 2, 5, 5] == 1
    mouth.zero_()  # no mouth in the window: around its centre cell (8, 8), at even offsets
    assert int(crop_to_mouth(sample, 6, np.random.default_rng(0))["latents"][0, 0, 0, 0]) == 404


def test_a_run_trains_on_mouth_crops_of_its_latent_cache(tiny_config, tmp_path):
    from talkgen.training.latent_cache import LatentCache

    config = tiny_config.replace(
        size=32,
        latent_cache=str(tmp_path / "cache"),
        latent_cache_clips=2,
        latent_cache_max_frames=17,
        train_audio_encoder=False,
        mouth_weight=4.0,
        mouth_crop=2,
        steps=2,
    )
    records = build_trainer(config).train()
    assert len(records) == 2 and all(math.isfinite(r["loss"]) for r in records)
    cache = LatentCache(config)
    window = cache.sample(0)
    assert window["latents"].shape[-2:] == (2, 2) and window["mouth_mask"].shape[-2:] == (2, 2)
    assert window["mouth_mask"].sum() > 0  # the square holds a mouth
    assert LatentCache(config.replace(mouth_crop=0)).sample(0)["latents"].shape[-2:] == (4, 4)
    for wrong in (3, -2):
        with pytest.raises(ConfigError, match="mouth_crop"):
            config.replace(mouth_crop=wrong)
    with pytest.raises(ConfigError, match="mouth_crop"):
        tiny_config.replace(mouth_crop=4)  # no latent cache to crop
