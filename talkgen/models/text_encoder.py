"""Text encoder glue: a tiny T5 encoder with the file-free ByT5 tokenizer, or UMT5 from a local directory.

The tiny preset uses ``T5EncoderModel`` built from a config (weights trained by this project) and ``ByT5Tokenizer``,
which works on UTF-8 bytes and needs no vocabulary file. The foundation track loads Wan's UMT5-XXL encoder and its
tokenizer from a directory the user names, never from the hub. :func:`encode_prompts` turns prompts into padded
states the way Wan's pipeline does (states past each prompt's end are zero).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import ByT5Tokenizer, PreTrainedTokenizerBase, T5Config, T5EncoderModel

from talkgen.errors import WeightsError


def build_tiny_text_encoder(config: dict[str, Any] | None = None) -> tuple[T5EncoderModel, ByT5Tokenizer]:
    """A randomly initialised ``T5EncoderModel`` (in eval mode) and a ``ByT5Tokenizer`` (no files needed).

    Args:
        config: ``T5Config`` kwargs; default: the ``tiny`` preset's text encoder.
    """
    if config is None:
        from talkgen.models.presets import get_preset

        config = get_preset("tiny").config("text_encoder")
    tokenizer = ByT5Tokenizer()
    t5_config = T5Config(**config)
    if t5_config.vocab_size < len(tokenizer):
        raise ValueError(f"vocab_size {t5_config.vocab_size} is smaller than ByT5's {len(tokenizer)} tokens")
    return T5EncoderModel(t5_config).eval(), tokenizer


# Offsets (in bytes) each head of the first block favours at init: left context, right context, the byte and its
# neighbours, a wider word-sized window. Cycled over the heads.
LOCAL_HEAD_OFFSETS = (range(-3, 0), range(1, 4), range(-1, 2), range(-6, 7))


def init_local_attention(encoder: T5EncoderModel, strength: float = 8.0) -> None:
    """Start a T5 encoder's relative position bias local: every head favours a few neighbouring bytes.

    T5's default init gives near-zero position bias, so a byte's state starts as its own embedding plus a content
    mix of the whole prompt; a 2-layer byte-level encoder initialised so did not learn which word a byte belongs to
    within 40 steps of overfitting one batch (65%, the share of bytes outside attribute words), while with local
    heads it reached 97% in 20 (``talkgen.training.text``). The bias stays trainable.
    """
    attention = encoder.encoder.block[0].layer[0].SelfAttention
    table = attention.relative_attention_bias.weight  # (buckets, heads), shared by every block
    with torch.no_grad():
        table.zero_()
        for head in range(table.shape[1]):
            for offset in LOCAL_HEAD_OFFSETS[head % len(LOCAL_HEAD_OFFSETS)]:
                bucket = attention._relative_position_bucket(
                    torch.tensor(offset),
                    bidirectional=True,
                    num_buckets=attention.relative_attention_num_buckets,
                    max_distance=attention.relative_attention_max_distance,
                )
                table[int(bucket), head] = strength


def load_umt5(path: str | Path, torch_dtype: torch.dtype | None = None) -> tuple[torch.nn.Module, Any]:
    """Load ``UMT5EncoderModel`` and its tokenizer from a local directory (or a Wan pipeline folder).

    ``path`` holds ``config.json`` + ``*.safetensors`` and the tokenizer files, or is a diffusers Wan pipeline folder
    with ``text_encoder/`` and ``tokenizer/`` subfolders.
    """
    from transformers import AutoTokenizer, UMT5EncoderModel

    root = Path(path).expanduser()
    model_dir = root / "text_encoder" if (root / "text_encoder" / "config.json").is_file() else root
    tokenizer_dir = root / "tokenizer" if (root / "tokenizer").is_dir() else model_dir
    layout = (
        f"expected {root}/config.json, {root}/*.safetensors and tokenizer files (tokenizer.json or spiece.model),"
        " or a Wan pipeline folder with text_encoder/ and tokenizer/"
    )
    if not (model_dir / "config.json").is_file() or not any(model_dir.glob("*.safetensors")):
        raise WeightsError(f"no UMT5 encoder weights in {model_dir}: {layout}")
    try:
        model = UMT5EncoderModel.from_pretrained(
            model_dir, local_files_only=True, use_safetensors=True, torch_dtype=torch_dtype
        )
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise WeightsError(f"could not load UMT5 from {root}: {exc}; {layout}") from exc
    return model, tokenizer


@torch.no_grad()
def encode_prompts(
    text_encoder: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    max_length: int,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode prompts to (B, max_length, D) states with zeros past each prompt's tokens (Wan's convention).

    Args:
        text_encoder: a T5/UMT5 encoder. tokenizer: its tokenizer. prompts: B strings (longer ones are truncated).
        max_length: L, tokens per prompt. device: where to run (default: the encoder's device).

    Returns:
        ``(states (B, L, D), mask (B, L) bool)``.
    """
    if not prompts:
        raise ValueError("encode_prompts needs at least one prompt")
    device = device or next(text_encoder.parameters()).device
    batch = tokenizer(list(prompts), padding="max_length", max_length=max_length, truncation=True, return_tensors="pt")
    ids = batch.input_ids.to(device)
    mask = batch.attention_mask.to(device).bool()
    states = text_encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state
    return states * mask[..., None].to(states.dtype), mask
