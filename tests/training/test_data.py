"""Training data: shards from `talkgen synth dataset` / `talkgen prepare`, edit pairs, the task mix, validation."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from talkgen.errors import ConfigError, MediaError
from talkgen.synth.dataset import SynthConfig, render_sample, write_dataset
from talkgen.training import TrainConfig, build_trainer
from talkgen.training.data import ShardDataset, is_edit_sample, shard_batches, synthetic_sample


@pytest.fixture(scope="module")
def synth_shards(tmp_path_factory):
    """Three 16 px, 9-frame synthetic clips with edit pairs, two per shard."""
    out = tmp_path_factory.mktemp("shards")
    write_dataset(out, 3, SynthConfig(size=16, num_frames=9, max_characters=2, edit_pairs=True), shard_size=2)
    return out


def _prepare_shards(root, frames: np.ndarray, box, fps: float = 25.0, caption: str = "a face"):
    """One clip in the `talkgen prepare` layout (mp4 + json sidecar + 1-stream audio npz)."""
    from talkgen.media import write_video

    folder = root / "shard-00000"
    folder.mkdir(parents=True)
    audio = (0.1 * np.sin(np.arange(int(len(frames) / fps * 16000)) / 5)).astype(np.float32)
    write_video(folder / "000000.mp4", frames, fps, audio, 16000, crf=0)
    (folder / "000000.json").write_text(json.dumps({"faces": {"primary_box_median": box}}))
    np.savez(folder / "000000.audio.npz", streams=audio[None])
    row = {"id": 0, "shard": 0, "num_frames": len(frames), "caption": caption, "source": "x.mp4"}
    (root / "index.jsonl").write_text(json.dumps(row) + "\n")


def test_written_edit_pairs_match_the_on_the_fly_world(synth_shards):
    rows = [json.loads(line) for line in (synth_shards / "index.jsonl").read_text().splitlines()]
    assert [r["shard"] for r in rows] == [0, 0, 1]
    stem = synth_shards / "shard-00001" / "000002"
    for suffix in (".mp4", ".truth.json", ".audio.npz", ".edit.mp4", ".edit.truth.json", ".edit.audio.npz"):
        assert stem.with_name(stem.name + suffix).is_file(), suffix
    written = np.load(stem.with_name("000002.edit.audio.npz"))["streams"]
    fresh = render_sample(2, SynthConfig(size=16, num_frames=9, max_characters=2, edit_pairs=True))
    np.testing.assert_array_equal(written, fresh["edit_audio_streams"][: written.shape[0]].numpy())


def test_shard_samples_have_the_run_shapes_and_are_deterministic(synth_shards, tiny_config):
    config = tiny_config.replace(data_dir=str(synth_shards), edit_share=0.5)
    data = ShardDataset(config)
    assert len(data) == 3 and data.has_edit_pairs
    a, b = data.sample(4), data.sample(4)
    assert a["video"].shape == (3, 9, 16, 16) and a["audio_streams"].shape == (2, 5760)
    assert a["video"].min() >= -1 and a["video"].max() <= 1
    torch.testing.assert_close(a["video"], b["video"])
    # every clip appears once per epoch
    assert sorted(data.row_for(i)["id"] for i in range(3)) == [0, 1, 2]
    assert sorted(data.row_for(i)["id"] for i in range(3, 6)) == [0, 1, 2]


def test_edit_samples_pair_the_original_with_the_respoken_clip(synth_shards, tiny_config):
    config = tiny_config.replace(data_dir=str(synth_shards), edit_share=1.0)
    batch = next(shard_batches(config, 0))
    assert batch["edit"].all()
    source, target = batch["source_video"][0], batch["video"][0]
    changed = (source - target).abs().amax(dim=(0, 1))  # (H, W) pixels that differ anywhere in time
    assert 0 < changed.gt(0.1).float().mean() < 0.5  # the mouths moved; the rest is the same picture
    plain = next(shard_batches(config.replace(edit_share=0.0), 0))
    assert not plain["edit"].any() and plain["source_video"].abs().sum() == 0


def test_edit_draws_are_a_pure_function_of_the_index(tiny_config):
    config = tiny_config.replace(edit_share=0.3)
    draws = [is_edit_sample(config, i) for i in range(400)]
    assert draws == [is_edit_sample(config, i) for i in range(400)]
    assert 0.2 < np.mean(draws) < 0.4
    assert not any(is_edit_sample(config.replace(edit_share=0.0), i) for i in range(50))
    sample = synthetic_sample(config.replace(edit_share=1.0), 0)
    assert sample["source_video"].shape == sample["video"].shape


def test_footage_shards_crop_around_the_face_and_refuse_edits(tmp_path, tiny_config):
    frames = np.zeros((12, 24, 48, 3), np.uint8)
    frames[:, 8:16, 34:42] = 255  # the "face" sits at x 34-42, off the centre of a 48 x 24 frame
    _prepare_shards(tmp_path, frames, [34, 8, 42, 16])
    config = tiny_config.replace(data_dir=str(tmp_path))
    sample = ShardDataset(config).sample(0)
    assert sample["video"].shape == (3, 9, 16, 16)
    assert sample["audio_streams"][0].abs().max() > 0.05 and sample["audio_streams"][1].abs().max() == 0
    bright = sample["video"][0, 0] > 0  # the white square lands in the middle of the 24 px crop around x = 38
    cols = torch.nonzero(bright.any(dim=0)).flatten()
    assert 3 <= int(cols.min()) and int(cols.max()) <= 12
    with pytest.raises(ConfigError, match="no edit pairs.*edit_share: 0"):
        ShardDataset(config.replace(edit_share=0.2))


def test_shard_errors_name_the_folder_and_the_fix(tmp_path, tiny_config):
    with pytest.raises(ConfigError, match="no index.jsonl.*talkgen synth dataset"):
        ShardDataset(tiny_config.replace(data_dir=str(tmp_path)))
    (tmp_path / "index.jsonl").write_text('{"id": 0, "shard": 0, "num_frames": 5}\n')
    with pytest.raises(ConfigError, match="lower num_frames"):
        ShardDataset(tiny_config.replace(data_dir=str(tmp_path)))
    (tmp_path / "index.jsonl").write_text('{"id": 0, "shard": 0, "num_frames": 9}\nnot json\n')
    with pytest.raises(ConfigError, match="index.jsonl:2"):
        ShardDataset(tiny_config.replace(data_dir=str(tmp_path)))


def test_a_corrupt_clip_is_replaced_and_logged(synth_shards, tmp_path, tiny_config, caplog):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(synth_shards, copy)
    (copy / "shard-00000" / "000001.mp4").write_bytes(b"not a video")
    config = tiny_config.replace(data_dir=str(copy))
    data = ShardDataset(config)
    bad = next(i for i in range(3) if data.row_for(i)["id"] == 1)
    with caplog.at_level(logging.WARNING):
        sample = data.sample(bad)
    assert sample["video"].shape == (3, 9, 16, 16)
    assert "000001" in caplog.text and "using another clip" in caplog.text
    for stem in ("000000", "000001"):
        (copy / "shard-00000" / f"{stem}.mp4").write_bytes(b"not a video")
    (copy / "shard-00001" / "000002.mp4").write_bytes(b"not a video")
    with pytest.raises(MediaError, match="re-write the shard"):
        data.sample(0)


def test_dit_trains_on_shards_with_edits_and_motion_and_resumes_exactly(synth_shards, tiny_config):
    config = tiny_config.replace(
        data_dir=str(synth_shards), edit_share=0.5, motion_share=1.0, steps=3, text_only_share=0.2
    )
    records = build_trainer(config).train()
    losses = [r["loss"] for r in records]
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert sum(r["edit"] for r in records) > 0 and sum(r["motion"] for r in records) > 0
    first = build_trainer(config.replace(output_dir=config.output_dir + "-b")).train(until=2)
    resumed = build_trainer(config.replace(output_dir=config.output_dir + "-b", resume_from="latest")).train()
    assert [r["loss"] for r in first + resumed] == losses


def test_gradient_checkpointing_gives_the_same_step(tiny_config):
    plain = build_trainer(tiny_config.replace(steps=1)).train()
    ckpt = build_trainer(
        tiny_config.replace(steps=1, gradient_checkpointing=True, output_dir=tiny_config.output_dir + "-gc")
    )
    assert ckpt.accelerator.unwrap_model(ckpt.module).transformer.gradient_checkpointing
    records = ckpt.train()
    assert records[0]["loss"] == pytest.approx(plain[0]["loss"], rel=1e-6)
    assert records[0]["grad_norm"] == pytest.approx(plain[0]["grad_norm"], rel=1e-4)


@pytest.mark.parametrize("task", ["dit", "vae"])
def test_validation_writes_a_clip_numbers_and_tensorboard(tiny_config, task):
    from talkgen.media import probe

    config = tiny_config.replace(task=task, steps=2, validate_every=2, validation_samples=2, validation_steps=2)
    trainer = build_trainer(config)
    trainer.train()
    run = trainer.output_dir
    clip = run / "validation" / "step-000002.mp4"
    info = probe(clip)
    assert (info.video.width, info.video.height) == (32, 16)  # generated | real
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    key = "val_loss" if task == "dit" else "val_reconstruction"
    val = [r for r in rows if key in r]
    assert len(val) == 1 and val[0]["step"] == 2 and np.isfinite(val[0][key])
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    # fixed noise and held-out clips: the same weights give the same number
    assert trainer.validate(write_clip=False)[key] == pytest.approx(val[0][key], rel=1e-6)


def test_motion_frames_must_fit_the_clip():
    with pytest.raises(ConfigError, match="motion_latent_frames must lie in \\[1, 2\\]"):
        TrainConfig(num_frames=9, motion_share=0.1, motion_latent_frames=3)


def test_sharded_checkpoints_resume_exactly_and_full_state_exports_load(tiny_config, tmp_path):
    """The FSDP code path (accelerate save_state/load_state, export from a gathered state dict), run unsharded."""
    from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel

    config = tiny_config.replace(ema_decay=0.0, steps=3)
    reference = [r["loss"] for r in build_trainer(config).train()]
    sharded = config.replace(output_dir=str(tmp_path / "sharded"))
    first = build_trainer(sharded)
    first.fsdp = True
    losses = [r["loss"] for r in first.train(until=2)]
    assert (tmp_path / "sharded" / "checkpoint-2" / "sharded").is_dir()
    again = build_trainer(sharded)
    again.fsdp = True
    again.resume("latest")
    assert again.step == 2
    losses += [r["loss"] for r in again.train()]
    assert losses == reference
    module = again.accelerator.unwrap_model(again.module)
    again.task.export_state(module, module.state_dict(), tmp_path / "export")
    loaded = TalkingCharacterTransformer3DModel.from_pretrained(tmp_path / "export" / "transformer")
    for key, value in module.transformer.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
    assert (tmp_path / "export" / "audio_encoder" / "config.json").is_file()
    plain = build_trainer(config.replace(output_dir=str(tmp_path / "plain"), steps=1))
    plain.train()
    plain.fsdp = True
    with pytest.raises(ConfigError, match="not written by an FSDP run"):
        plain.resume("latest")
