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
