"""Best of several keyframe draws: the prompt's colour words, the attribute reader's pick, and the setting that
reaches the pipeline from the CLI (the batch API's and the web app's are tested with them)."""

from __future__ import annotations

import json

import pytest
import torch
from dummies import DUMMY, dummy_pipeline

from talkgen.models.attribute_reader import AttributeReaderNet
from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel
from talkgen.pipelines import keyframe as keyframe_module
from talkgen.pipelines.keyframe import best_draws, describe, prompt_attributes, wanted_attributes
from talkgen.pipelines.loading import load_pipeline
from talkgen.synth.characters import COLORS, SKIN_TONES

PROMPT = "Close-up. Person1: a round-faced character with tan skin, short red hair and a blue shirt."


def _reader(seed: int = 0) -> AttributeReaderNet:
    torch.manual_seed(seed)
    return AttributeReaderNet(skin_tones=list(SKIN_TONES), colours=list(COLORS), size=16, width=8).eval()


VOCABULARY = _reader().vocabulary()


def _keyframe_pipe(reader: bool):
    pipe = dummy_pipeline("talking")
    torch.manual_seed(1)
    keyframe = TalkingCharacterTransformer3DModel(**{**DUMMY.transformer, "num_layers": 1, "audio_block_indices": []})
    pipe.register_modules(keyframe_transformer=keyframe.eval())
    if reader:
        pipe.register_modules(attribute_reader=_reader())
    return pipe


@pytest.fixture(scope="module")
def reader_pipe():
    return _keyframe_pipe(reader=True)


@pytest.fixture(scope="module")
def no_reader_pipe():
    return _keyframe_pipe(reader=False)


def test_every_world_caption_reads_back_as_its_characters():
    from talkgen.synth.world import caption, make_scene

    for seed in range(300):
        scene = make_scene(seed, lines=[])
        people = prompt_attributes(caption(scene, ["two-shot"]), VOCABULARY)
        assert len(people) == len(scene.characters)
        for character, words in zip(scene.characters, people, strict=True):
            truth = {
                "skin": character.skin,
                "shirt": character.shirt_color,
                "hair": "none" if character.hair_style == "bald" else character.hair_color,
            }
            if character.hat != "none":
                truth["hat"] = character.hat_color
            assert words == truth, character.description


@pytest.mark.parametrize(
    "text, words",
    [
        ("a woman in her thirties with curly red hair and a green jacket", {"hair": "red", "shirt": "green"}),
        ("a tall man with a short black beard and a grey hoodie", {"shirt": "grey"}),  # a beard is not hair
        ("an old woman with short gray hair, a navy wool sweater", {"hair": "grey", "shirt": "blue"}),
        ("a bald man in a purple top hat and dark skin", {"hair": "none", "hat": "purple", "skin": "dark"}),
        ("a knight with crimson-dyed armour and teal eyes", {}),  # no part the reader reads
    ],
)
def test_user_descriptions_give_the_colours_they_name(text, words):
    assert describe(text, VOCABULARY) == words


def test_only_a_one_character_prompt_picks_by_colours():
    assert wanted_attributes(PROMPT, VOCABULARY) == {"skin": "tan", "hair": "red", "shirt": "blue", "hat": "none"}
    assert wanted_attributes(PROMPT[:-1] + ", wearing a red cap.", VOCABULARY)["hat"] == "red"
    two = PROMPT + " Person2: a character with green skin and a red dress."
    assert prompt_attributes(two, VOCABULARY)[1] == {"skin": "green", "shirt": "red"}
    assert wanted_attributes(two, VOCABULARY) == {}  # whose colours a whole-frame read sees is unknown
    assert wanted_attributes("A lighthouse at dusk.", VOCABULARY) == {}


def test_best_draws_keeps_the_draw_the_reader_finds_most_like_the_words():
    reader = _reader()
    images = torch.rand(2 * 5, 3, 16, 16, generator=torch.Generator().manual_seed(5)) * 2 - 1
    words = {"skin": "tan", "shirt": "blue"}
    picks = best_draws(reader, images, [words, {}], 5)
    assert picks.tolist() == [int(reader.agreement(images[:5], words).argmax()), 0]  # no words: the first draw
    assert reader.agreement(images[:5], words).unique().numel() == 5  # the pick is not a tie broken by order
    with pytest.raises(ValueError, match="10 images for 3 prompts x 5 draws"):
        best_draws(reader, images, [words, {}, {}], 5)
    with pytest.raises(ValueError, match="does not know skin mauve"):
        reader.agreement(images, {"skin": "mauve"})


def _embeds(pipe, prompt: str):
    cpu = torch.device("cpu")
    return pipe.encode_text([prompt], cpu), pipe.encode_text([""], cpu)


