"""``init_blocks``: a run's transformer started from a trained one's blocks, new blocks (null) as the identity."""

from __future__ import annotations

import pytest
import torch
from dummies import TINY_WAN, random_transformer

from talkgen.errors import ConfigError
from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel
from talkgen.training.dit_init import init_transformer

SHAPE = {**TINY_WAN, "audio_dim": 6, "audio_block_indices": []}


def _forward(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    latents = torch.randn(1, 4, 2, 8, 8, generator=g)
    text = torch.randn(1, 5, SHAPE["text_dim"], generator=g)
    return model(latents, torch.tensor([500.0]), text, return_dict=False)[0]


@pytest.fixture
def trained(tmp_path):
    model = random_transformer(0, **SHAPE)
    model.save_pretrained(tmp_path / "trained" / "transformer")
    return model, tmp_path / "trained"


def test_new_blocks_start_as_the_identity_and_train(trained):
    model, folder = trained
    torch.manual_seed(1)
    deeper = TalkingCharacterTransformer3DModel(**{**SHAPE, "num_layers": 4}).eval()
    init_transformer(deeper, folder, [0, None, 1, None])
    torch.testing.assert_close(_forward(deeper), _forward(model), rtol=1e-5, atol=1e-5)
    assert torch.equal(deeper.blocks[2].attn1.to_q.weight, model.blocks[1].attn1.to_q.weight)
    _forward(deeper).square().mean().backward()
    for block in (deeper.blocks[1], deeper.blocks[3]):  # the new blocks' zero projections get gradients
        assert block.attn1.to_out[0].weight.grad.abs().sum() > 0
        assert block.ffn.net[-1].weight.grad.abs().sum() > 0


def test_new_blocks_alone_or_a_wrong_count_are_refused(trained):
    _, folder = trained
    deeper = TalkingCharacterTransformer3DModel(**{**SHAPE, "num_layers": 3})
    with pytest.raises(ConfigError, match="must name 3 of the 2 blocks.*null for a new block"):
        init_transformer(deeper, folder, [None, None, None])
    with pytest.raises(ConfigError, match="must name 3 of the 2 blocks"):
        init_transformer(deeper, folder, [0, None])
