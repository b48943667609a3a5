"""Text-encoder pretraining: samples carry the world's exact attributes, a few steps train, and a DiT run loads it."""

from __future__ import annotations

import pytest
import torch

from talkgen.errors import ConfigError
from talkgen.synth.world import make_scene
from talkgen.training import TrainConfig, build_trainer
from talkgen.training.text import CHARACTER_ATTRIBUTES, IGNORE, SCENE_ATTRIBUTES, text_sample

SMALL_T5 = {"d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 1, "num_heads": 2}


def _config(tmp_path, **changes) -> TrainConfig:
    settings = dict(
        task="text",
        text_encoder_overrides=SMALL_T5,
        output_dir=str(tmp_path / "text"),
        text_len=512,
        steps=3,
        batch_size=4,
        warmup_steps=1,
        checkpoint_every=0,
        validate_every=0,
        cpu=True,
        tensorboard=False,
    )
    return TrainConfig(**{**settings, **changes})


def test_samples_label_what_the_text_says(tmp_path):
    config = _config(tmp_path)
    for index in range(6):
        sample = text_sample(config, index)
        text, labels = sample["text"], sample["character_labels"]
        rng_scene = [k for k in range(labels.shape[0]) if labels[k, 0] != IGNORE]
        assert rng_scene == list(range(len(rng_scene))) and 1 <= len(rng_scene) <= 3
        scene_labels = dict(zip(SCENE_ATTRIBUTES, sample["scene_labels"].tolist(), strict=True))
        colour = SCENE_ATTRIBUTES["background_color"][scene_labels["background_color"]]
        assert f"a {colour} " in text and f"Person{len(rng_scene)}" in text
        for k in rng_scene:
            named = {a: CHARACTER_ATTRIBUTES[a][int(v)] for a, v in zip(CHARACTER_ATTRIBUTES, labels[k], strict=True)}
            assert f"{named['skin']} skin" in text
            if named["hair_color"] != "none":
                assert f"{named['hair_color']} hair" in text


def test_labels_follow_the_scene_seed(tmp_path):
    config = _config(tmp_path, data_seed=5)
    sample = text_sample(config, 2)
    scene = make_scene(7, num_characters=int((sample["character_labels"][:, 0] != IGNORE).sum()))
    skin = CHARACTER_ATTRIBUTES["skin"][int(sample["character_labels"][0, 0])]
    assert skin == scene.characters[0].skin


def test_a_few_steps_train_and_a_dit_run_loads_the_encoder(tmp_path, tiny_config):
    trainer = build_trainer(_config(tmp_path))
    records = trainer.train()
    assert [r["step"] for r in records] == [1, 2, 3] and all(r["loss"] > 0 for r in records)
    numbers = trainer.validate(write_clip=False)
    assert 0.0 <= numbers["val_colour_acc"] <= 1.0 and "val_acc_skin" in numbers
    final = trainer.export()  # the EMA weights
    from transformers import T5EncoderModel

    tuned = T5EncoderModel.from_pretrained(str(final)).state_dict()

    dit = build_trainer(
        tiny_config.replace(text_encoder_overrides=SMALL_T5, text_len=16, text_encoder_path=str(final))
    )
    loaded = dit.task.text_encoder.state_dict()
    assert all(torch.equal(loaded[k], tuned[k]) for k in loaded)
    random = build_trainer(tiny_config.replace(output_dir=str(tmp_path / "random"))).task.text_encoder.state_dict()
    assert any(not torch.equal(random[k], tuned[k]) for k in tuned)
    assert not any(p.requires_grad for p in dit.task.text_encoder.parameters())
    dit.train(until=1)

    with pytest.raises(ConfigError, match="holds no text encoder"):
        build_trainer(tiny_config.replace(text_encoder_path=str(tmp_path)))
    wider = tiny_config.replace(
        text_encoder_overrides={**SMALL_T5, "d_model": 64},
        transformer_overrides={**tiny_config.transformer_overrides, "text_dim": 64},
    )
    with pytest.raises(ConfigError, match="is 32 wide, the preset's text encoder 64"):
        build_trainer(wider.replace(text_encoder_path=str(final)))


def test_byte_labels_mark_attribute_words_and_the_person_named_last():
    from talkgen.training.text import WORDS, byte_labels

    text = "Person2: yellow skin and a top hat. Person1: café"
    word, person = byte_labels(text, 64)
    data = text.encode()
    assert word.shape == person.shape == (64,) and (word[len(data) :] == IGNORE).all()
    start = data.index(b"yellow")
    assert set(word[start : start + 6]) == {1 + WORDS.index("yellow")} and word[start + 6] == 0
    hat = data.index(b"top hat")
    assert set(word[hat : hat + 7]) == {1 + WORDS.index("top hat")}  # the longer word wins over "hat"
    assert person[0] == 2 and person[data.index(b"Person1")] == 1 and person[len(data) - 1] == 1
    assert byte_labels(text, 8)[0].shape == (8,)