def test_a_take_keeps_the_best_of_its_draws(reader_pipe, monkeypatch):
    text, empty = _embeds(reader_pipe, PROMPT)
    wanted = [wanted_attributes(PROMPT, VOCABULARY)]
    seen = []
    monkeypatch.setattr(keyframe_module, "best_draws", lambda *a: seen.append(a[1]) or best_draws(*a))
    generator = torch.Generator().manual_seed(5)
    kept = reader_pipe.draw_keyframe(text, empty, 16, 16, 2, 2.0, generator, 4, wanted)
    after = torch.randn(3, generator=generator)
    (images,) = seen
    scores = reader_pipe.attribute_reader.agreement(images, wanted[0])
    assert kept.shape == (1, DUMMY.transformer["in_channels"], 1, 2, 2) and images.shape[0] == 4
    assert int(scores.argmax()) != 0  # keeping the first draw would fail
    torch.testing.assert_close(reader_pipe.decode_video(kept)[0, :, 0].clamp(-1, 1), images[int(scores.argmax())])
    assert not all(torch.allclose(images[0], images[k]) for k in range(1, 4))  # the draws differ
    # draw 0 is the single draw, and the generator is left as a single draw leaves it (the take's noise is the same)
    generator = torch.Generator().manual_seed(5)
    once = reader_pipe.draw_keyframe(text, empty, 16, 16, 2, 2.0, generator)
    torch.testing.assert_close(reader_pipe.decode_video(once)[0, :, 0].clamp(-1, 1), images[0])
    torch.testing.assert_close(torch.randn(3, generator=generator), after)


@pytest.mark.parametrize("case", ["one draw", "no words", "two characters", "no reader"])
def test_takes_that_cannot_pick_draw_once(reader_pipe, no_reader_pipe, monkeypatch, case):
    prompt = {"no words": "Close-up. Person1: a character.", "two characters": PROMPT + " Person2: a tan skin."}
    prompt = prompt.get(case, PROMPT)
    pipe = no_reader_pipe if case == "no reader" else reader_pipe
    text, empty = _embeds(reader_pipe, prompt)
    draws = 1 if case == "one draw" else 4
    once = pipe.draw_keyframe(text, empty, 16, 16, 2, 2.0, torch.Generator().manual_seed(5))
    picked = []
    monkeypatch.setattr(keyframe_module, "best_draws", lambda *a: picked.append(1) or best_draws(*a))
    wanted = [wanted_attributes(prompt, VOCABULARY)]
    got = pipe.draw_keyframe(text, empty, 16, 16, 2, 2.0, torch.Generator().manual_seed(5), draws, wanted)
    torch.testing.assert_close(got, once)
    assert not picked


def test_keyframe_draws_default_to_the_models_setting(reader_pipe, no_reader_pipe, monkeypatch):
    assert reader_pipe.resolved_keyframe_draws() == 1  # no setting: one draw
    config = reader_pipe._internal_dict
    monkeypatch.setattr(reader_pipe, "_internal_dict", type(config)({**config, "keyframe_draws": 3}))
    assert reader_pipe.resolved_keyframe_draws() == 3 and reader_pipe.resolved_keyframe_draws(2) == 2
    assert no_reader_pipe.resolved_keyframe_draws(5) == 1  # nothing to pick with
    with pytest.raises(ValueError, match="keyframe_draws must be a whole number >= 1"):
        reader_pipe.resolved_keyframe_draws(0)


def test_a_saved_pipeline_keeps_its_reader_and_draws_and_dubbing_skips_the_reader(reader_pipe, tmp_path):
    reader_pipe.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    (tmp_path / "model_index.json").write_text(json.dumps({**index, "keyframe_draws": 3}))
    talking, _ = load_pipeline("talking", tmp_path)
    assert isinstance(talking.attribute_reader, AttributeReaderNet)
    assert talking.attribute_reader.vocabulary() == VOCABULARY
    assert talking.resolved_keyframe_draws() == 3
    lipsync, _ = load_pipeline("lipsync", tmp_path)
    assert lipsync.attribute_reader is None


def _generate(pipe, run, monkeypatch, flag: list[str]) -> tuple[list[int], dict]:
    """``talkgen generate`` of the sample monologue (its one character has short grey hair; ``run``: the
    ``talkgen_generate`` fixture) with ``flag``: the draws each take's keyframe made, and the manifest."""
    from talkgen.pipelines.pipeline_talking import TalkingCharacterPipeline

    seen = []
    draw = TalkingCharacterPipeline.draw_keyframe

    def spy(self, *args):
        seen.append(args[7] if len(args) > 7 else 1)
        return draw(self, *args)

    monkeypatch.setattr(TalkingCharacterPipeline, "draw_keyframe", spy)
    return seen, run(pipe, flag)


@pytest.mark.parametrize("flag, draws", [([], 1), (["--keyframe-draws", "3"], 3)])
def test_talkgen_generate_passes_the_keyframe_draws(reader_pipe, talkgen_generate, monkeypatch, flag, draws):
    seen, manifest = _generate(reader_pipe, talkgen_generate, monkeypatch, flag)
    assert seen and all(value == draws for value in seen)
    assert manifest["keyframe_draws"] == draws


@pytest.mark.parametrize("draws", [0, 17])
def test_keyframe_draws_out_of_range_are_refused(tmp_path, draws):
    import typer
    from typer.testing import CliRunner

    from talkgen.commands.generate import register
    from talkgen.errors import ConfigError
    from talkgen.pipelines.generate import GenerateOptions
    from talkgen.pipelines.render_plan import SceneRenderConfig

    for make in (SceneRenderConfig, lambda **k: GenerateOptions(random_weights=True, **k)):
        with pytest.raises(ConfigError, match=f"keyframe_draws must lie in \\[1, 16\\].*got {draws}"):
            make(keyframe_draws=draws)
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    out = tmp_path / "out.mp4"
    args = ["generate", "samples/scenes/monologue.yaml", "-o", str(out), "--random-weights"]
    result = CliRunner().invoke(app, [*args, "--keyframe-draws", str(draws)])
    assert result.exit_code != 0 and "--keyframe-draws" in result.output
    assert not out.exists()
