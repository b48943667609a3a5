"""Where a DiT run's transformer starts and which of its weights train: trained weights copied in (``init_from``,
``init_blocks``, ``init_speech_gain``) and the parameters left to train (``trainable_parameters``)."""

from __future__ import annotations

import json
import logging
from fnmatch import fnmatchcase
from pathlib import Path

import torch
import torch.nn as nn

from talkgen.errors import ConfigError

logger = logging.getLogger(__name__)


def init_transformer(
    transformer: nn.Module, folder: Path, blocks: list[int | None] | None = None, speech_gain: float = 1.0
) -> None:
    """Copy a trained transformer's weights (``init_from``) into ``transformer``, whose config they must match, or,
    with ``blocks`` (``init_blocks``), whose config may differ in depth and speech attention: block ``i`` here
    starts as block ``blocks[i]`` there, or, where ``blocks[i]`` is None, as a new block that passes its input
    through unchanged (its output projections zero; so a deeper transformer starts as the trained one); each
    block's speech attention output projection is then multiplied by ``speech_gain`` (``init_speech_gain``)."""
    from talkgen.models.transformer_talking import ZERO_INIT_SWITCHES, TalkingCharacterTransformer3DModel

    candidate = transformer_folder(folder)
    if candidate is None:
        raise ConfigError(
            f"init_from: {folder} holds no talkgen transformer (in it or in its transformer/); name a pipeline"
            " folder such as models/talkgen-tiny or a run's final/"
        )
    trained = TalkingCharacterTransformer3DModel.from_pretrained(str(candidate), torch_dtype=torch.float32)
    ours, theirs = (json.loads(json.dumps(dict(m.config), default=list)) for m in (transformer, trained))
    grown = {k for k in ZERO_INIT_SWITCHES if ours.get(k) and not theirs.get(k)}  # new layers start at zero here
    chosen = {"num_layers", "audio_block_indices"} if blocks is not None else set()
    differ = sorted(k for k in ours if not k.startswith("_") and k not in grown | chosen and ours[k] != theirs.get(k))
    if differ:
        shown = ", ".join(f"{k}: {theirs.get(k)!r} there, {ours[k]!r} here" for k in differ[:4])
        raise ConfigError(f"init_from: {candidate} has another shape ({shown}); match the preset or its overrides")
    state = trained.state_dict()
    if blocks is not None:
        state = _pick_blocks(state, blocks, trained.config.num_layers, transformer, candidate)
    new_blocks = [i for i, b in enumerate(blocks or []) if b is None]
    missing, unexpected = transformer.load_state_dict(state, strict=not (grown or new_blocks))
    new = [pattern for switch in grown for pattern in ZERO_INIT_SWITCHES[switch]]
    new += [f"blocks.{i}.*" for i in new_blocks]
    if unexpected or [name for name in missing if not any(fnmatchcase(name, pattern) for pattern in new)]:
        raise ConfigError(f"init_from: {candidate} does not fit this transformer ({missing + unexpected})")
    _zero_outputs(transformer, new_blocks)
    _scale_speech(transformer, speech_gain)


@torch.no_grad()
def _zero_outputs(transformer: nn.Module, indices: list[int]) -> None:
    """Zero the output projections of blocks ``indices`` (self and text attention, feed-forward; speech attention
    starts at zero anyway), so that each adds nothing to the residual stream until it trains."""
    for i in indices:
        block = transformer.blocks[i]
        last_ffn = [m for m in block.ffn.modules() if isinstance(m, nn.Linear)][-1]
        for layer in (block.attn1.to_out[0], block.attn2.to_out[0], last_ffn):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)


@torch.no_grad()
def _scale_speech(transformer: nn.Module, gain: float) -> None:
    """Multiply each block's speech attention output projection by ``gain`` (``init_speech_gain``)."""
    if gain == 1.0:
        return
    for block in transformer.blocks:
        if block.audio_attn is not None:
            for tensor in block.audio_attn.to_out[0].parameters():
                tensor.mul_(gain)


def train_only(transformer: nn.Module, patterns: list[str]) -> None:
    """Freeze every transformer parameter whose name matches none of ``patterns`` (shell patterns)."""
    names = [name for name, _ in transformer.named_parameters()]
    unmatched = [p for p in patterns if not any(fnmatchcase(n, p) for n in names)]
    if unmatched:
        raise ConfigError(
            f"trainable_parameters: {', '.join(map(repr, unmatched))} match no transformer parameter"
            f" (names look like {names[0]!r}, 'blocks.0.audio_attn.to_q.weight'; '*audio*' is the speech path)"
        )
    for name, param in transformer.named_parameters():
        param.requires_grad_(any(fnmatchcase(name, p) for p in patterns))
    trained = sum(p.numel() for p in transformer.parameters() if p.requires_grad)
    logger.info("training %d of %d transformer parameters", trained, sum(p.numel() for p in transformer.parameters()))


def _pick_blocks(state: dict, blocks: list[int | None], depth: int, transformer: nn.Module, source: Path) -> dict:
    """``state`` with block ``blocks[i]`` renamed to block ``i`` (None: none, a new block) and the weights
    ``transformer`` lacks dropped."""
    named = [b for b in blocks if b is not None]
    if len(blocks) != len(transformer.blocks) or not named or not all(0 <= b < depth for b in named):
        raise ConfigError(
            f"init_blocks: {blocks} must name {len(transformer.blocks)} of the {depth} blocks in {source}, one a layer"
            " (null for a new block that starts as the identity)"
        )
    ours = transformer.state_dict()
    picked = {}
    for key, value in state.items():
        if key.startswith("blocks."):
            _, index, rest = key.split(".", 2)
            for i, b in enumerate(blocks):
                if b == int(index) and f"blocks.{i}.{rest}" in ours:
                    picked[f"blocks.{i}.{rest}"] = value
        elif key in ours:
            picked[key] = value
    return picked


def transformer_folder(folder: Path) -> Path | None:
    """The talkgen transformer in ``folder``: its ``transformer/`` (a pipeline folder) or the folder itself (a
    transformer folder such as a run's ``final/transformer``); None when neither holds one."""
    from talkgen.models.transformer_talking import TalkingCharacterTransformer3DModel

    for candidate in (folder / "transformer", folder):
        config_file = candidate / "config.json"
        if config_file.is_file() and _class_name(config_file) == TalkingCharacterTransformer3DModel.__name__:
            return candidate
    return None


def _class_name(config_file: Path) -> str | None:
    try:
        return json.loads(config_file.read_text(encoding="utf-8")).get("_class_name")
    except (OSError, ValueError, AttributeError):
        return None
