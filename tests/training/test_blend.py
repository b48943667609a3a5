"""``talkgen blend``: a copy of a pipeline folder whose transformer averages it with another of the same shape."""

from __future__ import annotations

import json

import pytest
import torch
import typer
from dummies import TINY_WAN, random_transformer
from typer.testing import CliRunner

from talkgen.commands.train import register
from talkgen.errors import ConfigError
from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel
from talkgen.training.blend import blend_transformers

SHAPE = {**TINY_WAN, "audio_dim": 6}


def _random(seed: int, **switches) -> TalkingCharacterTransformer3DModel:
    return random_transformer(seed, **SHAPE, **switches)


@pytest.fixture
def folders(tmp_path):
    """A pipeline folder (float16 transformer, another component) and a later stage with the speech gate on."""
    base = tmp_path / "base"
    _random(0).to(torch.float16).save_pretrained(base / "transformer")
    (base / "model_index.json").write_text(json.dumps({"_class_name": "TalkingCharacterPipeline"}))
    (base / "vae").mkdir()
    (base / "vae" / "weights.bin").write_bytes(b"\x00\x01vae")
    other = tmp_path / "other"
    _random(1, audio_gate=True).save_pretrained(other / "transformer")
    return base, other


def _inputs() -> dict:
    gen = torch.Generator().manual_seed(2)
    return {
        "hidden_states": torch.randn(1, 4, 3, 4, 4, generator=gen),
        "timestep": torch.tensor([500.0]),
        "encoder_hidden_states": torch.randn(1, 5, 8, generator=gen),
        "audio_embeds": torch.randn(1, 2, 9, 6, generator=gen),
    }


def _load(folder) -> TalkingCharacterTransformer3DModel:
    return TalkingCharacterTransformer3DModel.from_pretrained(str(folder / "transformer"), torch_dtype=torch.float32)


def test_the_blend_is_the_weighted_mean_in_base_storage_with_base_components(folders, tmp_path):
    base, other = folders
    out = blend_transformers(base, other, 0.25, tmp_path / "blend")
    blended = _load(out)
    assert blended.config.audio_gate  # other's switches, base counting as zero in their layers
    from safetensors import safe_open

    with safe_open(str(out / "transformer" / "diffusion_pytorch_model.safetensors"), framework="pt") as fh:
        assert {fh.get_tensor(k).dtype for k in fh.keys()} == {torch.float16}  # base's storage
    ours, theirs, got = (m.state_dict() for m in (_load(base), _load(other), blended))
    gate = "blocks.0.audio_attn.to_gate.weight"
    assert gate not in ours and torch.equal(got[gate], (0.25 * theirs[gate]).half().float())
    name = "blocks.1.ffn.net.0.proj.weight"
    torch.testing.assert_close(got[name], (0.75 * ours[name] + 0.25 * theirs[name]).half().float())
    assert (out / "vae" / "weights.bin").read_bytes() == b"\x00\x01vae"
    assert (out / "model_index.json").read_text() == (base / "model_index.json").read_text()
    assert not list(tmp_path.glob(".blend*"))  # nothing staged is left


def test_weight_zero_computes_what_base_computes_and_one_what_other_does(folders, tmp_path):
    base, other = folders
    with torch.no_grad():
        at_zero = _load(blend_transformers(base, other, 0.0, tmp_path / "zero"))(**_inputs()).sample
        expected = _load(base)(**_inputs()).sample
        at_one = _load(blend_transformers(base, other, 1.0, tmp_path / "one"))(**_inputs()).sample
        theirs = _load(other).half().float()(**_inputs()).sample
    torch.testing.assert_close(at_zero, expected)
    torch.testing.assert_close(at_one, theirs)
    assert not torch.allclose(at_zero, at_one)


def test_blend_mistakes_name_the_fix_and_write_nothing(folders, tmp_path):
    base, other = folders
    with pytest.raises(ConfigError, match=r"in \[0, 1\]"):
        blend_transformers(base, other, 1.5, tmp_path / "a")
    with pytest.raises(ConfigError, match="not a pipeline folder"):
        blend_transformers(other, base, 0.5, tmp_path / "a")
    with pytest.raises(ConfigError, match="holds no transformer"):
        blend_transformers(base, tmp_path / "missing", 0.5, tmp_path / "a")
    deeper = tmp_path / "deeper"
    TalkingCharacterTransformer3DModel(**{**SHAPE, "num_layers": 3}).save_pretrained(deeper)
    with pytest.raises(ConfigError, match="not one transformer shape"):
        blend_transformers(base, deeper, 0.5, tmp_path / "a")
    (tmp_path / "taken").mkdir()
    with pytest.raises(ConfigError, match="exists"):
        blend_transformers(base, other, 0.5, tmp_path / "taken")
    assert not (tmp_path / "a").exists() and not list(tmp_path.glob(".a*"))


def test_blend_command(folders, tmp_path):
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    base, other = folders
    result = CliRunner().invoke(app, ["blend", str(base), str(other), "--weight", "0.5", "-o", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(tmp_path / "b") and (tmp_path / "b" / "transformer").is_dir()
