"""The tests' dummy components (the tests' pythonpath holds this folder).

``DUMMY`` has the tiny preset's structure (patch codec, byte T5, built-in audio encoder, speech window attention)
at the size of diffusers' own pipeline-test components: widths of 16, one or two layers. Pipeline tests run the real
code paths on it in milliseconds per step; what needs the tiny preset's true shapes uses ``build_tiny_pipeline``.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import torch

from talkgen.models.presets import TINY

DUMMY = dataclasses.replace(
    TINY,
    name="dummy",
    description="test-sized components with the tiny preset's structure",
    transformer=MappingProxyType(
        {
            **TINY.transformer,
            "num_attention_heads": 2,
            "attention_head_dim": 8,
            "in_channels": 16,
            "out_channels": 16,
            "text_dim": 16,
            "freq_dim": 16,
            "ffn_dim": 32,
            "num_layers": 2,
            "audio_dim": 16,
        }
    ),
    vae=MappingProxyType({**TINY.vae, "z_dim": 16, "latents_mean": [0.0] * 16, "latents_std": [1.0] * 16}),
    text_encoder=MappingProxyType(
        {**TINY.text_encoder, "d_model": 16, "d_kv": 8, "d_ff": 32, "num_layers": 1, "num_heads": 2}
    ),
    audio_encoder=MappingProxyType(
        {"kind": "builtin", "n_mels": 80, "hidden_dim": 16, "num_layers": 1, "num_heads": 2, "out_dim": 16}
    ),  # fmt: skip
)


# WanTransformer3DModel kwargs of the smallest test transformer (2 layers, 2 heads of 12): 4x4 latents, fast on a CPU.
TINY_WAN = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 2,
    "attention_head_dim": 12,
    "in_channels": 4,
    "out_channels": 4,
    "text_dim": 8,
    "freq_dim": 16,
    "ffn_dim": 32,
    "num_layers": 2,
    "cross_attn_norm": True,
    "rope_max_seq_len": 64,
}


def randomize_new_layers(model: torch.nn.Module, seed: int = 0) -> None:
    """Give a talking transformer's zero-initialised layers (audio output projections, condition embedding)
    random values, so that audio and conditions change the output of an untrained dummy."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "audio_attn.to_out" in name or "condition_" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.2)


def random_transformer(seed: int, **config):
    """A talking transformer of ``config`` with every weight drawn from N(0, 0.2) (zero-initialised layers too), in
    eval mode: a stand-in for trained weights."""
    from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel

    torch.manual_seed(seed)
    model = TalkingCharacterTransformer3DModel(**config)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0, 0.2)
    return model.eval()


def dummy_pipeline(kind: str = "talking", seed: int = 0):
    """A talking (or ``"lipsync"``) pipeline of ``DUMMY`` components, new layers randomised, progress bars off."""
    from talkgen.pipelines.pipeline_lipsync import build_tiny_lipsync_pipeline
    from talkgen.pipelines.pipeline_talking import build_tiny_pipeline

    build = {"talking": build_tiny_pipeline, "lipsync": build_tiny_lipsync_pipeline}[kind]
    pipe = build(seed=seed, preset=DUMMY)
    randomize_new_layers(pipe.transformer, seed)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def add_to_dummy_folder(folder, add, *added: str):
    """Save a dummy talking pipeline as ``folder``, run ``add(folder)`` (a fit that adds a component), check that the
    folder's ``model_index.json`` changed in the ``added`` entries only and no partial write is left, and return
    ``(add's result, the new index)``."""
    import json
    from pathlib import Path

    folder = Path(folder)
    dummy_pipeline("talking").save_pretrained(folder)
    before = json.loads((folder / "model_index.json").read_text())
    result = add(folder)
    index = json.loads((folder / "model_index.json").read_text())
    assert {k: v for k, v in index.items() if k not in added} == {k: v for k, v in before.items() if k not in added}
    assert not list(folder.glob(f".{added[0]}*"))
    return result, index
