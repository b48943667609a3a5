"""The attribute reader: its vocabulary and heads, the agreement score, fitting it on world stills and storing it
in a pipeline folder."""

from __future__ import annotations

import pytest
import torch

from talkgen.models.attribute_reader import PARTS, AttributeReaderNet
from talkgen.synth.characters import COLORS, SKIN_TONES


def _net(**kwargs) -> AttributeReaderNet:
    torch.manual_seed(0)
    return AttributeReaderNet(skin_tones=list(SKIN_TONES), colours=list(COLORS), **kwargs).eval()


def test_each_part_reads_its_own_names_and_hair_and_hat_can_be_none():
    net = _net(size=16, width=8)
    vocabulary = net.vocabulary()
    assert list(vocabulary) == list(PARTS)
    assert vocabulary["skin"] == list(SKIN_TONES) and vocabulary["shirt"] == list(COLORS)
    assert vocabulary["hair"][-1] == vocabulary["hat"][-1] == "none"
    tables = net.log_probs(torch.zeros(3, 3, 40, 24))  # any frame size: resized to the reader's
    assert {p: tuple(t.shape) for p, t in tables.items()} == {p: (3, len(vocabulary[p])) for p in PARTS}
    for table in tables.values():
        torch.testing.assert_close(table.exp().sum(1), torch.ones(3))


def test_agreement_sums_the_named_parts_log_probabilities():
    net = _net(size=16, width=8)
    images = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    tables = net.log_probs(images)
    vocabulary = net.vocabulary()
    expected = tables["skin"][:, vocabulary["skin"].index("tan")] + tables["hat"][:, vocabulary["hat"].index("none")]
    torch.testing.assert_close(net.agreement(images, {"skin": "tan", "hat": "none"}), expected)
    assert torch.equal(net.agreement(images, {}), torch.zeros(4))
    with pytest.raises(ValueError, match="does not know shirt none, beard red"):
        net.agreement(images, {"shirt": "none", "beard": "red"})


def test_a_reader_needs_its_words_and_a_usable_size():
    with pytest.raises(ValueError, match="skin_tones and colours"):
        AttributeReaderNet()
    with pytest.raises(ValueError, match="multiple of 4"):
        _net(size=18)


def test_soften_stills_keeps_shapes_and_range_and_labels_follow_the_character():
    from talkgen.synth.characters import make_character
    from talkgen.training.attribute_reader import labels, reader_stills

    vocabulary = _net(size=16, width=8).vocabulary()
    character = make_character(3)
    row = labels(character, vocabulary)
    assert vocabulary["skin"][row[0]] == character.skin and vocabulary["shirt"][row[1]] == character.shirt_color
    images, rows = reader_stills(6, vocabulary, size=32, first_scene=50)
    assert images.shape == (6, 3, 32, 32) and images.dtype == torch.uint8 and rows.shape == (6, 4)
    assert images.float().std() > 10  # rendered characters, not blank frames


def test_a_reader_fitted_on_world_stills_reads_skin_well_above_chance():
    from talkgen.training.attribute_reader import fit_attribute_reader

    fit = fit_attribute_reader(stills=400, steps=300, size=16, width=16, blur=0.0)
    assert fit.stills == 40 and set(fit.accuracy) == set(PARTS)
    assert fit.accuracy["skin"] >= 0.3, fit.accuracy  # chance is 1/8; measured 0.47 (the shipped fit: 0.999)


def test_add_attribute_reader_writes_a_component_and_its_draws(tmp_path):
    from dummies import add_to_dummy_folder

    from talkgen.errors import WeightsError
    from talkgen.pipelines.loading import load_pipeline
    from talkgen.training.attribute_reader import add_attribute_reader

    folder = tmp_path / "model"
    fit, index = add_to_dummy_folder(
        folder,
        lambda f: add_attribute_reader(f, stills=20, steps=2, width=8, size=16, keyframe_draws=3),
        "attribute_reader",
        "keyframe_draws",
    )
    assert all(0.0 <= v <= 1.0 for v in fit.accuracy.values()) and fit.stills == 2
    assert index["attribute_reader"] == ["talkgen.models.attribute_reader", "AttributeReaderNet"]
    assert index["keyframe_draws"] == 3
    pipe, _ = load_pipeline("talking", folder)
    assert isinstance(pipe.attribute_reader, AttributeReaderNet) and pipe.resolved_keyframe_draws() == 3
    with pytest.raises(WeightsError, match="not a pipeline folder"):
        add_attribute_reader(tmp_path / "nowhere", stills=20, steps=1)
    with pytest.raises(ValueError, match="keyframe_draws must be >= 1"):
        add_attribute_reader(folder, stills=20, steps=1, keyframe_draws=0)
